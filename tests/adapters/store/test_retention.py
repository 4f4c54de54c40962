"""Retention deletes old history in batches, and never what must stay."""

from __future__ import annotations

import pytest

from fleet.adapters.store import (
    HistoryStore,
    InvalidRecordError,
    ResourceResult,
    RetentionPolicy,
    RetentionReport,
)

from .conftest import FakeClock

NO_LIMITS = {"max_age_days": None, "keep_per_target": None, "event_max_age_days": None}


def finished_sync(store: HistoryStore, app: str = "web", cluster: str = "dev") -> int:
    sync_id = store.start_sync(app, cluster, "abc", "poll")
    store.record_results(
        sync_id,
        [ResourceResult("Sync", 0, "", "ConfigMap", "web", f"c{i}", "created") for i in range(3)],
    )
    store.finish_sync(sync_id, "Succeeded")
    return sync_id


def result_count(store: HistoryStore) -> int:
    return store.db.table("resource_results").count


def test_old_syncs_go_with_their_results(store: HistoryStore, clock: FakeClock) -> None:
    old = [finished_sync(store) for _ in range(3)]
    clock.advance(days=10)
    recent = finished_sync(store)

    report = store.apply_retention(RetentionPolicy(**{**NO_LIMITS, "max_age_days": 7}))

    assert report == RetentionReport(syncs=3, events=0)
    assert [s.id for s in store.history()] == [recent]
    assert result_count(store) == 3
    assert all(s not in {r.id for r in store.history()} for s in old)


def test_the_newest_sync_of_each_target_and_running_syncs_stay(
    store: HistoryStore, clock: FakeClock
) -> None:
    finished_sync(store, cluster="dev")
    only_prod = finished_sync(store, cluster="prod")
    running = store.start_sync("web", "dev", "abc", "poll")
    clock.advance(days=100)

    store.apply_retention(RetentionPolicy(**{**NO_LIMITS, "max_age_days": 1}))

    assert sorted(s.id for s in store.history()) == [only_prod, running]
    [prod_status] = store.status_table(cluster="prod")
    assert prod_status.last_result == "Succeeded"


def test_keep_per_target_keeps_the_newest(store: HistoryStore) -> None:
    dev = [finished_sync(store, cluster="dev") for _ in range(5)]
    prod = [finished_sync(store, cluster="prod") for _ in range(2)]
    running = store.start_sync("web", "prod", "abc", "poll")
    store.finish_sync(store.start_sync("web", "prod", "abc", "poll"), "Failed")

    report = store.apply_retention(RetentionPolicy(**{**NO_LIMITS, "keep_per_target": 2}))

    kept = {s.id for s in store.history()}
    assert kept == {dev[3], dev[4], running, running + 1}
    assert report.syncs == 3 + len(prod)


def test_small_batches_reach_the_same_end(store: HistoryStore, clock: FakeClock) -> None:
    for _ in range(7):
        finished_sync(store)
        store.add_event("drift", "x")
    clock.advance(days=31)
    keep = finished_sync(store)

    first = store.retention_batch(RetentionPolicy(), batch_size=2)
    assert first == RetentionReport(syncs=2, events=2)
    total = first + store.apply_retention(RetentionPolicy(), batch_size=2)

    assert total == RetentionReport(syncs=7, events=7)
    assert [s.id for s in store.history()] == [keep]
    assert store.apply_retention(RetentionPolicy()).empty


@pytest.mark.parametrize(
    "kwargs",
    [{"max_age_days": 0}, {"keep_per_target": 0}, {"event_max_age_days": -1}],
)
def test_policy_values_are_checked(kwargs: dict[str, float]) -> None:
    with pytest.raises(InvalidRecordError, match="retention"):
        RetentionPolicy(**kwargs)  # type: ignore[arg-type]
