"""The history store for async code: every call runs in a worker thread, one at a time.

SQLite calls block, and the daemon's event loop must not: each method hands the
synchronous call to this store's ``CallQueue`` (fleet.adapters.store.callqueue), which
runs it in a worker thread, alone and in order, so the loop stays free and the single
connection is used by one thread at a time; calls made while one hop is out share the
next. A caller cancelled once its call started still waits for it to finish, so a write
is never left half-done by a cancel scope; the transaction inside each call makes it
all-or-nothing anyway.

Retention runs batch by batch, each a separate call, so a large cleanup interleaves with
the daemon's own writes instead of holding the store for its whole length.

Two reads every worker makes at each wake, its inventory and its pin, are answered from
memory once read: the daemon is the only writer of its database, and every write of
either goes through this facade, which forgets what it kept of them before and after.
A sync's resource rows and its progress are written together, in one call
(``record_step``). A thread hop costs more than such a read or write itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import Any, ParamSpec, TypeVar

import anyio
import anyio.to_thread

from fleet.adapters.store.audit import AuditEntry, AuditRecord
from fleet.adapters.store.callqueue import CallQueue
from fleet.adapters.store.connection import Synchronous
from fleet.adapters.store.core import Clock, utc_now
from fleet.adapters.store.generators import GeneratorRecord
from fleet.adapters.store.history import HistoryStore
from fleet.adapters.store.inventory import RefLike
from fleet.adapters.store.records import (
    ALL_CLUSTERS,
    EventRecord,
    JSONValue,
    Pin,
    ResourceResult,
    RetentionPolicy,
    RetentionReport,
    StatusRow,
    StoredRef,
    SyncDetail,
    SyncRecord,
)
from fleet.adapters.store.rollouts import Hold
from fleet.adapters.store.suspensions import ALL_APPS, SuspensionRecord

P = ParamSpec("P")
T = TypeVar("T")
K = TypeVar("K")


class AsyncHistoryStore:
    """Async facade over :class:`HistoryStore`; same methods, same arguments, awaited."""

    def __init__(self, store: HistoryStore) -> None:
        self.store = store
        self._calls = CallQueue()
        #: Reads kept until a write through this facade changes what they read.
        self._inventories: dict[tuple[str, str], dict[StoredRef, str]] = {}
        self._pins: dict[tuple[str, str], str | None] = {}
        #: Counts the starts and ends of those writes: a read that overlapped one is
        #: not kept (it may have read the table before the write).
        self._writes = 0

    @classmethod
    async def open(
        cls,
        path: str | Path,
        *,
        synchronous: Synchronous = "NORMAL",
        busy_timeout: float = 5.0,
        clock: Clock = utc_now,
        autocheckpoint: bool = True,
    ) -> AsyncHistoryStore:
        opener = partial(
            HistoryStore.open,
            path,
            synchronous=synchronous,
            busy_timeout=busy_timeout,
            clock=clock,
            autocheckpoint=autocheckpoint,
        )
        return cls(await anyio.to_thread.run_sync(opener))

    async def aclose(self) -> None:
        """Close after any call in flight has finished."""
        await self._run(self.store.close)

    async def __aenter__(self) -> AsyncHistoryStore:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        with anyio.CancelScope(shield=True):
            await self.aclose()

    @property
    def config_revision(self) -> str | None:
        """The fleet config revision recorded on each sync that starts from now on."""
        return self.store.config_revision

    @config_revision.setter
    def config_revision(self, revision: str | None) -> None:
        self.store.config_revision = revision

    async def _run(self, call: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        return await self._calls.run(partial(call, *args, **kwargs))

    async def _kept(self, kept: dict[K, T], key: K, call: Callable[[], T]) -> T:
        """``call()``'s answer, read once and kept unless a write overlapped the read."""
        if key in kept:
            return kept[key]
        writes = self._writes
        value = await self._run(call)
        if writes == self._writes:
            kept[key] = value
        return value

    async def _forgetting(self, kept: dict[K, Any], key: K | None, call: Callable[[], T]) -> T:
        """Run a write that changes ``kept[key]`` (None: any of ``kept``), forgetting it
        before and after."""
        forget = kept.clear if key is None else partial(kept.pop, key, None)
        self._writes += 1
        forget()
        try:
            return await self._run(call)
        finally:
            self._writes += 1
            forget()

    # Syncs -------------------------------------------------------------------------------

    async def start_sync(
        self,
        app: str,
        cluster: str,
        revision: str,
        trigger: str,
        *,
        dry_run: bool = False,
        trace_id: str | None = None,
        resumed_from: int | None = None,
        started_at: datetime | None = None,
    ) -> int:
        return await self._run(
            self.store.start_sync,
            app,
            cluster,
            revision,
            trigger,
            dry_run=dry_run,
            trace_id=trace_id,
            resumed_from=resumed_from,
            started_at=started_at,
        )

    async def record_results(self, sync_id: int, results: Iterable[ResourceResult]) -> int:
        return await self._run(self.store.record_results, sync_id, list(results))

    async def mark_applied(self, sync_id: int, at: datetime | None = None) -> None:
        await self._run(self.store.mark_applied, sync_id, at)

    async def mark_healthy(self, sync_id: int, at: datetime | None = None) -> None:
        await self._run(self.store.mark_healthy, sync_id, at)

    async def save_progress(self, sync_id: int, progress: JSONValue) -> None:
        await self._run(self.store.save_progress, sync_id, progress)

    async def record_step(
        self, sync_id: int, results: Iterable[ResourceResult], progress: JSONValue | None
    ) -> int:
        return await self._run(self.store.record_step, sync_id, list(results), progress)

    async def finish_sync(
        self, sync_id: int, result: str, message: str = "", at: datetime | None = None
    ) -> SyncRecord:
        return await self._run(self.store.finish_sync, sync_id, result, message, at)

    async def interrupted_at_startup(self, at: datetime | None = None) -> list[SyncRecord]:
        return await self._run(self.store.interrupted_at_startup, at)

    # Queries -----------------------------------------------------------------------------

    async def history(
        self,
        *,
        app: str | None = None,
        cluster: str | None = None,
        result: str | None = None,
        limit: int = 50,
        before_id: int | None = None,
    ) -> list[SyncRecord]:
        return await self._run(
            self.store.history,
            app=app,
            cluster=cluster,
            result=result,
            limit=limit,
            before_id=before_id,
        )

    async def get_sync(self, sync_id: int) -> SyncRecord:
        return await self._run(self.store.get_sync, sync_id)

    async def sync_detail(self, sync_id: int) -> SyncDetail:
        return await self._run(self.store.sync_detail, sync_id)

    async def latest_sync(self, app: str, cluster: str) -> SyncRecord | None:
        return await self._run(self.store.latest_sync, app, cluster)

    async def running_syncs(self) -> list[SyncRecord]:
        return await self._run(self.store.running_syncs)

    # Events ------------------------------------------------------------------------------

    async def add_event(
        self,
        kind: str,
        message: str,
        *,
        app: str | None = None,
        cluster: str | None = None,
        sync_id: int | None = None,
        details: Mapping[str, Any] | None = None,
        at: datetime | None = None,
    ) -> int:
        return await self._run(
            self.store.add_event,
            kind,
            message,
            app=app,
            cluster=cluster,
            sync_id=sync_id,
            details=details,
            at=at,
        )

    async def events_after(
        self,
        after_id: int = 0,
        *,
        limit: int = 500,
        app: str | None = None,
        cluster: str | None = None,
        kinds: Iterable[str] | None = None,
    ) -> list[EventRecord]:
        return await self._run(
            self.store.events_after, after_id, limit=limit, app=app, cluster=cluster, kinds=kinds
        )

    async def recent_events(
        self,
        *,
        limit: int = 50,
        app: str | None = None,
        cluster: str | None = None,
        kinds: Iterable[str] | None = None,
    ) -> list[EventRecord]:
        return await self._run(
            self.store.recent_events, limit=limit, app=app, cluster=cluster, kinds=kinds
        )

    async def last_event_id(self) -> int:
        return await self._run(self.store.last_event_id)

    # Inventory ---------------------------------------------------------------------------

    async def get_inventory(self, app: str, cluster: str) -> dict[StoredRef, str]:
        read = partial(self.store.get_inventory, app, cluster)
        kept: dict[StoredRef, str] = await self._kept(self._inventories, (app, cluster), read)
        return dict(kept)

    async def replace_inventory(
        self, app: str, cluster: str, entries: Mapping[RefLike, str], at: datetime | None = None
    ) -> None:
        write = partial(self.store.replace_inventory, app, cluster, dict(entries), at)
        await self._forgetting(self._inventories, (app, cluster), write)

    async def update_inventory(
        self,
        app: str,
        cluster: str,
        *,
        revision: str,
        applied: Iterable[RefLike] = (),
        removed: Iterable[RefLike] = (),
        at: datetime | None = None,
    ) -> None:
        write = partial(
            self.store.update_inventory,
            app,
            cluster,
            revision=revision,
            applied=list(applied),
            removed=list(removed),
            at=at,
        )
        await self._forgetting(self._inventories, (app, cluster), write)

    async def delete_inventory(self, app: str, cluster: str) -> int:
        write = partial(self.store.delete_inventory, app, cluster)
        return await self._forgetting(self._inventories, (app, cluster), write)

    async def inventory_targets(self) -> list[tuple[str, str]]:
        return await self._run(self.store.inventory_targets)

    # Status and pins ---------------------------------------------------------------------

    async def set_status(
        self,
        app: str,
        cluster: str,
        *,
        sync: str | None = None,
        health: str | None = None,
        message: str | None = None,
        at: datetime | None = None,
    ) -> None:
        await self._run(
            self.store.set_status, app, cluster, sync=sync, health=health, message=message, at=at
        )

    async def status_table(
        self, *, app: str | None = None, cluster: str | None = None
    ) -> list[StatusRow]:
        return await self._run(self.store.status_table, app=app, cluster=cluster)

    async def delete_status(self, app: str, cluster: str) -> bool:
        return await self._run(self.store.delete_status, app, cluster)

    async def pin(
        self, app: str, revision: str, cluster: str = ALL_CLUSTERS, at: datetime | None = None
    ) -> Pin:
        return await self._forgetting(
            self._pins, None, partial(self.store.pin, app, revision, cluster, at)
        )

    async def unpin(self, app: str, cluster: str | None = None) -> int:
        return await self._forgetting(self._pins, None, partial(self.store.unpin, app, cluster))

    async def pins(self, app: str | None = None) -> list[Pin]:
        return await self._run(self.store.pins, app)

    async def pinned_revision(self, app: str, cluster: str) -> str | None:
        read = partial(self.store.pinned_revision, app, cluster)
        return await self._kept(self._pins, (app, cluster), read)

    # Rollout holds and states (fleet.adapters.store.rollouts) ------------------------------

    async def hold(
        self, app: str, cluster: str, revision: str, reason: str, base_revision: str = ""
    ) -> Hold:
        return await self._run(self.store.hold, app, cluster, revision, reason, base_revision)

    async def release_holds(self, app: str, cluster: str | None = None) -> int:
        return await self._run(self.store.release_holds, app, cluster)

    async def holds(self, app: str | None = None) -> list[Hold]:
        return await self._run(self.store.holds, app)

    async def save_rollout_state(self, app: str, state: dict[str, Any]) -> None:
        await self._run(self.store.save_rollout_state, app, state)

    async def rollout_state(self, app: str) -> dict[str, Any] | None:
        return await self._run(self.store.rollout_state, app)

    async def rollout_states(self) -> dict[str, dict[str, Any]]:
        return await self._run(self.store.rollout_states)

    async def clear_rollout_state(self, app: str) -> bool:
        return await self._run(self.store.clear_rollout_state, app)

    # Audit -------------------------------------------------------------------------------

    async def add_audit(self, entry: AuditEntry) -> int:
        return await self._run(self.store.add_audit, entry)

    async def audit_entries(
        self,
        *,
        limit: int = 100,
        before_id: int | None = None,
        principal: str | None = None,
        app: str | None = None,
    ) -> list[AuditRecord]:
        return await self._run(
            self.store.audit_entries,
            limit=limit,
            before_id=before_id,
            principal=principal,
            app=app,
        )

    async def prune_audit(self, older_than: datetime) -> int:
        return await self._run(self.store.prune_audit, older_than)

    # Suspensions (fleet.adapters.store.suspensions) ---------------------------------------

    async def suspend(
        self, app: str = ALL_APPS, cluster: str = ALL_CLUSTERS, reason: str = ""
    ) -> SuspensionRecord:
        return await self._run(self.store.suspend, app, cluster, reason)

    async def resume(self, app: str = ALL_APPS, cluster: str = ALL_CLUSTERS) -> int:
        return await self._run(self.store.resume, app, cluster)

    async def resume_app(self, app: str) -> int:
        return await self._run(self.store.resume_app, app)

    async def suspensions(self) -> list[SuspensionRecord]:
        return await self._run(self.store.suspensions)

    # App generators (fleet.adapters.store.generators) ------------------------------------

    async def save_generators(self, records: Mapping[str, GeneratorRecord]) -> None:
        await self._run(self.store.save_generators, records)

    async def generator_states(self) -> dict[str, GeneratorRecord]:
        return await self._run(self.store.generator_states)

    # Maintenance -------------------------------------------------------------------------

    async def apply_retention(
        self, policy: RetentionPolicy, *, batch_size: int = 200
    ) -> RetentionReport:
        """Delete old history batch by batch, letting other calls run in between."""
        total = RetentionReport()
        while True:
            report = await self._run(self.store.retention_batch, policy, batch_size=batch_size)
            if report.empty:
                return total
            total += report

    async def integrity_problems(self) -> list[str]:
        return await self._run(self.store.integrity_problems)
