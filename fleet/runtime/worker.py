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

This module holds the loop and the decision; the rest has rooms of its own, each handed
the worker: comparing desired with live (fleet.runtime.comparison), running and
recording a sync (fleet.runtime.syncs, fleet.runtime.journal), noting drift and health
and self-healing (fleet.runtime.drift), and deleting an app's objects
(fleet.runtime.app_deletion). What the daemon shares with every worker is in
fleet.runtime.worker_context, re-exported here.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import anyio

from fleet.adapters.git import Revision
from fleet.adapters.telemetry.logs import describe_error
from fleet.config import App, Cluster, FleetConfig, sync_options
from fleet.engine import SyncOptions
from fleet.model.manifests import Manifest
from fleet.model.refs import ObjectRef
from fleet.runtime.app_deletion import delete_objects
from fleet.runtime.clusters import ClusterRuntime
from fleet.runtime.comparison import DesiredObjects, LiveComparer, read_inventory, watched_kinds
from fleet.runtime.drift import DriftWatch
from fleet.runtime.leadership import NotLeader
from fleet.runtime.leftover_hooks import clean_up_leftover_hooks
from fleet.runtime.mailbox import Mailbox, Trigger
from fleet.runtime.retries import ConfigResync, SyncRetries
from fleet.runtime.status import AppClusterStatus, utc_now
from fleet.runtime.syncs import SyncRunner, first_reason
from fleet.runtime.takeover import check_after_takeover
from fleet.runtime.worker_context import EventSink, SyncOutcome, WorkerContext

__all__ = ["EventSink", "SyncOutcome", "Worker", "WorkerContext"]

