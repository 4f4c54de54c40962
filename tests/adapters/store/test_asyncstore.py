"""The async facade: calls in worker threads, one at a time, never abandoned."""

from __future__ import annotations

import threading
from pathlib import Path

import anyio
import pytest

from fleet.adapters.store import (
    AsyncHistoryStore,
    HistoryStore,
    ResourceResult,
    RetentionPolicy,
    UnknownSyncError,
)

from .conftest import FakeClock

pytestmark = pytest.mark.anyio


def config_map(name: str) -> ResourceResult:
    return ResourceResult("Sync", 0, "", "ConfigMap", "web", name, "created", "Healthy")


async def test_many_tasks_write_through_one_connection(db_path: Path) -> None:
    async with await AsyncHistoryStore.open(db_path) as store:

        async def one_sync(cluster: str, ids: list[int]) -> None:
            sync_id = await store.start_sync("web", cluster, "abc", "webhook")
            await store.record_results(sync_id, [config_map(f"c{i}") for i in range(10)])
            await store.update_inventory(
                "web", cluster, revision="abc", applied=[("", "ConfigMap", "web", "c0")]
            )
            await store.finish_sync(sync_id, "Succeeded")
            ids.append(sync_id)

        ids: list[int] = []
        async with anyio.create_task_group() as group:
            for n in range(40):
                group.start_soon(one_sync, f"cluster-{n:02d}", ids)

        assert sorted(ids) == list(range(1, 41))
        assert len(await store.history(limit=100)) == 40
        detail = await store.sync_detail(ids[0])
        assert len(detail.results) == 10
        assert len(await store.inventory_targets()) == 40
        assert await store.integrity_problems() == []


async def test_the_event_loop_runs_while_a_call_waits_for_the_lock(db_path: Path) -> None:
    async with await AsyncHistoryStore.open(db_path) as store:
        blocker = HistoryStore.open(db_path)
        blocker.db.conn.execute("BEGIN IMMEDIATE")
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await anyio.sleep(0.01)

        async with anyio.create_task_group() as group:
            group.start_soon(tick)
            release = threading.Timer(0.3, lambda: blocker.db.conn.execute("ROLLBACK"))
            release.start()
            sync_id = await store.start_sync("web", "dev", "abc", "poll")
            group.cancel_scope.cancel()
        release.join()
        blocker.close()
        assert sync_id == 1
        assert ticks >= 10, "the loop was blocked while SQLite waited"


async def test_a_cancelled_write_still_completes(db_path: Path) -> None:
    async with await AsyncHistoryStore.open(db_path) as store:
        blocker = HistoryStore.open(db_path)
        blocker.db.conn.execute("BEGIN IMMEDIATE")
        release = threading.Timer(0.3, lambda: blocker.db.conn.execute("ROLLBACK"))
        release.start()
        started = anyio.current_time()
        with anyio.move_on_after(0.05) as scope:
            await store.add_event("drift", "written although its caller gave up")
        release.join()
        blocker.close()
        # The deadline passed while SQLite waited; the call still ran to its end.
        assert scope.cancel_called
        assert anyio.current_time() - started >= 0.25
        assert [e.message for e in await store.events_after(0)] == [
            "written although its caller gave up"
        ]


async def test_errors_cross_the_thread_boundary(db_path: Path) -> None:
    async with await AsyncHistoryStore.open(db_path) as store:
        with pytest.raises(UnknownSyncError):
            await store.finish_sync(99, "Failed")


async def test_the_whole_api_is_reachable(db_path: Path, clock: FakeClock) -> None:
    async with await AsyncHistoryStore.open(db_path, clock=clock) as store:
        left = await store.start_sync("web", "prod", "abc", "poll")
        await store.save_progress(left, {"wave": 3})
        await store.mark_applied(left)
        await store.mark_healthy(left)
        assert [s.id for s in await store.running_syncs()] == [left]
        [interrupted] = await store.interrupted_at_startup()
        assert interrupted.progress == {"wave": 3}
        assert (await store.get_sync(left)).result == "Interrupted"
        latest = await store.latest_sync("web", "prod")
        assert latest is not None
        assert latest.id == left

        await store.set_status("web", "prod", sync="OutOfSync", health="Healthy")
        await store.pin("web", "abc", cluster="prod")
        assert await store.pinned_revision("web", "prod") == "abc"
        [row] = await store.status_table()
        assert (row.sync, row.pinned_revision, row.last_sync_id) == ("OutOfSync", "abc", left)
        assert [p.revision for p in await store.pins()] == ["abc"]
        assert await store.unpin("web") == 1
        assert await store.delete_status("web", "prod") is True

        await store.replace_inventory("web", "prod", {("", "Service", "web", "api"): "abc"})
        assert len(await store.get_inventory("web", "prod")) == 1
        assert await store.delete_inventory("web", "prod") == 1

        last = await store.last_event_id()
        await store.add_event("config_reloaded", "ok")
        assert [e.kind for e in await store.events_after(last)] == ["config_reloaded"]
        assert len(await store.recent_events(limit=10)) == 2

        clock.advance(days=60)
        await store.start_sync("web", "prod", "def", "startup", resumed_from=left)
        report = await store.apply_retention(RetentionPolicy(), batch_size=1)
        assert (report.syncs, report.events) == (1, 2)
