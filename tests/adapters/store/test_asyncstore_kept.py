"""The facade's kept reads (inventory, pins) and its one-call sync steps.

The daemon is its database's only writer, so the facade answers a worker's inventory
and pin from memory once read; every write of either through it must make the next
read see the write, even a write that overlaps a read in flight.
"""

from __future__ import annotations

from pathlib import Path

import anyio
import anyio.lowlevel
import pytest

from fleet.adapters.store import AsyncHistoryStore, ResourceResult, StoredRef

pytestmark = pytest.mark.anyio

CM = ("", "ConfigMap", "web", "a")


def row(name: str) -> ResourceResult:
    return ResourceResult("Sync", 0, "", "ConfigMap", "web", name, "configured", "Healthy")


async def test_inventory_is_read_once_and_every_write_is_seen(db_path: Path) -> None:
    async with await AsyncHistoryStore.open(db_path) as store:
        await store.replace_inventory("web", "c1", {CM: "r1"})
        first = await store.get_inventory("web", "c1")
        assert first == {StoredRef(*CM): "r1"}
        first.clear()  # a caller's copy: what is kept is not touched
        # Kept: a change behind the facade's back is not read again (it has no such writer).
        store.store.replace_inventory("web", "c1", {})
        assert await store.get_inventory("web", "c1") == {StoredRef(*CM): "r1"}
        # Every write through the facade is seen by the next read.
        await store.update_inventory("web", "c1", revision="r2", applied=[CM])
        assert await store.get_inventory("web", "c1") == {StoredRef(*CM): "r2"}
        await store.replace_inventory("web", "c1", {("", "Service", "web", "s"): "r3"})
        assert await store.get_inventory("web", "c1") == {
            StoredRef("", "Service", "web", "s"): "r3"
        }
        await store.delete_inventory("web", "c1")
        assert await store.get_inventory("web", "c1") == {}


async def test_a_read_overlapping_a_write_is_not_kept(db_path: Path) -> None:
    async with await AsyncHistoryStore.open(db_path) as store:
        await store.replace_inventory("web", "c1", {CM: "old"})
        seen: list[dict[StoredRef, str]] = []
        async with anyio.create_task_group() as group:
            # The read starts first and may read the table before the write lands.
            group.start_soon(lambda: _read_into(store, seen))
            await anyio.lowlevel.checkpoint()
            group.start_soon(store.replace_inventory, "web", "c1", {CM: "new"})
        assert await store.get_inventory("web", "c1") == {StoredRef(*CM): "new"}


async def _read_into(store: AsyncHistoryStore, seen: list[dict[StoredRef, str]]) -> None:
    seen.append(await store.get_inventory("web", "c1"))


async def test_pins_are_kept_and_forgotten_by_pin_and_unpin(db_path: Path) -> None:
    async with await AsyncHistoryStore.open(db_path) as store:
        assert await store.pinned_revision("web", "c1") is None
        await store.pin("web", "abc")  # every cluster
        assert await store.pinned_revision("web", "c1") == "abc"
        await store.pin("web", "def", "c1")
        assert await store.pinned_revision("web", "c1") == "def"
        assert await store.pinned_revision("web", "c2") == "abc"
        await store.unpin("web")
        assert await store.pinned_revision("web", "c1") is None
        assert await store.pinned_revision("web", "c2") is None


async def test_record_step_writes_rows_and_progress_together(db_path: Path) -> None:
    async with await AsyncHistoryStore.open(db_path) as store:
        sync_id = await store.start_sync("web", "c1", "abc", "webhook")
        assert await store.record_step(sync_id, [row("a"), row("b")], {"step": 1}) == 2
        assert await store.record_step(sync_id, [row("c")], None) == 1  # progress kept
        assert await store.record_step(sync_id, [], {"step": 2}) == 0
        detail = await store.get_sync(sync_id)
        assert detail.progress == {"step": 2}
        names = [r.name for r in (await store.sync_detail(sync_id)).results]
        assert sorted(names) == ["a", "b", "c"]
        await store.finish_sync(sync_id, "Succeeded")
        # A finished sync takes neither: the rows are refused with the progress.
        with pytest.raises(Exception, match=r"not running|finished|Running"):
            await store.record_step(sync_id, [row("d")], {"step": 3})
        assert [r.name for r in (await store.sync_detail(sync_id)).results].count("d") == 0
        assert (await store.get_sync(sync_id)).progress == {"step": 2}
