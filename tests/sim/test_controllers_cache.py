"""The controllers' cache (write-through, stale events skipped) and work queue."""

from __future__ import annotations

import anyio
import pytest

from fleet.sim.controllers.objects import Obj
from fleet.sim.controllers.store import PENDING_TTL, Store
from fleet.sim.controllers.workqueue import WorkQueue


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def pod(name: str, version: str, owner: str | None = "rs-1", uid: str = "u") -> Obj:
    meta: Obj = {"name": name, "namespace": "ns", "resourceVersion": version, "uid": uid}
    if owner:
        meta["ownerReferences"] = [
            {"uid": owner, "controller": True, "kind": "ReplicaSet", "name": "rs"}
        ]
    return {"metadata": meta}


def test_events_fill_the_cache_and_the_owner_index() -> None:
    store = Store(Clock())
    assert store.observe("ADDED", pod("a", "1")) == (None, pod("a", "1"))
    store.observe("ADDED", pod("b", "2", owner="rs-2"))
    assert [p["metadata"]["name"] for p in store.owned_by("rs-1")] == ["a"]
    old, new = store.observe("MODIFIED", pod("a", "3")) or (None, None)
    assert (old, new) == (pod("a", "1"), pod("a", "3"))
    assert store.observe("DELETED", pod("a", "3")) == (pod("a", "3"), None)
    assert store.owned_by("rs-1") == []
    assert store.observe("DELETED", pod("zz", "4")) is None


def test_stale_events_after_our_write_are_skipped_until_it_arrives() -> None:
    store = Store(Clock())
    store.observe("ADDED", pod("a", "1"))
    store.wrote(pod("a", "5"))
    assert store.get("ns", "a") == pod("a", "5")
    assert store.observe("MODIFIED", pod("a", "3")) is None  # older than our write
    assert store.get("ns", "a") == pod("a", "5")
    assert store.observe("MODIFIED", pod("a", "5")) is None  # ours: already held
    assert store.observe("MODIFIED", pod("a", "6")) == (pod("a", "5"), pod("a", "6"))


def test_pending_mark_expires() -> None:
    clock = Clock()
    store = Store(clock)
    store.wrote(pod("a", "5"))
    clock.now = PENDING_TTL + 1
    assert store.observe("MODIFIED", pod("a", "7")) is not None


def test_deleted_object_is_not_revived_by_a_late_event_but_a_new_one_is_seen() -> None:
    store = Store(Clock())
    store.observe("ADDED", pod("a", "1", uid="first"))
    store.deleted("ns", "a")
    assert store.observe("MODIFIED", pod("a", "2", uid="first")) is None
    assert store.get("ns", "a") is None
    assert store.observe("ADDED", pod("a", "9", uid="second")) is not None


def test_no_op_write_sets_no_mark() -> None:
    store = Store(Clock())
    store.observe("ADDED", pod("a", "1"))
    store.wrote(pod("a", "1"))
    assert store.observe("MODIFIED", pod("a", "2")) is not None


def test_relist_reports_additions_changes_and_removals() -> None:
    store = Store(Clock())
    store.observe("ADDED", pod("a", "1"))
    store.observe("ADDED", pod("b", "1"))
    store.wrote(pod("b", "4"))
    changes = store.replace_all([pod("b", "5"), pod("c", "5")])

    def name(obj: Obj | None) -> str:
        return obj["metadata"]["name"] if obj else "-"

    assert sorted((name(old), name(new)) for old, new in changes) == [
        ("-", "c"),
        ("a", "-"),
        ("b", "b"),
    ]
    assert store.observe("MODIFIED", pod("b", "6")) is not None  # relist cleared the mark


@pytest.mark.anyio
async def test_work_queue_deduplicates_and_serialises_a_key() -> None:
    queue: WorkQueue[str] = WorkQueue()
    queue.add("a")
    queue.add("a")
    queue.add("b")
    assert len(queue) == 2
    first = await queue.get()
    assert first == "a"
    queue.add("a")  # while "a" is being processed: held back
    assert await queue.get() == "b"
    assert len(queue) == 0
    queue.done("a")
    assert len(queue) == 1
    assert await queue.get() == "a"


@pytest.mark.anyio
async def test_work_queue_delays_and_keeps_the_soonest() -> None:
    queue: WorkQueue[str] = WorkQueue()
    async with anyio.create_task_group() as tg:
        tg.start_soon(queue.run_timers)
        start = anyio.current_time()
        queue.add_after("late", 5.0)
        queue.add_after("late", 0.1)  # sooner wins
        queue.add_after("later", 0.3)
        with anyio.fail_after(2):
            assert await queue.get() == "late"
            assert anyio.current_time() - start >= 0.09
            queue.done("late")
            assert await queue.get() == "later"
        tg.cancel_scope.cancel()
