"""A sync's life in the store: start, results, milestones, progress, finish, interruption."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from fleet.adapters.store import (
    HistoryStore,
    InvalidRecordError,
    JSONText,
    ResourceResult,
    SyncNotRunningError,
    UnknownSyncError,
)

from .conftest import FakeClock


def deployment(action: str = "created", **fields: object) -> ResourceResult:
    base: dict[str, object] = {
        "phase": "Sync",
        "wave": 0,
        "group": "apps",
        "kind": "Deployment",
        "namespace": "web",
        "name": "frontend",
        "action": action,
    }
    return ResourceResult(**{**base, **fields})  # type: ignore[arg-type]


def test_a_sync_records_its_whole_life(store: HistoryStore, clock: FakeClock) -> None:
    started = clock.now
    sync_id = store.start_sync("web", "dev", "abc123", "webhook", trace_id="4bf92f35")
    store.record_results(
        sync_id,
        [
            deployment(health="Progressing", duration_ms=12),
            deployment("hook", phase="PreSync", wave=-1, group="batch", kind="Job", name="migrate"),
        ],
    )
    applied = clock.advance(seconds=2)
    store.mark_applied(sync_id)
    healthy = clock.advance(seconds=3)
    store.mark_healthy(sync_id)
    finished = clock.advance(seconds=1)
    record = store.finish_sync(sync_id, "Succeeded", "2 objects")

    assert record.result == "Succeeded"
    assert (record.started_at, record.applied_at, record.healthy_at, record.finished_at) == (
        started,
        applied,
        healthy,
        finished,
    )
    assert (record.trigger, record.trace_id, record.message) == ("webhook", "4bf92f35", "2 objects")
    detail = store.sync_detail(sync_id)
    assert [(r.kind, r.action, r.phase, r.wave) for r in detail.results] == [
        ("Deployment", "created", "Sync", 0),
        ("Job", "hook", "PreSync", -1),
    ]
    assert detail.results[0].duration_ms == 12
    assert detail.results[0].at == started


def test_results_keep_their_own_time_when_given(store: HistoryStore, clock: FakeClock) -> None:
    sync_id = store.start_sync("web", "dev", "abc", "poll")
    moment = clock.now - timedelta(minutes=5)
    store.record_results(sync_id, [deployment(at=moment)])
    assert store.sync_detail(sync_id).results[0].at == moment


def test_a_finished_sync_is_never_written_again(store: HistoryStore) -> None:
    sync_id = store.start_sync("web", "dev", "abc", "manual")
    store.finish_sync(sync_id, "Failed", "Deployment web/frontend: ProgressDeadlineExceeded")
    with pytest.raises(SyncNotRunningError, match="already finished as Failed"):
        store.finish_sync(sync_id, "Succeeded")
    with pytest.raises(SyncNotRunningError):
        store.record_results(sync_id, [deployment()])
    with pytest.raises(SyncNotRunningError):
        store.mark_applied(sync_id)
    with pytest.raises(SyncNotRunningError):
        store.save_progress(sync_id, {"step": 1})
    assert store.sync_detail(sync_id).results == []


def test_unknown_sync_ids_are_reported(store: HistoryStore) -> None:
    with pytest.raises(UnknownSyncError, match="no sync with id 42"):
        store.record_results(42, [deployment()])
    with pytest.raises(UnknownSyncError):
        store.get_sync(42)
    with pytest.raises(UnknownSyncError):
        store.finish_sync(42, "Failed")


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"trigger": "cron"}, "trigger 'cron' is not one of"),
        ({"app": ""}, "app must be a non-empty string"),
        ({"cluster": " prod"}, "cluster must be a non-empty string"),
    ],
)
def test_start_refuses_bad_values(store: HistoryStore, kwargs: dict[str, str], error: str) -> None:
    args = {"app": "web", "cluster": "dev", "revision": "abc", "trigger": "poll", **kwargs}
    with pytest.raises(InvalidRecordError, match=error):
        store.start_sync(args["app"], args["cluster"], args["revision"], args["trigger"])
    assert store.history() == []


def test_bad_results_write_nothing_of_the_batch(store: HistoryStore) -> None:
    sync_id = store.start_sync("web", "dev", "abc", "poll")
    with pytest.raises(InvalidRecordError, match="action 'replaced'"):
        store.record_results(sync_id, [deployment(), deployment("replaced")])
    with pytest.raises(InvalidRecordError, match="wave must be an integer"):
        store.record_results(sync_id, [deployment(wave="1")])
    assert store.sync_detail(sync_id).results == []


def test_finish_refuses_running_as_a_result(store: HistoryStore) -> None:
    sync_id = store.start_sync("web", "dev", "abc", "poll")
    with pytest.raises(InvalidRecordError, match="result 'Running'"):
        store.finish_sync(sync_id, "Running")


def test_naive_times_are_refused(store: HistoryStore) -> None:
    with pytest.raises(InvalidRecordError, match="naive datetime"):
        store.start_sync("web", "dev", "abc", "poll", started_at=datetime(2026, 1, 1))


def test_progress_round_trips_and_must_be_json(store: HistoryStore) -> None:
    sync_id = store.start_sync("web", "dev", "abc", "poll")
    progress = {"phase": "Sync", "wave": 2, "done": [["apps", "Deployment", "web", "x"]]}
    store.save_progress(sync_id, progress)
    assert store.get_sync(sync_id).progress == progress
    with pytest.raises(InvalidRecordError, match="not JSON-serialisable"):
        store.save_progress(sync_id, {"when": datetime.now()})
    assert store.get_sync(sync_id).progress == progress


def test_status_follows_real_syncs_only(store: HistoryStore) -> None:
    first = store.start_sync("web", "dev", "aaa", "poll")
    store.finish_sync(first, "Succeeded")
    store.finish_sync(store.start_sync("web", "dev", "bbb", "manual", dry_run=True), "Succeeded")
    failed = store.start_sync("web", "dev", "ccc", "poll")
    store.finish_sync(failed, "Failed", "hook failed")

    [row] = store.status_table()
    assert row.revision == "aaa", "only a succeeded real sync moves the revision"
    assert (row.last_sync_id, row.last_result) == (failed, "Failed")


def test_a_failed_sync_is_redacted_and_its_event_links_to_it(store: HistoryStore) -> None:
    sync_id = store.start_sync("web", "prod", "abc", "poll")
    store.finish_sync(sync_id, "Failed", "Job web/migrate failed: token=hunter22")
    assert store.events_after(0) == [], "the daemon records the event, once"
    store.add_event(
        "sync_failed",
        "Job web/migrate failed: token=hunter22",
        app="web",
        cluster="prod",
        sync_id=sync_id,
    )
    [event] = store.events_after(0)
    assert (event.kind, event.app, event.cluster, event.sync_id) == (
        "sync_failed",
        "web",
        "prod",
        sync_id,
    )
    assert "hunter22" not in event.message
    assert "hunter22" not in store.get_sync(sync_id).message


def test_interrupted_at_startup_marks_and_returns_running_syncs(
    store: HistoryStore, clock: FakeClock
) -> None:
    done = store.start_sync("web", "dev", "abc", "poll")
    store.finish_sync(done, "Succeeded")
    left = store.start_sync("web", "prod", "abc", "poll")
    store.save_progress(left, {"wave": 1})
    also_left = store.start_sync("api", "prod", "def", "manual", dry_run=True)
    restart = clock.advance(minutes=1)

    interrupted = store.interrupted_at_startup()

    assert [(s.id, s.result, s.progress) for s in interrupted] == [
        (left, "Interrupted", {"wave": 1}),
        (also_left, "Interrupted", None),
    ]
    assert all(s.finished_at == restart for s in interrupted)
    assert store.get_sync(left).result == "Interrupted"
    assert store.get_sync(done).result == "Succeeded"
    assert store.running_syncs() == []
    kinds = [(e.kind, e.sync_id) for e in store.events_after(0)]
    assert kinds == [("sync_interrupted", left), ("sync_interrupted", also_left)]
    assert store.interrupted_at_startup() == []


def test_a_rerun_points_at_the_sync_it_resumes(store: HistoryStore) -> None:
    left = store.start_sync("web", "prod", "abc", "poll")
    [interrupted] = store.interrupted_at_startup()
    rerun = store.start_sync("web", "prod", "abc", "startup", resumed_from=interrupted.id)
    assert store.get_sync(rerun).resumed_from == left


@pytest.mark.parametrize(
    "bad",
    [
        {"when": datetime(2026, 1, 1, tzinfo=UTC)},
        {"ratio": float("nan")},
        {"ratio": [1.0, float("inf")]},
        {"object": object()},
    ],
    ids=["datetime", "nan", "infinity", "object"],
)
def test_progress_json_cannot_hold_is_refused_and_the_old_progress_kept(
    store: HistoryStore, bad: dict[str, object]
) -> None:
    sync_id = store.start_sync("web", "dev", "abc", "poll")
    store.save_progress(sync_id, {"wave": 1, "note": None})
    with pytest.raises(InvalidRecordError, match="not JSON-serialisable"):
        store.save_progress(sync_id, bad)
    assert store.get_sync(sync_id).progress == {"wave": 1, "note": None}


def test_progress_keys_that_are_not_strings_are_written_as_json_writes_them(
    store: HistoryStore,
) -> None:
    sync_id = store.start_sync("web", "dev", "abc", "poll")
    store.save_progress(sync_id, {"waves": {2: "done", 1: "done"}, "name": "caf\u00e9"})
    assert store.get_sync(sync_id).progress == {
        "waves": {"1": "done", "2": "done"},
        "name": "caf\u00e9",
    }


def test_progress_already_encoded_is_stored_as_it_is_and_read_as_its_value(
    store: HistoryStore,
) -> None:
    sync_id = store.start_sync("web", "dev", "abc", "poll")
    store.save_progress(sync_id, JSONText('{"wave": 2, "done": ["a"], "failed_at": null}'))
    assert store.get_sync(sync_id).progress == {"wave": 2, "done": ["a"], "failed_at": None}
    store.save_progress(sync_id, '{"wave": 3}')  # a plain string is a JSON string
    assert store.get_sync(sync_id).progress == '{"wave": 3}'
