"""What a running sync leaves in history: its progress, and one row per object.

The executor reports as it goes (``SyncJournal``): the progress is saved only when what
a resume reads of it changed (not the deadlines of waits, which ``resumable`` drops), so
a sync interrupted by a restart resumes from where it stopped, and each object's row
carries its health as seen at that moment. A batch's rows are written with the progress
that follows them, in one call and one transaction. The
objects a failed sync never reached still get a row each (``failed_object_rows``), so
history says which objects failed, not only that the sync did.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

from fleet.adapters.store import JSONText, ResourceResult
from fleet.engine import Failed, Progress, app_health
from fleet.engine.decisions import Running
from fleet.engine.hooks import hook_state
from fleet.runtime.executor import ResourceRow
from fleet.runtime.health_ready import prepare_health
from fleet.runtime.status import utc_now

if TYPE_CHECKING:
    from fleet.runtime.worker import Worker

log = logging.getLogger(__name__)


class SyncJournal:
    """Feeds a running sync's progress and resource rows to history and the status."""

    def __init__(self, worker: Worker, sync_id: int) -> None:
        self.worker = worker
        self.sync_id = sync_id
        self.applied_at: datetime | None = None
        self._saved: Progress | None = None
        #: Rows of the last batch, written with the progress that follows them.
        self._pending: list[ResourceResult] = []

    async def progress(self, progress: Progress, status: Running) -> None:
        self.worker.status.step = status.message or f"{status.phase} wave {status.wave}"
        kept = replace(progress, waits={})  # what ``resumable`` reads of it
        if kept == self._saved and not self._pending:
            return  # most waits end with nothing new to remember: no write
        saved = None if kept == self._saved else JSONText(progress.to_json())
        rows, self._pending = self._pending, []
        await self.worker.ctx.store.record_step(self.sync_id, rows, saved)
        self._saved = kept

    async def flush(self) -> None:
        """Write rows still held (the sync ended right after their batch)."""
        rows, self._pending = self._pending, []
        if rows:
            await self.worker.ctx.store.record_results(self.sync_id, rows)

    async def resources(self, rows: Sequence[ResourceRow]) -> None:
        results = []
        options = self.worker.options()  # once per batch: building it is not free
        cache = self.worker.runtime.cache
        lives = [cache.get(row.ref) for row in rows]
        judged = [live for row, live in zip(rows, lives, strict=True) if row.health is None]
        await prepare_health(options.custom_health, judged)
        for row, live in zip(rows, lives, strict=True):
            health = row.health
            if health is None and live is not None and row.action == "hook":
                # A hook's health is how it ends (Running, Succeeded, Failed), not a
                # workload's: a Job that ran to completion is not "Progressing".
                state = hook_state(live, options.health_rules, options.custom_health)
                health = str(state.outcome)
            elif health is None and live is not None and row.action in ("created", "configured"):
                found = app_health([(row.ref, live)], options.health_rules, options.custom_health)
                health = str(found.status)
            results.append(
                ResourceResult(
                    phase=row.phase,
                    wave=row.wave or 0,
                    group=row.ref.group,
                    kind=row.ref.kind,
                    namespace=row.ref.namespace,
                    name=row.ref.name,
                    action=row.action if row.ok else "failed",
                    health=health,
                    message=row.message,
                    duration_ms=round(row.duration_ms),
                )
            )
            if row.ok and row.action in ("created", "configured", "pruned", "hook"):
                self.applied_at = utc_now()
        self._pending.extend(results)


def failed_object_rows(verdict: Failed) -> list[ResourceResult]:
    """One ``failed`` row per object a failed sync names."""
    return [
        ResourceResult(
            phase=f.phase or "Sync",
            wave=f.wave or 0,
            group=f.ref.group,
            kind=f.ref.kind,
            namespace=f.ref.namespace,
            name=f.ref.name,
            action="failed",
            health=None,
            message=f"{f.reason}: {f.message}",
        )
        for f in verdict.failures
        if f.ref is not None
    ]


def resumable(saved: str) -> Progress | None:
    """The progress of an interrupted sync, to carry on from where it stopped.

    What was dry-run, applied and found healthy is kept; the deadlines of its waits are
    not (the daemon may have been down longer than they allowed): they start again.
    """
    try:
        progress = Progress.from_json(saved)
    except ValueError:
        log.warning("the saved progress of an interrupted sync is unreadable; starting over")
        return None
    return replace(progress, waits={})
