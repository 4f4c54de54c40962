"""The live cache: what it reports to workers, and what it keeps."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fleet.model.refs import ObjectRef
from fleet.runtime.livecache import LiveCache

pytestmark = pytest.mark.anyio


def obj(name: str, app: str | None = "web", rv: str = "1") -> dict[str, Any]:
    labels = {"fleet.dev/app": app} if app else {}
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "web", "labels": labels, "resourceVersion": rv},
    }


def ref(name: str) -> ObjectRef:
    return ObjectRef("", "ConfigMap", "web", name)


async def test_a_list_reports_what_changed_since_the_last_one() -> None:
    cache = LiveCache("dev")
    heard: list[tuple[str, str, str]] = []
    cache.subscribe(lambda app, r, kind: heard.append((app, r.name, kind)))
    cache.replace_kind("", "ConfigMap", [obj("a"), obj("b")])
    assert sorted(heard) == [("web", "a", "ADDED"), ("web", "b", "ADDED")]
    heard.clear()
    cache.replace_kind("", "ConfigMap", [obj("a", rv="2")])
    assert sorted(heard) == [("web", "a", "MODIFIED"), ("web", "b", "DELETED")]
    assert cache.synced("", "ConfigMap")
    assert set(cache.objects_of("web")) == {ref("a")}


async def test_a_list_keeps_the_cached_object_where_its_version_did_not_change() -> None:
    """A re-list (every resync period) replaces only what changed: the cached copies of
    the rest stay, so the heap is not churned by equal copies."""
    cache = LiveCache("dev")
    cache.replace_kind("", "ConfigMap", [obj("same", rv="5"), obj("moved", rv="5")])
    same, moved = cache.get(ref("same")), cache.get(ref("moved"))
    cache.replace_kind("", "ConfigMap", [obj("same", rv="5"), obj("moved", rv="6")])
    assert cache.get(ref("same")) is same
    assert cache.get(ref("moved")) is not moved
    assert cache.get(ref("moved")) == obj("moved", rv="6")
    assert cache.objects_of("web")[ref("same")] is same


async def test_events_name_the_owner_and_a_moved_label_tells_the_old_owner() -> None:
    cache = LiveCache("dev")
    heard: list[tuple[str, str]] = []
    cache.subscribe(lambda app, r, kind: heard.append((app, kind)))
    cache.apply_event("", "ConfigMap", "ADDED", obj("a"))
    cache.apply_event("", "ConfigMap", "MODIFIED", obj("a", app="api", rv="2"))
    assert heard == [("web", "ADDED"), ("web", "DELETED"), ("api", "MODIFIED")]
    assert cache.objects_of("web") == {}
    assert set(cache.objects_of("api")) == {ref("a")}


async def test_unlabelled_objects_wake_nobody() -> None:
    cache = LiveCache("dev")
    heard: list[str] = []
    unsubscribe = cache.subscribe(lambda app, r, kind: heard.append(app))
    cache.apply_event("", "ConfigMap", "ADDED", obj("x", app=None))
    assert heard == []
    unsubscribe()
    cache.apply_event("", "ConfigMap", "ADDED", obj("y"))
    assert heard == []
    assert cache.get(ref("y")) is not None


async def test_forgetting_a_kind_drops_its_objects_and_its_listing() -> None:
    cache = LiveCache("dev")
    cache.replace_kind("", "ConfigMap", [obj("a")])
    cache.forget_kind("", "ConfigMap")
    assert not cache.synced("", "ConfigMap")
    assert cache.get(ref("a")) is None


async def test_wait_listed_returns_once_every_kind_is_listed() -> None:
    cache = LiveCache("dev")
    done = anyio.Event()

    async def waiter() -> None:
        await cache.wait_listed({("", "ConfigMap"), ("apps", "Deployment")})
        done.set()

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(waiter)
        await anyio.sleep(0.01)
        cache.replace_kind("", "ConfigMap", [])
        await anyio.sleep(0.01)
        assert not done.is_set()
        cache.replace_kind("apps", "Deployment", [])
        with anyio.fail_after(1):
            await done.wait()


def with_managers(name: str, *managers: str) -> dict[str, Any]:
    body = obj(name)
    body["metadata"]["managedFields"] = [
        {"manager": m, "operation": "Apply", "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {}}}
        for m in managers
    ]
    return body


KEPT = [
    # (managers the config names, managers on the object, managers cached)
    (frozenset(), ("fleet", "kube-controller-manager"), None),
    (frozenset({"hpa"}), ("fleet", "kube-controller-manager"), None),
    (frozenset({"hpa"}), ("fleet", "hpa"), ["hpa"]),
    (frozenset({"hpa", "fleet"}), ("fleet", "hpa", "other"), ["fleet", "hpa"]),
    (frozenset({"hpa"}), (), None),
]


@pytest.mark.parametrize(("kept", "on_object", "cached"), KEPT)
async def test_only_managed_fields_of_named_managers_are_kept(
    kept: frozenset[str], on_object: tuple[str, ...], cached: list[str] | None
) -> None:
    cache = LiveCache("dev", kept_managers=kept)
    listed = with_managers("a", *on_object)
    watched = with_managers("b", *on_object)
    cache.replace_kind("", "ConfigMap", [listed])
    cache.apply_event("", "ConfigMap", "ADDED", watched)
    for name, original in (("a", listed), ("b", watched)):
        entry = cache.get(ref(name))
        assert entry is not None
        managers = [m["manager"] for m in entry["metadata"].get("managedFields", [])] or None
        assert managers == cached
        assert entry["metadata"]["name"] == name
        # The object handed in (an apply's answer, say) is left as it was.
        assert len(original["metadata"]["managedFields"]) == len(on_object)


_NAMES = st.sampled_from(["a", "b", "c"])
_APPS = st.sampled_from(["web", "db", ""])
_KINDS = st.sampled_from(["ConfigMap", "Secret"])
_VERSIONS = st.sampled_from(["1", "2"])
_OPERATIONS = st.lists(
    st.one_of(
        st.tuples(
            st.just("list"), _KINDS, st.lists(st.tuples(_NAMES, _APPS, _VERSIONS), max_size=3)
        ),
        st.tuples(
            st.just("event"),
            _KINDS,
            st.sampled_from(["ADDED", "MODIFIED", "DELETED"]),
            _NAMES,
            _APPS,
            _VERSIONS,
        ),
        st.tuples(st.just("forget"), _KINDS),
    ),
    max_size=25,
)


def kind_obj(kind: str, name: str, app: str, rv: str) -> dict[str, Any]:
    return {**obj(name, app or None, rv), "kind": kind}


@given(_OPERATIONS)
def test_the_objects_of_an_app_are_those_labelled_with_it_after_any_changes(
    operations: list[tuple[Any, ...]],
) -> None:
    async def play() -> None:
        cache = LiveCache("dev")
        for operation in operations:
            if operation[0] == "list":
                _, kind, items = operation
                unique = {name: (name, app, rv) for name, app, rv in items}.values()
                cache.replace_kind("", kind, [kind_obj(kind, *item) for item in unique])
            elif operation[0] == "event":
                _, kind, event_type, name, app, rv = operation
                cache.apply_event("", kind, event_type, kind_obj(kind, name, app, rv))
            else:
                cache.forget_kind("", operation[1])
            everything = {
                r: cache.get(r)
                for k in ("ConfigMap", "Secret")
                for n in ("a", "b", "c")
                if cache.get(r := ObjectRef("", k, "web", n)) is not None
            }
            for app in ("web", "db", ""):
                expected = {
                    r: o
                    for r, o in everything.items()
                    if ((o or {}).get("metadata") or {}).get("labels", {}).get("fleet.dev/app", "")
                    == app
                }
                assert cache.objects_of(app) == expected, (app, operation)

    anyio.run(play)


def cm(name: str, rv: str, greeting: str) -> dict[str, Any]:
    body = obj(name, rv=rv)
    body["data"] = {"GREETING": greeting}
    return body


def greeting(cache: LiveCache, name: str) -> str | None:
    live = cache.get(ref(name))
    return None if live is None else str(live["data"]["GREETING"])


async def test_a_write_answer_is_not_undone_by_older_events_the_watch_still_delivers() -> None:
    """The transient OutOfSync after a sync (issue 16): the apply's answer (rv 12) is in
    the cache, then the watch delivers an event it had queued before the apply (rv 11):
    the cache must keep the answer, or the object reads as before the sync."""
    cache = LiveCache("dev")
    cache.replace_kind("", "ConfigMap", [cm("a", "10", "old")], "10")
    cache.apply_event("", "ConfigMap", "MODIFIED", cm("a", "12", "new"))  # the answer
    heard: list[str] = []
    cache.subscribe(lambda app, r, kind: heard.append(kind))
    cache.apply_event("", "ConfigMap", "MODIFIED", cm("a", "11", "old"))  # queued before
    assert greeting(cache, "a") == "new"
    assert heard == []  # nothing changed: no worker woken to compare
    cache.apply_event("", "ConfigMap", "MODIFIED", cm("a", "12", "new"))  # the watch catches up
    cache.apply_event("", "ConfigMap", "MODIFIED", cm("a", "13", "newer"))
    assert greeting(cache, "a") == "newer"
    # The answer may also lose the race to the watch: it must not win after the fact.
    cache.apply_event("", "ConfigMap", "MODIFIED", cm("a", "12", "new"))
    assert greeting(cache, "a") == "newer"


async def test_an_older_deletion_or_a_late_answer_changes_nothing() -> None:
    cache = LiveCache("dev")
    cache.replace_kind("", "ConfigMap", [], "5")
    cache.apply_event("", "ConfigMap", "MODIFIED", cm("a", "20", "recreated"))  # create answer
    cache.apply_event("", "ConfigMap", "DELETED", cm("a", "15", "the one before"))
    assert greeting(cache, "a") == "recreated"
    cache.apply_event("", "ConfigMap", "DELETED", cm("a", "25", "recreated"))
    cache.apply_event("", "ConfigMap", "MODIFIED", cm("a", "21", "late answer"))
    assert cache.get(ref("a")) is None  # deleted stays deleted
    cache.apply_event("", "ConfigMap", "ADDED", cm("a", "30", "made again"))
    assert greeting(cache, "a") == "made again"


async def test_a_list_taken_before_a_write_neither_drops_nor_rewinds_it() -> None:
    """A re-list answered after a sync's writes: its snapshot (rv 40) predates them."""
    cache = LiveCache("dev")
    cache.replace_kind("", "ConfigMap", [cm("a", "30", "old")], "30")
    cache.apply_event("", "ConfigMap", "MODIFIED", cm("a", "45", "new"))  # answers
    cache.apply_event("", "ConfigMap", "MODIFIED", cm("b", "46", "created"))
    cache.apply_event("", "ConfigMap", "MODIFIED", cm("c", "31", "kept"))
    heard: list[tuple[str, str]] = []
    cache.subscribe(lambda app, r, kind: heard.append((r.name, kind)))
    cache.replace_kind("", "ConfigMap", [cm("a", "30", "old")], "40")
    assert (greeting(cache, "a"), greeting(cache, "b")) == ("new", "created")
    assert cache.get(ref("c")) is None  # at 31 it was in the list's snapshot: gone since
    assert heard == [("c", "DELETED")]
    cache.apply_event("", "ConfigMap", "MODIFIED", cm("c", "33", "an answer from before"))
    assert cache.get(ref("c")) is None


async def test_versions_that_are_not_integers_are_taken_in_the_order_they_arrive() -> None:
    cache = LiveCache("dev")
    cache.apply_event("", "ConfigMap", "ADDED", cm("a", "b2", "first"))
    cache.apply_event("", "ConfigMap", "MODIFIED", cm("a", "a1", "second"))
    assert greeting(cache, "a") == "second"
    cache.replace_kind("", "ConfigMap", [], "zz")
    assert cache.get(ref("a")) is None
