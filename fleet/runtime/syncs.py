"""Running a sync and recording it: history, trace, status, rollout and events agree.

Every way a sync can end is written the same few ways: the history record (started,
applied, healthy, finished, with the failed objects' rows first), the sync's trace span,
the worker's status, an event, and the rollout's ``SyncOutcome``. A sync that cannot
start (a render error) or needs nothing (the new revision renders what is live) is
recorded as one too, so history never has a gap. A failed sync is handed to the retries
(fleet.runtime.retries); the rollout hears of it only once the retries have ended. A dry
run is the plan machinery's (fleet.runtime.dryrun) and touches none of this state.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import anyio

from fleet.adapters.git import Revision
from fleet.adapters.kube.errors import KubeError
from fleet.adapters.telemetry import context as telemetry
from fleet.adapters.telemetry.logs import describe_error
from fleet.adapters.telemetry.syncspans import SyncTrace
from fleet.engine import Failed, Progress, Succeeded, Verdict
from fleet.model.refs import ObjectRef
from fleet.runtime.dryrun import DryRunOutcome, dry_run
from fleet.runtime.executor import SyncExecutor, SyncJob
from fleet.runtime.journal import SyncJournal, failed_object_rows, resumable
from fleet.runtime.leadership import NotLeader
from fleet.runtime.mailbox import Trigger
from fleet.runtime.worker_context import SyncOutcome, about

if TYPE_CHECKING:
    from fleet.runtime.worker import Worker

log = logging.getLogger(__name__)

#: Which trigger a sync is recorded under when several woke it: the most specific.
TRIGGER_ORDER = (
    "manual",
    "rollback",
    "pin",
    "unpin",
    "startup",
    "webhook",
    "refresh",
    "poll",
    "resume",
    "config",
    "drift",
)


def first_reason(triggers: Sequence[Trigger]) -> Trigger:
    """The trigger a sync is recorded under: the most specific one."""
    order = TRIGGER_ORDER
    ranked = sorted(triggers, key=lambda t: order.index(t.reason) if t.reason in order else 99)
    return ranked[0] if ranked else Trigger("poll")


class SyncRunner:
    """Runs one worker's syncs and records how each ended."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        #: The revision last tried (not tried again by itself once it failed).
        self.attempted: str | None = None
        #: Why the last sync failed, kept in the status until one succeeds.
        self.last_failure = ""
        self._trace: SyncTrace | None = None

    async def sync(
        self,
        revision: Revision,
        trigger: Trigger,
        inventory: frozenset[ObjectRef],
        progress: Progress | None = None,
    ) -> None:
        """Sync ``revision`` (or dry-run it), within the daemon's limit of syncs."""
        ctx = self.worker.ctx
        if not ctx.accepting:
            return
        async with ctx.sync_slots:
            ctx.sync_started()
            try:
                if trigger.dry_run:
                    await self._dry_run(revision, trigger)
                else:
                    await self._run_sync(revision, trigger, inventory, progress)
            finally:
                ctx.sync_ended()

    async def _dry_run(self, revision: Revision, trigger: Trigger) -> None:
        """Record what a sync would change (fleet.runtime.dryrun); change nothing."""
        worker = self.worker
        store = worker.ctx.store
        sync_id = await store.start_sync(
            worker.app.name, worker.cluster.name, revision.sha, trigger.reason, dry_run=True
        )
        trigger.reply.append(sync_id)
        outcome: DryRunOutcome | None = None
        try:
            outcome = await dry_run(worker, revision)
        except KubeError as error:
            outcome = DryRunOutcome("Failed", f"dry run: {error}", [])
        except Exception as error:  # a bug in a dry run must not stop the worker
            log.exception("dry run of %s on %s failed", worker.app.name, worker.cluster.name)
            outcome = DryRunOutcome("Failed", f"dry run: internal error: {error}", [])
        finally:
            with anyio.CancelScope(shield=True):
                if outcome is None:
                    await store.finish_sync(sync_id, "Interrupted", "the daemon stopped")
                else:
                    if outcome.rows:
                        await store.record_results(sync_id, outcome.rows)
                    await store.finish_sync(sync_id, outcome.result, outcome.message)

    async def _run_sync(
        self,
        revision: Revision,
        trigger: Trigger,
        inventory: frozenset[ObjectRef],
        progress: Progress | None,
    ) -> None:
        worker = self.worker
        store = worker.ctx.store
        self.attempted = revision.sha
        trace = self.start_trace(revision, trigger.reason, trigger.dry_run)
        sync_id = await store.start_sync(
            worker.app.name,
            worker.cluster.name,
            revision.sha,
            trigger.reason,
            dry_run=trigger.dry_run,
            trace_id=trace.trace_id,
            resumed_from=trigger.resumed_from if trigger.revision == revision.sha else None,
        )
        trigger.reply.append(sync_id)
        worker.retries.starting(trigger)
        if progress is None and trigger.progress and trigger.revision == revision.sha:
            progress = resumable(trigger.progress)
        worker.status.operation, worker.status.step = "Syncing", ""
        options = worker.options(confirm_prune=trigger.confirm_prune)
        # Healing drift re-applies what drifted; hooks belong to a revision's rollout and
        # are not run again because someone scaled a Deployment by hand.
        desired = worker.tracked() if trigger.reason == "drift" else worker.desired.manifests
        job = SyncJob(
            app=worker.app.name,
            cluster=worker.cluster.name,
            revision=revision.sha,
            desired=desired,
            inventory=inventory,
            options=options,
            render_error=worker.desired.error,
        )
        journal = SyncJournal(worker, sync_id)
        executor = SyncExecutor(
            job,
            worker.runtime.client,
            worker.runtime.cache,
            journal,
            clock=worker.ctx.clock,
            fence=worker.ctx.fence,
        )
        verdict: Verdict | None = None
        crash: Exception | None = None
        try:
            with trace.active():
                verdict = await executor.run(progress)
        except Exception as error:
            crash = error
            raise
        finally:
            with anyio.CancelScope(shield=True):
                await self._finish(sync_id, revision, verdict, journal, crash)

    async def _finish(
        self,
        sync_id: int,
        revision: Revision,
        verdict: Verdict | None,
        journal: SyncJournal,
        crash: Exception | None = None,
    ) -> None:
        worker = self.worker
        store = worker.ctx.store
        await journal.flush()
        worker.status.operation, worker.status.step = "", ""
        retrying = False
        if verdict is None:
            # No verdict: the daemon is stopping (cancelled), or a bug broke the sync.
            if isinstance(crash, NotLeader):
                result, message = "Interrupted", f"stopped writing: {crash}"
            elif crash is not None:
                result, message = "Failed", f"internal error: {describe_error(crash)}"
            else:
                result, message = "Interrupted", "the daemon stopped"
            record = await store.finish_sync(sync_id, result, message)
            self.remember(record.id, record.result, record.finished_at)
            return
        if journal.applied_at is not None:
            await store.mark_applied(sync_id, journal.applied_at)
        await store.replace_inventory(
            worker.app.name, worker.cluster.name, dict.fromkeys(verdict.inventory, revision.sha)
        )
        if isinstance(verdict, Succeeded):
            await store.mark_healthy(sync_id, _at(verdict.healthy_at))
            message = "; ".join(verdict.warnings)
            kept = [f"{c.ref} ({c.reason})" for c in verdict.kept] if verdict.kept else []
            if kept:
                message = (message + "; " if message else "") + "kept: " + ", ".join(kept[:10])
            record = await store.finish_sync(sync_id, "Succeeded", message)
            status = worker.status
            status.revision = revision.sha
            status.sync, status.health, status.message = "Synced", "Healthy", ""
            self._succeeded()
            worker.retries.succeeded()
            worker.drift.synced()
            await worker.ctx.event(
                "sync_succeeded",
                message or "synced and healthy",
                worker.app.name,
                worker.cluster.name,
                {**about(revision), "sync_id": sync_id},
            )
        else:
            # The failed objects' rows first: a finished sync is never written again.
            rows = failed_object_rows(verdict)
            if rows:
                await store.record_results(sync_id, rows)
            record = await store.finish_sync(sync_id, "Failed", verdict.message)
            worker.status.message = verdict.message
            self.last_failure = verdict.message[:500]
            await self._record_failure(sync_id, revision, verdict)
            retrying = await self._retry_later(sync_id, revision, verdict)
            if worker.runtime.reachable is False or "unreachable" in verdict.message.lower():
                # Not the revision's fault: try it again when the cluster is back.
                self.attempted = None
                worker.note_reachability()
        self.remember(record.id, record.result, record.finished_at)
        if retrying:
            return  # the rollout hears how the retries end: the cluster is on its way
        worker.ctx.report(
            SyncOutcome(
                worker.app.name,
                worker.cluster.name,
                revision.sha,
                isinstance(verdict, Succeeded),
                record.message,
                sync_id,
            )
        )

    async def _retry_later(self, sync_id: int, revision: Revision, verdict: Failed) -> bool:
        """Plan the retry of a failed sync (fleet.runtime.retries). True when the rollout
        should wait for it: a retry within its back-off. A cluster out of reach is
        reported failed (the rollout's failure budget decides), and Succeeded later if
        the retry made when it is back succeeds."""
        worker = self.worker
        policy, reachable = worker.options().retry, worker.runtime.reachable
        retry = worker.retries.failed(revision.sha, verdict, policy, reachable)
        if retry.retry:
            await worker.ctx.event(
                "sync_retrying",
                worker.retries.announcement(retry, policy, reachable)[:2000],
                worker.app.name,
                worker.cluster.name,
                {**about(revision), "sync_id": sync_id, "delay": round(retry.delay, 3)},
            )
        return retry.retry and reachable is not False

    async def _record_failure(self, sync_id: int, revision: Revision, verdict: Failed) -> None:
        worker = self.worker
        refused = [f for f in verdict.failures if f.reason == "PruneRefused"]
        if refused:
            await worker.ctx.event(
                "prune_refused",
                "; ".join(str(f) for f in refused),
                worker.app.name,
                worker.cluster.name,
                {**about(revision), "sync_id": sync_id},
            )
        await worker.ctx.event(
            "sync_failed",
            verdict.message[:2000],
            worker.app.name,
            worker.cluster.name,
            {**about(revision), "sync_id": sync_id},
        )

    async def render_failed(self, revision: Revision, triggers: Sequence[Trigger]) -> None:
        """Record a revision that did not render as a failed sync; nothing is applied."""
        worker = self.worker
        message = worker.desired.error or "render failed"
        worker.status.sync, worker.status.message = "Unknown", message
        if revision.sha == self.attempted and not any(t.reason == "manual" for t in triggers):
            return
        self.attempted = revision.sha
        store = worker.ctx.store
        reason = first_reason(triggers).reason
        trace_id = self.start_trace(revision, reason).trace_id
        sync_id = await store.start_sync(
            worker.app.name,
            worker.cluster.name,
            revision.sha,
            reason,
            trace_id=trace_id,
            dry_run=any(t.dry_run for t in triggers),
        )
        for trigger in triggers:
            trigger.reply.append(sync_id)
        record = await store.finish_sync(sync_id, "Failed", f"RenderFailed: {message}")
        self.remember(record.id, record.result, record.finished_at)
        await worker.ctx.event(
            "sync_failed",
            f"render failed, nothing applied: {message}",
            worker.app.name,
            worker.cluster.name,
            {**about(revision), "sync_id": sync_id},
        )
        worker.ctx.report(
            SyncOutcome(worker.app.name, worker.cluster.name, revision.sha, False, message, sync_id)
        )

    async def record_noop(self, revision: Revision, trigger: Trigger) -> None:
        """Record a new revision that renders what is already live as a sync that
        succeeded with nothing to apply."""
        worker = self.worker
        store = worker.ctx.store
        self.attempted = revision.sha
        reason = first_reason([trigger]).reason
        trace_id = self.start_trace(revision, reason).trace_id
        sync_id = await store.start_sync(
            worker.app.name, worker.cluster.name, revision.sha, reason, trace_id=trace_id
        )
        record = await store.finish_sync(
            sync_id, "Succeeded", "nothing to apply: the cluster already matches this revision"
        )
        worker.status.revision = revision.sha
        self._succeeded()
        self.remember(record.id, record.result, record.finished_at)
        worker.ctx.report(
            SyncOutcome(
                worker.app.name, worker.cluster.name, revision.sha, True, "in sync", sync_id
            )
        )

    def _succeeded(self) -> None:
        """A sync succeeded: the previous failure's message is history now."""
        self.last_failure = ""
        status = self.worker.status
        if status.message.startswith("last sync failed: "):
            status.message = status.message.partition("; ")[2]

    def remember(self, sync_id: int, result: str, finished_at: datetime | None) -> None:
        """Show how the last sync ended, and end its trace span."""
        status = self.worker.status
        status.last_sync_id = sync_id
        status.last_result = result
        status.last_finished_at = finished_at
        trace, self._trace = self._trace, None
        if trace is not None:
            trace.recorded(sync_id)
            trace.finish(result, status.message if result == "Failed" else "")

    def start_trace(self, revision: Revision, trigger: str, dry_run: bool = False) -> SyncTrace:
        """The sync's span (ended by ``remember``); its trace id goes to history."""
        worker = self.worker
        if self._trace is not None:
            self._trace.finish("Interrupted")
        self._trace = telemetry.current().sync(
            worker.app.name,
            worker.cluster.name,
            revision,
            trigger,
            dry_run=dry_run,
            repository=worker.config.source_of(worker.app).location,
        )
        return self._trace


def _at(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)