log = logging.getLogger(__name__)


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
        #: The target revision rendered, and how it compares with the live cache.
        self.desired = DesiredObjects()
        self.comparer = LiveComparer(app.name, runtime)
        #: The last compare found something a sync would fix.
        self.heal_needed = False
        #: Triggers kept until a revision is released (see ``reconcile``).
        self.held: list[Trigger] = []
        self.syncs = SyncRunner(self)
        self.drift = DriftWatch(self)
        #: A failed sync run again on its own; a resync after a config change.
        self.retries = SyncRetries(ctx.clock)
        self.resync = ConfigResync()
        self.unsubscribe = runtime.cache.subscribe(self._on_change)
        #: After a takeover, the restored inventory has been checked against the cluster.
        self._inventory_checked = False
        #: Hooks a killed sync left holding fleet's finalizer have been cleaned up.
        self._leftovers_cleaned = False

    @property
    def key(self) -> tuple[str, str]:
        return (self.app.name, self.cluster.name)

    def _on_change(self, app: str, ref: ObjectRef, event_type: str) -> None:
        # While a sync runs its own writes come back as events, dozens per sync: one
        # drift trigger waiting is enough (a new one would merge into it anyway).
        if app == self.app.name and not self.mailbox.holds_plain("drift"):
            self.mailbox.post(Trigger("drift", detail=f"{event_type} {ref}"))

    def release(self, revision: Revision, reason: str) -> None:
        """The rollout lets this cluster move to ``revision``."""
        self.target = revision
        self.status.target_revision = revision.sha
        self.status.target_ref = revision.ref
        self.mailbox.post(Trigger(reason, revision=revision.sha))

    # -- the loop ----------------------------------------------------------------------

    async def run(self) -> None:
        await self._load_state()
        while True:
            taken = await self.retries.next_triggers(self.mailbox, self.runtime.reachable)
            triggers = [*self.held, *taken]
            self.held = []
            try:
                await self.reconcile(triggers)
                if (
                    not self._leftovers_cleaned
                    and not self.held
                    and self.runtime.reachability.reachable
                ):
                    # No sync runs now: hooks a killed one left are nobody's (leftover_hooks.py).
                    await clean_up_leftover_hooks(self)
                    self._leftovers_cleaned = True
                if self.ctx.holds is not None:
                    self.ctx.holds.settled(self)  # wakes dependants once this one is ready
            except anyio.get_cancelled_exc_class():
                raise
            except NotLeader as refusal:
                # The leader term ended: the daemon is stopping (fleet.runtime.leadership).
                self.status.message = f"stopped writing: {refusal}"
                await anyio.sleep(1.0)
            except Exception as error:  # one worker's bug must not stop the daemon
                log.exception("app %s on %s: reconcile failed", self.app.name, self.cluster.name)
                self.status.message = f"internal error: {describe_error(error)}"
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

    # -- what the rooms ask of the worker ----------------------------------------------

    def tracked(self) -> list[Manifest]:
        """Desired objects that are resources (not hooks, not skipped)."""
        return self.desired.tracked()

    async def inventory(self) -> frozenset[ObjectRef]:
        """What the app owns on the cluster (fleet.runtime.comparison.read_inventory)."""
        return await read_inventory(self.ctx.store, self.app.name, self.cluster.name, self.runtime)

    def options(self, **overrides: Any) -> SyncOptions:
        """The app's sync options under its current config, with ``overrides``."""
        options = replace(
            sync_options(self.app, self.config.project_of(self.app)),
            secret_digest_key=self.ctx.secret_digest_key,
            custom_health=self.ctx.health_checks,
        )
        return replace(options, **overrides) if overrides else options

    async def compare(
        self, inventory: frozenset[ObjectRef], *, confirm: bool = True
    ) -> tuple[list[str], str, str]:
        """(objects out of sync, sync status, health) of the current desired state.

        A local mismatch is confirmed with the server (a dry-run) unless ``confirm`` is
        off: when a sync follows anyway, its own dry-runs settle it.
        """
        found = await self.comparer.compare(
            self.tracked(), inventory, self.options(), confirm=confirm
        )
        self.heal_needed = found.heal_needed
        return found.out_of_sync, found.sync, found.health

    def wants_new_revision(self, revision: Revision) -> bool:
        """``revision`` is neither tried yet nor the one synced."""
        return revision.sha != self.syncs.attempted and revision.sha != self.status.revision

    def note_reachability(self) -> bool:
        """Show whether the cluster answers; False (status Unknown) while it does not."""
        reach = self.runtime.reachability
        if reach.reachable is False:
            self.status.mark_unreachable(reach.since, reach.message)
            return False
        if reach.reachable:
            self.status.mark_reachable()
        return True

    def show_compared(
        self, revision: Revision, out_of_sync: list[str], sync_status: str, health: str
    ) -> None:
        """Put a comparison in the status, keeping the last failure in view."""
        self.status.sync = sync_status
        self.status.health = health
        self.status.out_of_sync = out_of_sync[:50]
        self.status.target_revision = revision.sha
        self.status.target_ref = revision.ref
        self.status.updated_at = utc_now()
        failure = ""
        if self.status.last_result == "Failed" and self.syncs.last_failure:
            # Keep why the last sync failed in view until a sync succeeds.
            failure = f"last sync failed: {self.syncs.last_failure}"
        if sync_status == "Synced" and not self.status.operation:
            self.status.message = failure
        elif out_of_sync:
            more = f" and {len(out_of_sync) - 3} more" if len(out_of_sync) > 3 else ""
            drift = "out of sync: " + ", ".join(out_of_sync[:3]) + more
            self.status.message = f"{failure}; {drift}" if failure else drift

    async def delete_objects(self) -> bool:
        """Delete everything the app owns on the cluster (deletionPolicy: delete);
        True when it succeeded (fleet.runtime.app_deletion)."""
        return await delete_objects(self)

    # -- decide ------------------------------------------------------------------------

    async def reconcile(self, triggers: Sequence[Trigger]) -> None:
        revision = await self._target_revision()
        if revision is None:
            # Nothing released yet (the source is still being fetched). A re-run after a
            # crash must still be recorded as one when the revision comes: keep it.
            self.held = [t for t in triggers if t.reason == "startup"]
            return
        holds = self.ctx.holds
        if holds is not None and await holds.hold_for_generator(self, revision, triggers):
            return  # its generator is held: the revision lacks its folder, it waits
        await self.desired.render(self.ctx.builder, self.app, self.cluster, revision)
        inventory = await self.inventory()
        kinds = watched_kinds(
            self.desired.manifests, inventory, self.runtime.cache.objects_of(self.app.name)
        )
        self.runtime.ensure_kinds(kinds)
        listed = await self.runtime.wait_listed(kinds, patience=15.0)
        if self.ctx.takeover and not self._inventory_checked and listed:
            # A new leader's restored inventory may be behind the cluster (takeover.py).
            inventory = await check_after_takeover(self, inventory, kinds)
            self._inventory_checked = True
        reached = self.note_reachability()
        manual = [t for t in triggers if t.reason == "manual"]
        syncs = self.syncs
        if self.desired.error is not None:
            await syncs.render_failed(revision, manual or triggers)
            return
        if not (listed and reached):
            if reached:
                self.status.sync, self.status.health = "Unknown", "Unknown"
                self.status.message = "the cluster's objects have not been listed yet"
            if manual or (self.wants_new_revision(revision) and not self._held_back(triggers)):
                await syncs.sync(revision, (manual or triggers)[0], inventory)
            return
        syncing_anyway = self.app.sync_policy.automated and self.wants_new_revision(revision)
        out_of_sync, sync_status, health = await self.compare(
            inventory, confirm=not (manual or syncing_anyway)
        )
        self.show_compared(revision, out_of_sync, sync_status, health)
        await self.drift.note_health(revision, health)
        if manual:
            for trigger in manual:
                await syncs.sync(revision, trigger, inventory)
            return
        if not self.app.sync_policy.automated:
            if not await self._recover(revision, sync_status, inventory):
                await self.drift.note_drift(revision, out_of_sync, triggers)
            return
        holds = self.ctx.holds
        if holds is not None and await holds.hold_automated(
            self, revision, out_of_sync, sync_status, triggers
        ):
            return  # suspended, a window closed, or a dependency not ready: it waits
        if await self._recover(revision, sync_status, inventory):
            return
        if self.wants_new_revision(revision):
            if sync_status == "Synced" and revision.sha != self.status.revision:
                # Nothing to change: the new revision renders what is already live.
                await syncs.record_noop(revision, triggers[0])
                return
            if sync_status == "OutOfSync" or revision.sha != self.status.revision:
                await syncs.sync(revision, first_reason(triggers), inventory)
            return
        if sync_status == "OutOfSync":
            # Heal only towards a revision that synced: healing applies no hooks, so
            # healing a revision whose sync failed would skip the hook that failed it.
            if (
                self.app.sync_policy.self_heal
                and revision.sha == self.status.revision
                and self.heal_needed
            ):
                await self.drift.self_heal(revision, out_of_sync, inventory)
            else:
                await self.drift.note_drift(revision, out_of_sync, triggers)

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
            await self.syncs.sync(revision, self.retries.take(), inventory)
            return True
        changed = self.resync.take() and self.app.sync_policy.automated
        if changed and sync_status == "OutOfSync":
            await self.syncs.sync(revision, Trigger("config", revision=revision.sha), inventory)
            return True
        return False

    async def _target_revision(self) -> Revision | None:
        # Pinned or not, the rollout coordinator releases the target wave by wave
        # (fleet.runtime.rollouts); the pin is read here only to show it.
        self.status.pinned_revision = await self.ctx.store.pinned_revision(
            self.app.name, self.cluster.name
        )
        return self.target
