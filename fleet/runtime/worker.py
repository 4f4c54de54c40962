"""One app on one cluster: compare, decide whether to sync, sync, record.

A worker sleeps on its mailbox. Whatever wakes it (a new revision released by the
rollout, a push, a watch event on one of its objects, a manual request, the cluster
coming back), it does the same thing: render the target revision (cached), compare it
with the live cache (no requests when nothing changed), and sync only when its policy
says so:

- a manual request always syncs (and may be a dry run);
- an automated app syncs a revision it has not tried yet;
- an automated app with selfHeal re-syncs drift, backing off when the drift keeps
  coming back (a fight with another controller must not become a hot loop);
- otherwise the app is shown OutOfSync and the drift is recorded once.

A render error or an unreadable revision never syncs and never prunes: it is recorded
as a failed sync of that revision, and the objects stay as they are.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import anyio

from fleet.adapters.git import Revision
from fleet.adapters.kube.errors import KindNotServed, KubeError
from fleet.adapters.store import AsyncHistoryStore, ResourceResult
from fleet.adapters.telemetry import context as telemetry
from fleet.adapters.telemetry.syncspans import SyncTrace
from fleet.config import App, Cluster, FleetConfig, sync_options
from fleet.engine import (
    Failed,
    Progress,
    RetryPolicy,
    Succeeded,
    SyncOptions,
    Verdict,
    app_health,
    backoff_delay,
    compare,
    read_settings,
    rebuild_inventory,
)
from fleet.engine.decisions import Running
from fleet.engine.drift import live_mismatch
from fleet.engine.hooks import hook_state, stamp
from fleet.engine.prune import candidate as prune_candidate
from fleet.model.manifests import Manifest
from fleet.model.refs import ObjectRef
from fleet.runtime.clusters import ClusterRuntime
from fleet.runtime.desired import DesiredStateBuilder, DesiredStateError
from fleet.runtime.dryrun import DryRunOutcome, dry_run
from fleet.runtime.executor import ResourceRow, SyncExecutor, SyncJob
from fleet.runtime.mailbox import Mailbox, Trigger
from fleet.runtime.retries import ConfigResync, SyncRetries
from fleet.runtime.status import AppClusterStatus, utc_now

if TYPE_CHECKING:
    from fleet.runtime.holds import HoldBoard

log = logging.getLogger(__name__)

#: Self-heal back-off: 0 s for the first drift, then 2, 4, 8 ... up to 5 minutes.
SELF_HEAL_BACKOFF = RetryPolicy(
    max_attempts=1_000, base_delay=2.0, factor=2.0, max_delay=300.0, jitter=0.2
)
#: Drift that stays away this long resets the back-off.
SELF_HEAL_CALM = 120.0


@dataclass(frozen=True, slots=True)
class SyncOutcome:
    app: str
    cluster: str
    revision: str
    ok: bool
    message: str
    sync_id: int


EventSink = Callable[
    [str, str, str | None, str | None, Mapping[str, Any]], Coroutine[Any, Any, None]
]


@dataclass
class WorkerContext:
    """What every worker shares, handed in by the daemon."""

    store: AsyncHistoryStore
    builder: DesiredStateBuilder
    sync_slots: anyio.CapacityLimiter
    #: Tell the rollout how a sync of a revision ended.
    report: Callable[[SyncOutcome], None]
    #: Record an event: (kind, message, app, cluster, details).
    event: EventSink
    secret_digest_key: bytes = b""
    clock: Callable[[], float] = time.time
    #: False once the daemon is stopping: no new sync starts.
    accepting: bool = True
    #: Suspensions, sync windows and dependsOn (fleet.runtime.holds); None: no holds.
    holds: HoldBoard | None = None
    running: int = 0
    #: Syncs finished since the start (whatever their result).
    ended: int = 0
    _idle: anyio.Event | None = None

    def sync_started(self) -> None:
        self.running += 1

    def sync_ended(self) -> None:
        self.running -= 1
        self.ended += 1
        if self.running == 0 and self._idle is not None:
            self._idle.set()
            self._idle = None

    async def wait_idle(self) -> None:
        """Return when no sync is running."""
        while self.running:
            if self._idle is None:
                self._idle = anyio.Event()
            await self._idle.wait()


class Worker:
    """Keeps ``app`` on ``cluster`` where its policy says it should be."""

    def __init__(
        self,
        ctx: WorkerContext,
        config: FleetConfig,
        app: App,
        cluster: Cluster,
        runtime: ClusterRuntime,
    ) -> None:
        self.ctx = ctx
        self.config = config
        self.app = app
        self.cluster = cluster
        self.runtime = runtime
        self.mailbox = Mailbox()
        self.status = AppClusterStatus(app=app.name, cluster=cluster.name)
        self.target: Revision | None = None
        self._attempted: str | None = None
        self._heals = 0
        self._heal_needed = False
        self._last_heal_at = 0.0
        self._drift_reported: str | None = None
        self._last_failure = ""
        self._degraded_reported = False
        self._confirmed: dict[tuple[ObjectRef, str, str], bool] = {}
        self._desired_key: tuple[str, str] | None = None
        self._desired: list[Manifest] = []
        self._render_error: str | None = None
        self._rng = random.Random()
        #: Triggers kept until a revision is released (see ``reconcile``).
        self._held: list[Trigger] = []
        self._trace: SyncTrace | None = None
        #: A failed sync run again on its own; a resync after a config change.
        self.retries = SyncRetries(ctx.clock)
        self.resync = ConfigResync()
        self.unsubscribe = runtime.cache.subscribe(self._on_change)

    @property
    def key(self) -> tuple[str, str]:
        return (self.app.name, self.cluster.name)

    def _on_change(self, app: str, ref: ObjectRef, event_type: str) -> None:
        if app == self.app.name:
            self.mailbox.post(Trigger("drift", detail=f"{event_type} {ref}"))

    def release(self, revision: Revision, reason: str) -> None:
        """The rollout lets this cluster move to ``revision``."""
        self.target = revision
        self.status.target_revision = revision.sha
        self.mailbox.post(Trigger(reason, revision=revision.sha))

    # -- the loop ----------------------------------------------------------------------

    async def run(self) -> None:
        await self._load_state()
        while True:
            taken = await self.retries.next_triggers(self.mailbox, self.runtime.reachable)
            triggers = [*self._held, *taken]
            self._held = []
            try:
                await self.reconcile(triggers)
                if self.ctx.holds is not None:
                    self.ctx.holds.settled(self)  # wakes dependants once this one is ready
            except anyio.get_cancelled_exc_class():
                raise
            except Exception as error:  # one worker's bug must not stop the daemon
                log.exception("app %s on %s: reconcile failed", self.app.name, self.cluster.name)
                self.status.message = f"internal error: {error}"
                await anyio.sleep(5.0)

    async def _load_state(self) -> None:
        latest = await self.ctx.store.latest_sync(self.app.name, self.cluster.name)
        history = await self.ctx.store.history(
            app=self.app.name, cluster=self.cluster.name, result="Succeeded", limit=1
        )
        if history:
            self.status.revision = history[0].revision
        if latest is not None:
            self.status.last_sync_id = latest.id
            self.status.last_result = latest.result
            self.status.last_finished_at = latest.finished_at
        self.status.pinned_revision = await self.ctx.store.pinned_revision(
            self.app.name, self.cluster.name
        )

    # -- compare -----------------------------------------------------------------------

    async def _render(self, revision: Revision) -> None:
        key = (revision.sha, revision.tree)
        if self._desired_key == key:
            return
        with telemetry.current().render(self.app.name, self.cluster.name, revision) as rendering:
            try:
                state = await self.ctx.builder.render(self.app, self.cluster, revision)
            except DesiredStateError as error:
                self._desired, self._render_error = [], str(error)
                rendering.error = str(error)
            else:
                self._desired, self._render_error = list(state.manifests), None
                rendering.cache_hit = state.cache_hit
        self._desired_key = key

    def _tracked(self) -> list[Manifest]:
        """Desired objects that are resources (not hooks, not skipped)."""
        out = []
        for manifest in self._desired:
            try:
                settings = read_settings(manifest.annotations, manifest.ref, manifest.origin)
            except ValueError:
                continue
            if not settings.is_hook and not settings.ignored and manifest.ref.name:
                out.append(manifest)
        return out

    async def _inventory(self) -> frozenset[ObjectRef]:
        stored = await self.ctx.store.get_inventory(self.app.name, self.cluster.name)
        refs = frozenset(ObjectRef(r.group, r.kind, r.namespace, r.name) for r in stored)
        if refs:
            return refs
        # No inventory (a new app, or a lost database): read ownership back from the
        # cluster's tracking annotations; nothing else is ever pruned.
        return rebuild_inventory(
            self.app.name, self.runtime.cache.objects_of(self.app.name).values()
        )

    def _kinds(self, inventory: frozenset[ObjectRef]) -> set[tuple[str, str]]:
        kinds = {(m.api_version, m.ref.kind) for m in self._desired}
        live_versions = {
            (ref.group, ref.kind): str(obj.get("apiVersion") or "")
            for ref, obj in self.runtime.cache.objects_of(self.app.name).items()
        }
        for ref in inventory:
            version = live_versions.get((ref.group, ref.kind))
            if version:
                kinds.add((version, ref.kind))
        return kinds

    async def compare(
        self, inventory: frozenset[ObjectRef], *, confirm: bool = True
    ) -> tuple[list[str], str, str]:
        """(objects out of sync, sync status, health) of the current desired state.

        A local mismatch is confirmed with the server (a dry-run) unless ``confirm`` is
        off: when a sync follows anyway, its own dry-runs settle it.
        """
        tracked = self._tracked()
        cache = self.runtime.cache
        out_of_sync: list[str] = []
        options = self._options()
        for manifest in tracked:
            live = cache.get(manifest.ref)
            applied = stamp(manifest.body, self.app.name, manifest.ref)
            if live_mismatch(manifest.ref, applied, live, options.ignore_differences) is None:
                continue
            if (
                confirm
                and live is not None
                and await self._confirm_in_sync(manifest, applied, live, options)
            ):
                continue
            out_of_sync.append(str(manifest.ref))
        desired_refs = {m.ref for m in tracked}
        # A sync can fix a desired object, and a stale one it would prune; it cannot fix
        # a stale one it must keep (pruning off, Prune=confirm): that one shows, but
        # self-heal must not sync again and again for it. One kept on purpose by its
        # prune annotation, or not ours (a copied label), is no difference from Git.
        self._heal_needed = bool(out_of_sync)
        for ref in sorted(inventory - desired_refs):
            live = cache.get(ref)
            if live is None:
                continue
            stale = prune_candidate(self.app.name, ref, live, options)
            if not stale.owned or (stale.settings is not None and stale.settings.prune == "no"):
                continue
            out_of_sync.append(f"{ref} (to prune)")
            self._heal_needed = self._heal_needed or stale.prune
        health = app_health(((m.ref, cache.get(m.ref)) for m in tracked), options.health_rules)
        return out_of_sync, ("OutOfSync" if out_of_sync else "Synced"), str(health.status)

    async def _confirm_in_sync(
        self,
        manifest: Manifest,
        applied: dict[str, Any],
        live: Mapping[str, Any],
        options: SyncOptions,
    ) -> bool:
        """Ask the server (dry-run) whether a suspected difference is real; remember it."""
        rv = str((live.get("metadata") or {}).get("resourceVersion") or "")
        digest = hashlib.sha256(json.dumps(applied, sort_keys=True, default=str).encode())
        key = (manifest.ref, digest.hexdigest(), rv)
        known = self._confirmed.get(key)
        if known is not None:
            return known
        try:
            result = await self.runtime.client.apply(applied, dry_run=True)
        except (KubeError, KindNotServed):
            return False
        in_sync = compare(
            manifest.ref, result, live, options.ignore_differences, options.secret_digest_key
        ).in_sync
        if len(self._confirmed) > 10_000:
            self._confirmed.clear()
        self._confirmed[key] = in_sync
        return in_sync

    def _options(self, **overrides: Any) -> SyncOptions:
        options = replace(
            sync_options(self.app, self.config.project_of(self.app)),
            secret_digest_key=self.ctx.secret_digest_key,
        )
        return replace(options, **overrides) if overrides else options

    # -- decide ------------------------------------------------------------------------

    async def reconcile(self, triggers: Sequence[Trigger]) -> None:
        revision = await self._target_revision()
        if revision is None:
            # Nothing released yet (the source is still being fetched). A re-run after a
            # crash must still be recorded as one when the revision comes: keep it.
            self._held = [t for t in triggers if t.reason == "startup"]
            return
        await self._render(revision)
        inventory = await self._inventory()
        kinds = self._kinds(inventory)
        self.runtime.ensure_kinds(kinds)
        listed = await self.runtime.wait_listed(kinds, patience=15.0)
        reached = self._note_reachability()
        manual = [t for t in triggers if t.reason == "manual"]
        if self._render_error is not None:
            await self._render_failed(revision, manual or triggers)
            return
        if not (listed and reached):
            if reached:
                self.status.sync, self.status.health = "Unknown", "Unknown"
                self.status.message = "the cluster's objects have not been listed yet"
            if manual or (self._wants_new_revision(revision) and not self._held_back(triggers)):
                await self._sync(revision, (manual or triggers)[0], inventory)
            return
        syncing_anyway = self.app.sync_policy.automated and self._wants_new_revision(revision)
        out_of_sync, sync_status, health = await self.compare(
            inventory, confirm=not (manual or syncing_anyway)
        )
        self._set_compared(revision, out_of_sync, sync_status, health)
        await self._note_health(revision, health)
        if manual:
            for trigger in manual:
                await self._sync(revision, trigger, inventory)
            return
        if not self.app.sync_policy.automated:
            if not await self._recover(revision, sync_status, inventory):
                await self._note_drift(revision, out_of_sync, triggers)
            return
        holds = self.ctx.holds
        if holds is not None and await holds.hold_automated(
            self, revision, out_of_sync, sync_status, triggers
        ):
            return  # suspended, a window closed, or a dependency not ready: it waits
        if await self._recover(revision, sync_status, inventory):
            return
        if self._wants_new_revision(revision):
            if sync_status == "Synced" and revision.sha != self.status.revision:
                # Nothing to change: the new revision renders what is already live.
                await self._record_noop(revision, triggers[0])
                return
            if sync_status == "OutOfSync" or revision.sha != self.status.revision:
                await self._sync(revision, _first_reason(triggers), inventory)
            return
        if sync_status == "OutOfSync":
            # Heal only towards a revision that synced: healing applies no hooks, so
            # healing a revision whose sync failed would skip the hook that failed it.
            if (
                self.app.sync_policy.self_heal
                and revision.sha == self.status.revision
                and self._heal_needed
            ):
                await self._self_heal(revision, out_of_sync, inventory)
            else:
                await self._note_drift(revision, out_of_sync, triggers)

    def _note_reachability(self) -> bool:
        """Show whether the cluster answers; False (status Unknown) while it does not."""
        reach = self.runtime.reachability
        if reach.reachable is False:
            self.status.mark_unreachable(reach.since, reach.message)
            return False
        if reach.reachable:
            self.status.mark_reachable()
        return True

    def _held_back(self, triggers: Sequence[Trigger]) -> bool:
        """An automated sync must wait (fleet.runtime.holds); the hold is shown."""
        holds = self.ctx.holds
        return holds is not None and holds.hold_unreachable_sync(self, triggers)

    async def _recover(
        self, revision: Revision, sync_status: str, inventory: frozenset[ObjectRef]
    ) -> bool:
        """Run a failed sync again when its retry is due, or sync after a config change
        (fleet.runtime.retries); True when a sync ran."""
        if self.retries.due(revision.sha, self.runtime.reachable):
            await self._sync(revision, self.retries.take(), inventory)
            return True
        changed = self.resync.take() and self.app.sync_policy.automated
        if changed and sync_status == "OutOfSync":
            await self._sync(revision, Trigger("config", revision=revision.sha), inventory)
            return True
        return False

    def _wants_new_revision(self, revision: Revision) -> bool:
        return revision.sha != self._attempted and revision.sha != self.status.revision

    async def _target_revision(self) -> Revision | None:
        # Pinned or not, the rollout coordinator releases the target wave by wave
        # (fleet.runtime.rollouts); the pin is read here only to show it.
        self.status.pinned_revision = await self.ctx.store.pinned_revision(
            self.app.name, self.cluster.name
        )
        return self.target

    def _set_compared(
        self, revision: Revision, out_of_sync: list[str], sync_status: str, health: str
    ) -> None:
        self.status.sync = sync_status
        self.status.health = health
        self.status.out_of_sync = out_of_sync[:50]
        self.status.target_revision = revision.sha
        self.status.updated_at = utc_now()
        failure = ""
        if self.status.last_result == "Failed" and self._last_failure:
            # Keep why the last sync failed in view until a sync succeeds.
            failure = f"last sync failed: {self._last_failure}"
        if sync_status == "Synced" and not self.status.operation:
            self.status.message = failure
        elif out_of_sync:
            more = f" and {len(out_of_sync) - 3} more" if len(out_of_sync) > 3 else ""
            drift = "out of sync: " + ", ".join(out_of_sync[:3]) + more
            self.status.message = f"{failure}; {drift}" if failure else drift

    async def _note_health(self, revision: Revision, health: str) -> None:
        """Record the app turning Degraded: once per transition, not on every compare."""
        if health != "Degraded":
            self._degraded_reported = False
            return
        if self._degraded_reported:
            return
        self._degraded_reported = True
        cache = self.runtime.cache
        worst = app_health(
            ((m.ref, cache.get(m.ref)) for m in self._tracked()), self._options().health_rules
        )
        await self.ctx.event(
            "health_degraded",
            f"health is Degraded: {worst.message}"[:2000],
            self.app.name,
            self.cluster.name,
            _about(revision),
        )

    async def _note_drift(
        self, revision: Revision, out_of_sync: list[str], triggers: Sequence[Trigger]
    ) -> None:
        if not out_of_sync:
            self._drift_reported = None
            return
        signature = "|".join(out_of_sync)
        if signature == self._drift_reported:
            return
        self._drift_reported = signature
        await self.ctx.event(
            "drift",
            f"{len(out_of_sync)} object(s) differ from Git: {', '.join(out_of_sync[:5])}",
            self.app.name,
            self.cluster.name,
            {**_about(revision), "objects": out_of_sync[:50], "selfHeal": False},
        )

    async def _self_heal(
        self, revision: Revision, out_of_sync: list[str], inventory: frozenset[ObjectRef]
    ) -> None:
        now = self.ctx.clock()
        if now - self._last_heal_at > SELF_HEAL_CALM:
            self._heals = 0
        delay = (
            0.0
            if self._heals == 0
            else backoff_delay(self._heals, SELF_HEAL_BACKOFF, self._rng.random)
        )
        wait = self._last_heal_at + delay - now
        if wait > 0:
            await anyio.sleep(wait)
            out_of_sync, sync_status, health = await self.compare(inventory)
            self._set_compared(revision, out_of_sync, sync_status, health)
            if sync_status == "Synced" or not self._heal_needed:
                return
        self._heals += 1
        self._last_heal_at = self.ctx.clock()
        await self.ctx.event(
            "drift",
            f"{len(out_of_sync)} object(s) drifted, healing: {', '.join(out_of_sync[:5])}",
            self.app.name,
            self.cluster.name,
            {**_about(revision), "objects": out_of_sync[:50], "selfHeal": True},
        )
        await self._sync(revision, Trigger("drift", detail=", ".join(out_of_sync[:5])), inventory)

    # -- sync --------------------------------------------------------------------------

    async def _render_failed(self, revision: Revision, triggers: Sequence[Trigger]) -> None:
        message = self._render_error or "render failed"
        self.status.sync, self.status.message = "Unknown", message
        if revision.sha == self._attempted and not any(t.reason == "manual" for t in triggers):
            return
        self._attempted = revision.sha
        store = self.ctx.store
        reason = _first_reason(triggers).reason
        trace_id = self._start_trace(revision, reason).trace_id
        sync_id = await store.start_sync(
            self.app.name,
            self.cluster.name,
            revision.sha,
            reason,
            trace_id=trace_id,
            dry_run=any(t.dry_run for t in triggers),
        )
        for trigger in triggers:
            trigger.reply.append(sync_id)
        record = await store.finish_sync(sync_id, "Failed", f"RenderFailed: {message}")
        self._remember(record.id, record.result, record.finished_at)
        await self.ctx.event(
            "sync_failed",
            f"render failed, nothing applied: {message}",
            self.app.name,
            self.cluster.name,
            {**_about(revision), "sync_id": sync_id},
        )
        self.ctx.report(
            SyncOutcome(self.app.name, self.cluster.name, revision.sha, False, message, sync_id)
        )

    async def _record_noop(self, revision: Revision, trigger: Trigger) -> None:
        store = self.ctx.store
        self._attempted = revision.sha
        reason = _first_reason([trigger]).reason
        trace_id = self._start_trace(revision, reason).trace_id
        sync_id = await store.start_sync(
            self.app.name, self.cluster.name, revision.sha, reason, trace_id=trace_id
        )
        record = await store.finish_sync(
            sync_id, "Succeeded", "nothing to apply: the cluster already matches this revision"
        )
        self.status.revision = revision.sha
        self._succeeded()
        self._remember(record.id, record.result, record.finished_at)
        self.ctx.report(
            SyncOutcome(self.app.name, self.cluster.name, revision.sha, True, "in sync", sync_id)
        )

    def _succeeded(self) -> None:
        """A sync succeeded: the previous failure's message is history now."""
        self._last_failure = ""
        if self.status.message.startswith("last sync failed: "):
            self.status.message = self.status.message.partition("; ")[2]

    def _remember(self, sync_id: int, result: str, finished_at: datetime | None) -> None:
        self.status.last_sync_id = sync_id
        self.status.last_result = result
        self.status.last_finished_at = finished_at
        trace, self._trace = self._trace, None
        if trace is not None:
            trace.recorded(sync_id)
            trace.finish(result, self.status.message if result == "Failed" else "")

    def _start_trace(self, revision: Revision, trigger: str, dry_run: bool = False) -> SyncTrace:
        """The sync's span (ended by ``_remember``); its trace id goes to history."""
        if self._trace is not None:
            self._trace.finish("Interrupted")
        self._trace = telemetry.current().sync(
            self.app.name,
            self.cluster.name,
            revision,
            trigger,
            dry_run=dry_run,
            repository=self.config.source_of(self.app).url,
        )
        return self._trace

    async def _sync(
        self,
        revision: Revision,
        trigger: Trigger,
        inventory: frozenset[ObjectRef],
        progress: Progress | None = None,
    ) -> None:
        if not self.ctx.accepting:
            return
        async with self.ctx.sync_slots:
            self.ctx.sync_started()
            try:
                if trigger.dry_run:
                    await self._dry_run(revision, trigger)
                else:
                    await self._run_sync(revision, trigger, inventory, progress)
            finally:
                self.ctx.sync_ended()

    async def _dry_run(self, revision: Revision, trigger: Trigger) -> None:
        """Record what a sync would change (fleet.runtime.dryrun); change nothing."""
        store = self.ctx.store
        sync_id = await store.start_sync(
            self.app.name, self.cluster.name, revision.sha, trigger.reason, dry_run=True
        )
        trigger.reply.append(sync_id)
        outcome: DryRunOutcome | None = None
        try:
            outcome = await dry_run(self, revision)
        except KubeError as error:
            outcome = DryRunOutcome("Failed", f"dry run: {error}", [])
        except Exception as error:  # a bug in a dry run must not stop the worker
            log.exception("dry run of %s on %s failed", self.app.name, self.cluster.name)
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
        store = self.ctx.store
        self._attempted = revision.sha
        trace = self._start_trace(revision, trigger.reason, trigger.dry_run)
        sync_id = await store.start_sync(
            self.app.name,
            self.cluster.name,
            revision.sha,
            trigger.reason,
            dry_run=trigger.dry_run,
            trace_id=trace.trace_id,
            resumed_from=trigger.resumed_from if trigger.revision == revision.sha else None,
        )
        trigger.reply.append(sync_id)
        self.retries.starting(trigger)
        if progress is None and trigger.progress and trigger.revision == revision.sha:
            progress = _resumable(trigger.progress)
        self.status.operation, self.status.step = "Syncing", ""
        options = self._options(confirm_prune=trigger.confirm_prune)
        # Healing drift re-applies what drifted; hooks belong to a revision's rollout and
        # are not run again because someone scaled a Deployment by hand.
        desired = self._tracked() if trigger.reason == "drift" else self._desired
        job = SyncJob(
            app=self.app.name,
            cluster=self.cluster.name,
            revision=revision.sha,
            desired=desired,
            inventory=inventory,
            options=options,
            render_error=self._render_error,
        )
        journal = _Journal(self, sync_id)
        executor = SyncExecutor(
            job, self.runtime.client, self.runtime.cache, journal, clock=self.ctx.clock
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
        journal: _Journal,
        crash: Exception | None = None,
    ) -> None:
        store = self.ctx.store
        self.status.operation, self.status.step = "", ""
        retrying = False
        if verdict is None:
            # No verdict: the daemon is stopping (cancelled), or a bug broke the sync.
            result, message = (
                ("Failed", f"internal error: {type(crash).__name__}: {crash}")
                if crash is not None
                else ("Interrupted", "the daemon stopped")
            )
            record = await store.finish_sync(sync_id, result, message)
            self._remember(record.id, record.result, record.finished_at)
            return
        if journal.applied_at is not None:
            await store.mark_applied(sync_id, journal.applied_at)
        await store.replace_inventory(
            self.app.name, self.cluster.name, dict.fromkeys(verdict.inventory, revision.sha)
        )
        if isinstance(verdict, Succeeded):
            await store.mark_healthy(sync_id, _at(verdict.healthy_at))
            message = "; ".join(verdict.warnings)
            kept = [f"{c.ref} ({c.reason})" for c in verdict.kept] if verdict.kept else []
            if kept:
                message = (message + "; " if message else "") + "kept: " + ", ".join(kept[:10])
            record = await store.finish_sync(sync_id, "Succeeded", message)
            self.status.revision = revision.sha
            self.status.sync, self.status.health, self.status.message = "Synced", "Healthy", ""
            self._succeeded()
            self.retries.succeeded()
            self._drift_reported = None
            self._degraded_reported = False
            await self.ctx.event(
                "sync_succeeded",
                message or "synced and healthy",
                self.app.name,
                self.cluster.name,
                {**_about(revision), "sync_id": sync_id},
            )
        else:
            # The failed objects' rows first: a finished sync is never written again.
            await self._record_failed_objects(sync_id, verdict)
            record = await store.finish_sync(sync_id, "Failed", verdict.message)
            self.status.message = verdict.message
            self._last_failure = verdict.message[:500]
            await self._record_failure(sync_id, revision, verdict)
            retrying = await self._retry_later(sync_id, revision, verdict)
            if self.runtime.reachable is False or "unreachable" in verdict.message.lower():
                # Not the revision's fault: try it again when the cluster is back.
                self._attempted = None
                self._note_reachability()
        self._remember(record.id, record.result, record.finished_at)
        if retrying:
            return  # the rollout hears how the retries end: the cluster is on its way
        self.ctx.report(
            SyncOutcome(
                self.app.name,
                self.cluster.name,
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
        policy, reachable = self._options().retry, self.runtime.reachable
        retry = self.retries.failed(revision.sha, verdict, policy, reachable)
        if retry.retry:
            await self.ctx.event(
                "sync_retrying",
                self.retries.announcement(retry, policy, reachable)[:2000],
                self.app.name,
                self.cluster.name,
                {**_about(revision), "sync_id": sync_id, "delay": round(retry.delay, 3)},
            )
        return retry.retry and reachable is not False

    async def _record_failed_objects(self, sync_id: int, verdict: Failed) -> None:
        rows = [
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
        if rows:
            await self.ctx.store.record_results(sync_id, rows)

    async def _record_failure(self, sync_id: int, revision: Revision, verdict: Failed) -> None:
        refused = [f for f in verdict.failures if f.reason == "PruneRefused"]
        if refused:
            await self.ctx.event(
                "prune_refused",
                "; ".join(str(f) for f in refused),
                self.app.name,
                self.cluster.name,
                {**_about(revision), "sync_id": sync_id},
            )
        await self.ctx.event(
            "sync_failed",
            verdict.message[:2000],
            self.app.name,
            self.cluster.name,
            {**_about(revision), "sync_id": sync_id},
        )

    async def delete_objects(self) -> bool:
        """Delete everything the app owns on the cluster (deletionPolicy: delete).

        The engine prunes the whole inventory, in mirrored wave order, with the same
        ownership checks and protections as any prune; True when it succeeded.
        """
        inventory = await self._inventory()
        if not inventory:
            return True
        options = self._options(prune=True, allow_empty=True, confirm_prune=True)
        store = self.ctx.store
        revision = self.status.revision or "-"
        sync_id = await store.start_sync(self.app.name, self.cluster.name, revision, "config")
        job = SyncJob(
            app=self.app.name,
            cluster=self.cluster.name,
            revision=revision,
            desired=self._desired,
            inventory=inventory,
            options=options,
            deleting=True,
        )
        journal = _Journal(self, sync_id)
        verdict: Verdict | None = None
        try:
            verdict = await SyncExecutor(
                job, self.runtime.client, self.runtime.cache, journal, clock=self.ctx.clock
            ).run()
        finally:
            with anyio.CancelScope(shield=True):
                if verdict is None:
                    await store.finish_sync(sync_id, "Interrupted", "the daemon stopped")
                elif isinstance(verdict, Succeeded):
                    await store.finish_sync(sync_id, "Succeeded", "app removed: objects deleted")
                    await store.delete_inventory(self.app.name, self.cluster.name)
                else:
                    await store.finish_sync(sync_id, "Failed", verdict.message)
        return isinstance(verdict, Succeeded)


class _Journal:
    """Feeds a running sync's progress and resource rows to history and the status."""

    def __init__(self, worker: Worker, sync_id: int) -> None:
        self.worker = worker
        self.sync_id = sync_id
        self.applied_at: datetime | None = None
        self._saved: Progress | None = None

    async def progress(self, progress: Progress, status: Running) -> None:
        self.worker.status.step = status.message or f"{status.phase} wave {status.wave}"
        if progress == self._saved:
            return  # most waits end with nothing new to remember: no write
        await self.worker.ctx.store.save_progress(self.sync_id, json.loads(progress.to_json()))
        self._saved = progress

    async def resources(self, rows: Sequence[ResourceRow]) -> None:
        results = []
        for row in rows:
            live = self.worker.runtime.cache.get(row.ref)
            health = row.health
            if health is None and live is not None and row.action == "hook":
                # A hook's health is how it ends (Running, Succeeded, Failed), not a
                # workload's: a Job that ran to completion is not "Progressing".
                health = str(hook_state(live, self.worker._options().health_rules).outcome)
            elif health is None and live is not None and row.action in ("created", "configured"):
                health = str(app_health([(row.ref, live)]).status)
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
        await self.worker.ctx.store.record_results(self.sync_id, results)


def _resumable(saved: str) -> Progress | None:
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


def _first_reason(triggers: Sequence[Trigger]) -> Trigger:
    """The trigger a sync is recorded under: the most specific one."""
    order = (
        "manual",
        "rollback",
        "pin",
        "unpin",
        "startup",
        "webhook",
        "poll",
        "resume",
        "config",
        "drift",
    )
    ranked = sorted(triggers, key=lambda t: order.index(t.reason) if t.reason in order else 99)
    return ranked[0] if ranked else Trigger("poll")


def _about(revision: Revision) -> dict[str, str]:
    """What an event says about a revision: enough for a notification to name it."""
    return {
        "revision": revision.sha,
        "commit_message": revision.summary,
        "author": revision.author,
    }


def _at(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)
