"""The event feed, the status table and pins."""

from __future__ import annotations

import pytest

from fleet.adapters.store import HistoryStore, InvalidRecordError, RetentionPolicy

from .conftest import FakeClock


def test_following_the_feed_sees_every_event_once(store: HistoryStore) -> None:
    assert store.last_event_id() == 0
    first = store.add_event("drift", "replicas 3 -> 5", app="web", cluster="prod")
    second = store.add_event("cluster_unreachable", "connection refused", cluster="edge")
    seen = store.events_after(0)
    assert [(e.id, e.kind) for e in seen] == [(first, "drift"), (second, "cluster_unreachable")]
    third = store.add_event("config_reloaded", "2 apps changed")
    assert [e.id for e in store.events_after(seen[-1].id)] == [third]
    assert store.events_after(third) == []


def test_event_filters(store: HistoryStore) -> None:
    store.add_event("drift", "a", app="web", cluster="prod")
    store.add_event("drift", "b", app="api", cluster="prod")
    store.add_event("prune_refused", "c", app="web", cluster="dev")
    assert [e.message for e in store.events_after(0, app="web")] == ["a", "c"]
    assert [e.message for e in store.events_after(0, cluster="prod")] == ["a", "b"]
    assert [e.message for e in store.events_after(0, kinds=["prune_refused"])] == ["c"]
    assert [e.message for e in store.events_after(0, kinds="drift")] == ["a", "b"]
    assert [e.message for e in store.recent_events(limit=2)] == ["b", "c"]


def test_event_ids_are_never_reused_after_retention(store: HistoryStore, clock: FakeClock) -> None:
    old = store.add_event("drift", "old")
    clock.advance(days=40)
    store.apply_retention(RetentionPolicy(event_max_age_days=30))
    assert store.events_after(0) == []
    assert store.last_event_id() == old
    assert store.add_event("drift", "new") > old


def test_event_text_and_details_are_redacted(store: HistoryStore) -> None:
    store.add_event(
        "config_rejected",
        "cannot clone https://oauth2:glpat-abcdefghijklmnopqrst@gitlab.example/x.git",
        details={
            "file": "/etc/fleet/fleet.yaml",
            "token": "s3cr3t-value",
            "nested": {"url": "https://bob:pw@git.example"},
            "list": ["Authorization: Bearer abcdefghijklmnop"],
        },
    )
    [event] = store.events_after(0)
    blob = event.message + repr(event.details)
    for secret in ("glpat-", "s3cr3t", "bob:pw", "abcdefghijklmnop"):
        assert secret not in blob
    assert event.details["file"] == "/etc/fleet/fleet.yaml"


@pytest.mark.parametrize("kind", ["Drift", "", "drift!", "x" * 65])
def test_event_kinds_are_snake_case(store: HistoryStore, kind: str) -> None:
    with pytest.raises(InvalidRecordError, match="snake_case"):
        store.add_event(kind, "m")


def test_status_updates_only_what_is_given(store: HistoryStore, clock: FakeClock) -> None:
    store.set_status("web", "prod", sync="OutOfSync", health="Healthy", message="replicas differ")
    later = clock.advance(seconds=10)
    store.set_status("web", "prod", health="Degraded")
    [row] = store.status_table()
    assert (row.sync, row.health, row.message, row.updated_at) == (
        "OutOfSync",
        "Degraded",
        "replicas differ",
        later,
    )
    assert row.last_sync_id is None
    assert row.revision is None


def test_status_table_is_sorted_and_filterable(store: HistoryStore) -> None:
    for app, cluster in [("web", "prod"), ("api", "prod"), ("web", "dev")]:
        store.set_status(app, cluster, sync="Synced", health="Healthy")
    assert [(r.app, r.cluster) for r in store.status_table()] == [
        ("api", "prod"),
        ("web", "dev"),
        ("web", "prod"),
    ]
    assert [r.cluster for r in store.status_table(app="web")] == ["dev", "prod"]
    assert store.delete_status("web", "dev") is True
    assert store.delete_status("web", "dev") is False
    assert [r.app for r in store.status_table(cluster="dev")] == []


def test_status_refuses_unknown_sync_states(store: HistoryStore) -> None:
    with pytest.raises(InvalidRecordError, match="sync status 'Drifted'"):
        store.set_status("web", "prod", sync="Drifted")


def test_a_clusters_own_pin_wins_over_the_app_wide_pin(store: HistoryStore) -> None:
    store.set_status("web", "dev", sync="Synced")
    store.set_status("web", "prod", sync="Synced")
    store.pin("web", "aaa")
    store.pin("web", "bbb", cluster="prod")
    assert store.pinned_revision("web", "dev") == "aaa"
    assert store.pinned_revision("web", "prod") == "bbb"
    assert {r.cluster: r.pinned_revision for r in store.status_table()} == {
        "dev": "aaa",
        "prod": "bbb",
    }
    store.pin("web", "ccc", cluster="prod")
    assert [(p.cluster, p.revision) for p in store.pins("web")] == [("*", "aaa"), ("prod", "ccc")]


def test_unpin_scopes(store: HistoryStore) -> None:
    store.pin("web", "aaa")
    store.pin("web", "bbb", cluster="prod")
    store.pin("api", "ccc")
    assert store.unpin("web", "*") == 1
    assert store.pinned_revision("web", "dev") is None
    assert store.pinned_revision("web", "prod") == "bbb"
    assert store.unpin("web") == 1
    assert [p.app for p in store.pins()] == ["api"]
