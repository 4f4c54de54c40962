"""The object store: resourceVersions, indexes and the watch window."""

from __future__ import annotations

from typing import Any

from fleet.sim.store import Event, Store

CM = ("", "configmaps")


def cm(name: str, namespace: str = "default", **labels: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
    }


def test_resource_versions_increase_on_every_change() -> None:
    store = Store()
    first = store.put(CM, cm("a"))
    second = store.put(CM, cm("b"))
    third = store.put(CM, cm("a"))
    gone = store.remove(CM, "default", "b")
    assert gone is not None
    assert first.rv < second.rv < third.rv < gone.rv == store.rv
    assert third.obj()["metadata"]["resourceVersion"] == str(third.rv)
    assert gone.obj()["metadata"]["resourceVersion"] == str(gone.rv)


def test_list_is_sorted_by_namespace_then_name_and_filters_namespace() -> None:
    store = Store()
    for namespace, name in [("b", "x"), ("a", "z"), ("a", "y")]:
        store.put(CM, cm(name, namespace))
    assert [(e.namespace, e.name) for e in store.entries(CM)] == [
        ("a", "y"),
        ("a", "z"),
        ("b", "x"),
    ]
    assert [e.name for e in store.entries(CM, "a")] == ["y", "z"]
    assert store.entries(("apps", "deployments")) == []
    assert store.count(CM) == 3


def test_listeners_see_added_modified_deleted_with_old_labels() -> None:
    store = Store()
    seen: list[Event] = []
    unsubscribe = store.subscribe(seen.append)
    store.put(CM, cm("a", app="one"))
    store.put(CM, cm("a", app="two"))
    store.remove(CM, "default", "a")
    unsubscribe()
    store.put(CM, cm("b"))
    assert [(e.type, e.old_labels) for e in seen] == [
        ("ADDED", None),
        ("MODIFIED", {"app": "one"}),
        ("DELETED", {"app": "two"}),
    ]


def test_events_after_replays_within_the_window_only() -> None:
    store = Store(window=3)
    start = store.rv
    for i in range(5):
        store.put(CM, cm(f"c{i}"))
    assert store.events_after(start) is None
    recent = store.events_after(store.rv - 2)
    assert recent is not None
    assert [e.entry.name for e in recent] == ["c3", "c4"]
    assert store.events_after(store.rv) == []


class _Unread:
    """Stands in for an event's object where reading it is a failure."""

    @property
    def rv(self) -> int:
        raise AssertionError("events_after read an event older than the one asked for")


def test_events_after_reads_only_the_newer_end_of_the_window() -> None:
    store = Store(window=1000)
    for i in range(1000):
        store.put(CM, cm(f"c{i % 50}"))
    since = store.rv - 3
    log = store._log
    for event in list(log)[:-4]:  # all but the boundary event and the three after it
        object.__setattr__(event, "entry", _Unread())
    newer = store.events_after(since)
    assert newer is not None
    assert [e.rv for e in newer] == [since + 1, since + 2, since + 3]
    assert store.events_after(store.rv) == []


def test_events_after_replays_deletions_in_order() -> None:
    store = Store(window=10)
    store.put(CM, cm("a"))
    since = store.rv
    store.put(CM, cm("b"))
    store.remove(CM, "default", "a")
    store.put(CM, cm("a"))
    replay = store.events_after(since)
    assert replay is not None
    assert [(e.type, e.entry.name) for e in replay] == [
        ("ADDED", "b"),
        ("DELETED", "a"),
        ("ADDED", "a"),
    ]
    assert [e.rv for e in replay] == sorted(e.rv for e in replay)


def test_uid_and_owner_indexes_follow_updates() -> None:
    store = Store()
    owner = cm("owner")
    owner["metadata"]["uid"] = "u-1"
    store.put(CM, owner)
    child = cm("child")
    child["metadata"]["uid"] = "u-2"
    child["metadata"]["ownerReferences"] = [
        {"uid": "u-1", "name": "owner", "kind": "ConfigMap", "apiVersion": "v1"}
    ]
    store.put(CM, child)
    assert [e.name for e in store.dependents("u-1")] == ["child"]
    assert store.by_uid("u-2") is not None
    del child["metadata"]["ownerReferences"]
    store.put(CM, child)
    assert store.dependents("u-1") == []
    store.remove(CM, "default", "owner")
    assert store.by_uid("u-1") is None


def test_objects_are_kept_as_bytes_and_decoded_copies_are_independent() -> None:
    store = Store()
    entry = store.put(CM, cm("a", app="x"))
    assert isinstance(entry.data, bytes)
    copy = entry.obj()
    copy["metadata"]["name"] = "changed"
    assert entry.obj()["metadata"]["name"] == "a"
    assert entry.labels == {"app": "x"}
