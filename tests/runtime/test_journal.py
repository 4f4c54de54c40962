"""What a running sync writes to history, and how few calls it takes.

Progress is saved when what a resume reads of it changed: a wait's deadline alone (which
``resumable`` drops) is no reason for a write. A batch's rows go to history with the
progress that follows them, in one call; rows left when the sync ends are flushed.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from fleet.adapters.store import AsyncHistoryStore
from fleet.engine import Progress, SyncOptions
from fleet.engine.decisions import Running
from fleet.engine.progress import ActionRecord
from fleet.model.refs import ObjectRef
from fleet.runtime.executor import ResourceRow
from fleet.runtime.journal import SyncJournal, resumable
from fleet.runtime.status import AppClusterStatus

pytestmark = pytest.mark.anyio

RUNNING = Running("Sync", 0, "")
REF = ObjectRef("", "ConfigMap", "web", "a")


class CountingStore(AsyncHistoryStore):
    """The real store, counting the calls (thread hops) the journal makes."""

    calls: list[str]

    async def record_step(self, sync_id: int, results: Any, progress: Any) -> int:
        self.calls.append("step" if progress is not None else "rows")
        return await super().record_step(sync_id, results, progress)

    async def record_results(self, sync_id: int, results: Any) -> int:
        self.calls.append("rows")
        return await super().record_results(sync_id, results)


def worker_with(store: AsyncHistoryStore) -> Any:
    cache = SimpleNamespace(get=lambda ref: None)
    return SimpleNamespace(
        status=AppClusterStatus(app="web", cluster="c1"),
        ctx=SimpleNamespace(store=store),
        runtime=SimpleNamespace(cache=cache),
        options=lambda: SyncOptions(),
    )


async def open_store(db_path: Path) -> CountingStore:
    plain = await AsyncHistoryStore.open(db_path)
    store = CountingStore(plain.store)
    store.calls = []
    return store


async def test_waits_alone_are_not_saved_and_rows_go_with_the_progress(tmp_path: Path) -> None:
    store = await open_store(tmp_path / "history.sqlite3")
    try:
        sync_id = await store.start_sync("web", "c1", "abc", "webhook")
        journal = SyncJournal(worker_with(store), sync_id)
        start = Progress.start(100.0)
        await journal.progress(start, RUNNING)
        assert store.calls == ["step"]

        await journal.resources([ResourceRow(REF, "configured", "Sync", 0)])
        assert store.calls == ["step"], "rows are held for the progress that follows"
        applied = replace(start, records={"apply x": ActionRecord(ok=True, at=101.0)})
        await journal.progress(applied, RUNNING)
        assert store.calls == ["step", "step"]
        detail = await store.sync_detail(sync_id)
        assert [r.name for r in detail.results] == ["a"]
        saved = (await store.get_sync(sync_id)).progress
        assert isinstance(saved, dict)
        assert "apply x" in saved["records"]

        # A wait noted (its deadline) changes nothing a resume reads: no write.
        waiting = replace(applied, waits={"wait-health Sync/0": 400.0})
        await journal.progress(waiting, Running("Sync", 0, "waiting for 1 objects"))
        assert store.calls == ["step", "step"]
        assert journal.worker.status.step == "waiting for 1 objects"

        # A step done is what a resume needs: saved, the wait with it.
        done = replace(waiting, done_steps={"Sync/0": 120.0})
        await journal.progress(done, RUNNING)
        assert store.calls == ["step", "step", "step"]
        resumed = resumable(json.dumps((await store.get_sync(sync_id)).progress))
        assert resumed is not None
        assert dict(resumed.done_steps) == {"Sync/0": 120.0}

        # Rows of a batch the sync ended after are flushed.
        await journal.resources(
            [ResourceRow(ObjectRef("", "ConfigMap", "web", "b"), "pruned", "Sync", 0)]
        )
        await journal.flush()
        await journal.flush()  # nothing left: no call
        assert store.calls[-1] == "rows"
        assert store.calls.count("rows") == 1
        detail = await store.sync_detail(sync_id)
        assert sorted(r.name for r in detail.results) == ["a", "b"]
    finally:
        await store.aclose()
