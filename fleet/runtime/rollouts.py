"""Carry every change of an app's target across the fleet, wave by wave (fleet.engine.rollout).

The coordinator is the one place that moves a worker to another revision. It keeps, per
app, the revision each cluster should be at (:class:`~fleet.runtime.rollout_state.AppRollout`:
a rollback's hold, else a pin, else the source's newest commit) and where each cluster
stands with it. A commit, a pin, an unpin and a rollback are all the same thing to it: a
change of wanted revisions, released to the clusters as the plan's waves allow, unless
the user said ``--now``. When a worker reports a sync's end, it asks the pure planner
what may start next.

A soak is watched, not slept through: while a wave is syncing or soaking, the workers
of its clusters that succeeded are looked at every ``watch_interval`` seconds, and one
that turns Degraded or OutOfSync counts as failed (fleet.engine.soak). A halt is sticky:
it stops every further release until a user resumes or aborts, or a new commit comes.
With ``rollbackOnHalt`` the clusters that took the revision go back at once to the last
revision that was healthy on each of them (history), synced with trigger ``rollback``,
and are held there (in SQLite) until a new commit or a user acts. A halt, an abort and
the holds survive a restart.

Apps that do not sync automatically get a new commit everywhere at once (it only sets
what "OutOfSync" is measured against); a user's pin, unpin or rollback of such an app
goes in waves and forces each released cluster's sync.

Sync windows (fleet.runtime.holds) plug in through ``start_gate``: a callable
``(app, cluster) -> (retry_at, why) | None`` asked before a cluster is released; a
closed window keeps the cluster pending (the rollout pauses at that point) and the
coordinator looks again at ``retry_at`` (or on ``poke``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import anyio

from fleet.adapters.git import Revision
from fleet.adapters.telemetry import context as telemetry
from fleet.engine.rollout import (
    ClusterProgress,
    ClusterRollout,
    RolloutPlan,
    RolloutStatus,
    single_wave,
)
from fleet.engine.shards import own_starts
from fleet.engine.soak import soak_failures
from fleet.runtime.mailbox import Trigger
from fleet.runtime.rollout_controls import (
    Resolver,
    RolloutActionError,
    RolloutControls,
    StartGate,
)
from fleet.runtime.rollout_state import (
    ABORTED,
    HOLD_ON_HALT,
    AppRollout,
    Held,
)
from fleet.runtime.worker import SyncOutcome, Worker

#: A pin of every cluster of an app (fleet.adapters.store).
ALL_CLUSTERS = "*"

log = logging.getLogger(__name__)

__all__ = ["Resolver", "RolloutActionError", "RolloutCoordinator", "StartGate"]


class RolloutCoordinator(RolloutControls):
    """Moves every app's clusters to their wanted revisions, wave by wave."""

    # -- setup -------------------------------------------------------------------------

    async def load(self) -> None:
        """Read back pins, holds, halts and aborts; call before the apps are registered."""
        if self._store is None:
            return
        store = self._store
        for pin in await store.pins():
            self._saved.setdefault(pin.app, {}).setdefault("unresolved", []).append(
                (pin.cluster, "pin", pin.revision, "")
            )
        for hold in await store.holds():
            self._saved.setdefault(hold.app, {}).setdefault("unresolved", []).append(
                (hold.cluster, hold.reason, hold.revision, hold.base_revision)
            )
        for app, state in (await store.rollout_states()).items():
            self._saved.setdefault(app, {})["state"] = state

    def register(
        self, app: str, plan: RolloutPlan | None, workers: Sequence[Worker], automated: bool
    ) -> None:
        by_cluster = {w.cluster.name: w for w in workers}
        plan = plan or single_wave(sorted(by_cluster))
        rollout = self.rollouts.get(app)
        if rollout is None:
            rollout = AppRollout(app=app, plan=plan, workers=by_cluster, automated=automated)
            saved = self._saved.pop(app, {})
            rollout.unresolved = list(saved.get("unresolved", []))
            rollout.saved = saved.get("state")
            self.rollouts[app] = rollout
            return
        # A config reload: keep what the rollout knows; clusters that left are dropped.
        rollout.plan, rollout.workers, rollout.automated = plan, by_cluster, automated
        for table in (rollout.wanted, rollout.progress, rollout.pins, rollout.holds):
            for cluster in [c for c in table if c not in by_cluster]:
                del table[cluster]
        if rollout.head is not None and not rollout.unresolved:
            self._retarget(rollout, rollout.reason)

    def forget(self, app: str) -> None:
        rollout = self.rollouts.pop(app, None)
        if rollout is not None:
            rollout.generation += 1

    def poke(self, app: str | None = None) -> None:
        """Look again at what may start (a sync window opened)."""
        for name, rollout in list(self.rollouts.items()):
            if app is None or name == app:
                self._step(rollout)

    # -- inputs ------------------------------------------------------------------------

    def new_revision(self, app: str, revision: Revision, reason: str) -> None:
        """The app's source has ``revision`` as its newest commit."""
        rollout = self.rollouts.get(app)
        if rollout is None:
            return
        if rollout.head is not None and rollout.head.sha == revision.sha:
            return
        first = rollout.head is None
        rollout.head = revision
        if rollout.unresolved:
            if not rollout.resolving:  # the task started takes the newest head at its end
                rollout.resolving = True
                self._tasks.start_soon(self._resolve_saved, rollout, reason)
        elif first:
            self._start(rollout, reason)
        else:
            self._new_commit(rollout, revision, reason)

    def _start(self, rollout: AppRollout, reason: str) -> None:
        """The first revision after a start: a halt or abort of that revision goes on."""
        head = rollout.head
        assert head is not None
        saved, rollout.saved = rollout.saved, None
        if saved is None or saved.get("head") != head.sha:
            self._new_commit(rollout, head, reason, stored_state=saved is not None)
            return
        rollout.restore_flags(saved)
        log.warning(
            "app %s: the rollout is still %s after the restart: %s",
            rollout.app,
            "aborted" if rollout.aborted else "halted",
            rollout.halt_reason,
        )
        self._retarget(rollout, reason, revision=head)
        rollout.restore_progress(saved)
        self._step(rollout)

    def _new_commit(
        self, rollout: AppRollout, revision: Revision, reason: str, *, stored_state: bool = False
    ) -> None:
        """A commit ends a halt or an abort, and lifts the holds it supersedes."""
        lifted = [c for c, h in rollout.holds.items() if h.base != revision.sha]
        for cluster in lifted:
            del rollout.holds[cluster]
        was_stopped = rollout.halted or rollout.aborted or stored_state
        rollout.halted = rollout.aborted = False
        rollout.halt_reason = ""
        rollout.rolled_back = {}
        rollout.promoted.clear()
        if self._store is not None and (lifted or was_stopped):
            self._tasks.start_soon(self._forget_stored, rollout.app, lifted, was_stopped)
        self._retarget(rollout, reason, revision=revision)

    async def _resolve_saved(self, rollout: AppRollout, reason: str) -> None:
        """Resolve the pins and holds read at startup, now that the source is fetched."""
        every = sorted(rollout.workers)
        for cluster, kind, sha, base in sorted(rollout.unresolved):
            if cluster not in rollout.workers and cluster != ALL_CLUSTERS:
                continue
            try:
                revision = await self._resolved(rollout.app, sha)
            except Exception as error:
                log.error(
                    "app %s on %s: the %s revision %s cannot be read (%s); following Git",
                    rollout.app,
                    cluster,
                    kind,
                    sha[:12],
                    error,
                )
                continue
            if kind == "pin":
                # A cluster's own pin wins over the app-wide one ("*", sorted first).
                for name in every if cluster == ALL_CLUSTERS else [cluster]:
                    rollout.pins[name] = revision
            elif cluster in rollout.workers:
                rollout.holds[cluster] = Held(revision, kind, base)
        rollout.unresolved, rollout.resolving = [], False
        self._start(rollout, reason)

    def report(self, outcome: SyncOutcome) -> None:
        rollout = self.rollouts.get(outcome.app)
        if rollout is None:
            return
        wanted = rollout.wanted.get(outcome.cluster)
        if wanted is None or outcome.revision != wanted.sha:
            return
        current = rollout.progress.get(outcome.cluster, ClusterProgress())
        if outcome.ok and current.state is ClusterRollout.SUCCEEDED:
            return  # a self-heal of a cluster already done: its soak does not start over
        state = ClusterRollout.SUCCEEDED if outcome.ok else ClusterRollout.FAILED
        reason = "" if outcome.ok else f"sync {outcome.sync_id} failed"
        rollout.progress[outcome.cluster] = ClusterProgress(state, self._clock(), reason)
        self._step(rollout)

    # -- the rollout -------------------------------------------------------------------

    def _retarget(
        self,
        rollout: AppRollout,
        reason: str,
        *,
        revision: Revision | None = None,
        now: bool = False,
        user: bool = False,
    ) -> dict[str, list[str]]:
        """Recompute every cluster's wanted revision; restart the clusters whose changed.

        Returns the clusters released at once and those left waiting for their wave.
        """
        rollout.generation += 1
        rollout.reason = reason
        if revision is not None and (
            rollout.revision is None or rollout.revision.sha != revision.sha
        ):
            # Other shards' clusters (fleet.runtime.shards): their progress was about the
            # old revision; the new revision's record brings theirs.
            for cluster in [c for c in rollout.progress if c not in rollout.workers]:
                del rollout.progress[cluster]
        if revision is not None:
            rollout.revision = revision
        released: list[str] = []
        changed: list[str] = []
        for cluster, worker in sorted(rollout.workers.items()):
            wanted = rollout.wanted_for(cluster)
            if wanted is None:
                continue
            before = rollout.wanted.get(cluster)
            if before is not None and before.sha == wanted.sha and cluster in rollout.progress:
                continue
            rollout.wanted[cluster] = wanted
            changed.append(cluster)
            if user and not rollout.automated:
                rollout.forced.add(cluster)
            # A rollback on halt restores at once, halted or not.
            held = rollout.holds.get(cluster)
            now_here = now or (held is not None and held.reason == HOLD_ON_HALT)
            if worker.status.revision == wanted.sha:
                # Already there: it only needs to know what to compare against.
                rollout.progress[cluster] = ClusterProgress(ClusterRollout.SUCCEEDED, 0.0)
                rollout.forced.discard(cluster)
                worker.release(wanted, reason)
            elif now_here or (not rollout.automated and not user):
                rollout.progress[cluster] = (
                    ClusterProgress(ClusterRollout.SYNCING)
                    if rollout.automated or user
                    else ClusterProgress(ClusterRollout.SUCCEEDED, 0.0)
                )
                self._release(rollout, cluster)
                released.append(cluster)
            else:
                rollout.progress[cluster] = ClusterProgress()
                if worker.target is None:
                    self._tasks.start_soon(self._keep_current, rollout, cluster)
        if changed and rollout.revision is not None:
            log.info(
                "app %s: rolling out %s (%s) to %s",
                rollout.app,
                rollout.revision.short_sha,
                reason,
                ", ".join(changed),
            )
            telemetry.current().rollout_started(rollout.app, rollout.revision, reason, len(changed))
        started = self._step(rollout)
        waiting = sorted(c for c in changed if rollout.progress[c].state is ClusterRollout.PENDING)
        return {"released": sorted(released + started), "waiting": waiting}

    async def _keep_current(self, rollout: AppRollout, cluster: str) -> None:
        """A cluster left waiting that has no target yet (after a restart) is told the
        revision it is at, so that it is compared, shown and healed while it waits."""
        worker = rollout.workers.get(cluster)
        sha = worker.status.revision if worker is not None else None
        if worker is None or sha is None:
            return
        try:
            current = await self._resolved(rollout.app, sha)
        except Exception as error:
            log.info("app %s on %s: revision %s unreadable: %s", rollout.app, cluster, sha, error)
            return
        waiting = rollout.progress.get(cluster, ClusterProgress()).state is ClusterRollout.PENDING
        if waiting and worker.target is None and rollout.workers.get(cluster) is worker:
            worker.release(current, "poll")

    def _release(self, rollout: AppRollout, cluster: str) -> None:
        worker = rollout.workers[cluster]
        worker.release(rollout.wanted[cluster], rollout.reason)
        if cluster in rollout.forced:
            rollout.forced.discard(cluster)
            worker.mailbox.post(Trigger("manual", detail=f"{rollout.reason} in waves"))

    def _step(self, rollout: AppRollout) -> list[str]:
        """Ask the planner what is next; release it. Returns the clusters released."""
        if rollout.head is None and not rollout.wanted:
            return []
        if rollout.aborted:
            rollout.status, rollout.message = ABORTED, rollout.halt_reason
            return []
        if rollout.halted:
            rollout.status, rollout.message = str(RolloutStatus.HALTED), rollout.halt_reason
            self._rollback_finished(rollout)
            return []
        decision = self._decide(rollout)
        rollout.status, rollout.message = str(decision.status), decision.reason
        if decision.status is RolloutStatus.HALTED:
            self._halt(rollout, decision.reason, decision.roll_back)
            return []
        if decision.status is RolloutStatus.COMPLETE:
            telemetry.current().rollout_ended(rollout.app, None, "Complete")
        released: list[str] = []
        rollout.blocked = {}
        retry_at: float | None = None
        # Another shard's clusters are released by that shard (fleet.runtime.shards).
        for cluster in own_starts(decision.start, rollout.workers):
            closed = self.start_gate(rollout.app, cluster) if self.start_gate else None
            if closed is not None:
                retry_at = closed[0] if retry_at is None else min(retry_at, closed[0])
                rollout.blocked[cluster] = closed[1]
                continue
            rollout.progress[cluster] = ClusterProgress(ClusterRollout.SYNCING)
            self._release(rollout, cluster)
            released.append(cluster)
        if rollout.blocked:
            rollout.message = "waiting: " + "; ".join(
                f"{c}: {why}" for c, why in sorted(rollout.blocked.items())
            )
        wake_at = decision.wake_at
        if retry_at is not None:
            wake_at = retry_at if wake_at is None else min(wake_at, retry_at)
        if wake_at is not None:
            self._tasks.start_soon(self._wake, rollout, rollout.generation, wake_at)
        if (decision.watch or self._syncing(rollout)) and not rollout.watching:
            rollout.watching = True
            self._tasks.start_soon(self._watch, rollout)
        return released

    def remote_progress(self, rollout: AppRollout) -> None:
        """Another shard's clusters moved (fleet.runtime.shards): plan again."""
        if self.rollouts.get(rollout.app) is rollout:
            self._step(rollout)

    def _syncing(self, rollout: AppRollout) -> list[str]:
        return [c for c, p in rollout.progress.items() if p.state is ClusterRollout.SYNCING]

    async def _wake(self, rollout: AppRollout, generation: int, at: float) -> None:
        await anyio.sleep(max(0.0, at - self._clock()))
        if rollout.generation == generation and self.rollouts.get(rollout.app) is rollout:
            self._step(rollout)

    async def _watch(self, rollout: AppRollout) -> None:
        """Look at the workers of the rollout while clusters sync or soak.

        A watched cluster that turns Degraded or OutOfSync fails its soak
        (fleet.engine.soak). A released cluster found already at its revision, with no
        sync running, is done: its worker had nothing to sync (it learnt where it was
        only after the release), so no sync will report it.
        """
        try:
            while self.rollouts.get(rollout.app) is rollout:
                await anyio.sleep(self.watch_interval)
                if rollout.halted or rollout.aborted:
                    return
                settled = self._settle(rollout)
                decision = self._decide(rollout)
                if not (decision.watch or self._syncing(rollout)):
                    if settled:
                        self._step(rollout)
                    if decision.status is RolloutStatus.SOAKING:
                        continue
                    return
                observed = {
                    c: (w.status.sync, w.status.health)
                    for c in decision.watch
                    if (w := rollout.workers.get(c)) is not None and not w.status.operation
                }
                failed = soak_failures(decision.watch, observed, rollout.progress, self._clock())
                for cluster, progress in failed.items():
                    log.warning("app %s on %s: %s", rollout.app, cluster, progress.reason)
                rollout.progress.update(failed)
                if failed or settled:
                    self._step(rollout)
        finally:
            rollout.watching = False

    def _settle(self, rollout: AppRollout) -> bool:
        settled = False
        for cluster in self._syncing(rollout):
            worker, wanted = rollout.workers.get(cluster), rollout.wanted.get(cluster)
            if worker is None or wanted is None or worker.status.operation:
                continue
            if worker.status.revision == wanted.sha and worker.status.last_result == "Succeeded":
                rollout.progress[cluster] = ClusterProgress(ClusterRollout.SUCCEEDED, self._clock())
                settled = True
        return settled

    # -- halts and rollbacks -----------------------------------------------------------

    def _halt(self, rollout: AppRollout, reason: str, roll_back: tuple[str, ...]) -> None:
        rollout.halted, rollout.halt_reason = True, reason
        rollout.generation += 1
        roll_back = tuple(c for c in roll_back if c in rollout.workers)  # this shard's
        sha = rollout.revision.sha if rollout.revision else None
        log.warning("app %s: rollout of %s halted: %s", rollout.app, (sha or "")[:12], reason)
        telemetry.current().rollout_ended(rollout.app, sha, str(RolloutStatus.HALTED), reason)
        self._tasks.start_soon(self._halted, rollout, reason, roll_back)

    async def _halted(self, rollout: AppRollout, reason: str, roll_back: tuple[str, ...]) -> None:
        await self._persist(rollout)
        await self._event(
            "rollout_halted",
            reason,
            rollout.app,
            None,
            {
                "revision": rollout.revision.sha if rollout.revision else None,
                "roll_back": list(roll_back),
            },
        )
        if roll_back:
            await self._roll_back_on_halt(rollout, roll_back)

    async def _roll_back_on_halt(self, rollout: AppRollout, clusters: tuple[str, ...]) -> None:
        generation = rollout.generation
        targets: dict[str, Revision] = {}
        nowhere: list[str] = []
        for cluster in clusters:
            leaving = rollout.wanted.get(cluster)
            sha = await self.last_healthy(rollout.app, cluster, leaving.sha if leaving else None)
            if sha is None:
                nowhere.append(cluster)
                continue
            try:
                targets[cluster] = await self._resolved(rollout.app, sha)
            except Exception as error:
                log.error(
                    "app %s: cannot read revision %s to roll back to: %s", rollout.app, sha, error
                )
                nowhere.append(cluster)
        if rollout.generation != generation or not rollout.halted:
            return  # a commit or a user came first
        base = rollout.head.sha if rollout.head else ""
        for cluster, revision in targets.items():
            rollout.holds[cluster] = Held(revision, HOLD_ON_HALT, base)
            rollout.wanted[cluster] = revision
            rollout.rolled_back[cluster] = revision.sha
            rollout.progress[cluster] = ClusterProgress(ClusterRollout.SYNCING)
            if self._store is not None:
                await self._store.hold(rollout.app, cluster, revision.sha, HOLD_ON_HALT, base)
        if nowhere:
            rollout.halt_reason += (
                f"; not rolled back (no earlier healthy revision): {', '.join(sorted(nowhere))}"
            )
        if targets:
            first = next(iter(targets.values()))
            telemetry.current().rollout_started(rollout.app, first, "rollback", len(targets))
            for cluster in sorted(targets):
                rollout.workers[cluster].release(targets[cluster], "rollback")
            rollout.halt_reason += (
                f"; rolled back {', '.join(sorted(targets))}, held until a new commit or "
                f"`fleet rollout resume {rollout.app}`"
            )
        rollout.message = rollout.halt_reason
        await self._persist(rollout)
        if targets:
            await self._announce_rollback(rollout, targets, "rollbackOnHalt")

    def _rollback_finished(self, rollout: AppRollout) -> None:
        """While halted: end the rollback's trace once every rolled-back cluster reported."""
        if not rollout.rolled_back:
            return
        states = [rollout.progress.get(c, ClusterProgress()).state for c in rollout.rolled_back]
        if all(s in (ClusterRollout.SUCCEEDED, ClusterRollout.FAILED) for s in states):
            result = "Complete" if all(s is ClusterRollout.SUCCEEDED for s in states) else "Failed"
            telemetry.current().rollout_ended(rollout.app, None, result)
