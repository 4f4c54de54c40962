"""Why an automated sync waits, on the daemon's side: the inputs, the wake-ups, the API.

The decision is pure (fleet.engine.holds); this module gathers what it needs and acts on
the answer:

- suspensions, read from SQLite at start and kept in memory (``fleet suspend``);
- sync windows that apply to the app on the cluster, from the fleet config;
- the state of the apps it depends on, from their workers on the same cluster.

A worker asks :meth:`HoldBoard.hold_automated` before an automated sync or a self-heal;
when held, it keeps its triggers (so the sync, when it comes, is recorded under its real
reason), shows the hold in its status and records drift as usual. Held workers are woken
when the hold may be over: a window's end (a timer), a dependency turning ready (checked
after every reconcile of any worker), ``fleet resume``, a config reload. Manual syncs are
checked when requested (:meth:`HoldBoard.manual_refusals`), so a refusal is the answer
to the request itself.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import anyio
from anyio.abc import TaskGroup

from fleet.adapters.store import ALL_CLUSTERS, AsyncHistoryStore
from fleet.adapters.store.suspensions import ALL_APPS, SuspensionRecord
from fleet.config.windows import windows_for
from fleet.engine.holds import (
    DependencyState,
    Hold,
    HoldInputs,
    HoldKind,
    Suspension,
    SyncKind,
    decide,
)
from fleet.engine.windows import evaluate
from fleet.runtime.mailbox import Trigger

if TYPE_CHECKING:
    from fleet.adapters.git import Revision
    from fleet.config import FleetConfig
    from fleet.runtime.worker import EventSink, Worker

log = logging.getLogger(__name__)

JSON = dict[str, Any]
Key = tuple[str, str]

#: How often a hold with no known end (a window whose end is too far to compute) is
#: looked at again.
RECHECK_SECONDS = 60.0
#: Wake a little after a window's edge, so the edge is behind when the worker looks.
EDGE_MARGIN = 0.05


class HoldRefused(Exception):
    """A suspend or resume that cannot be done as asked (the message says why)."""


class HoldBoard:
    """Holds for every worker of the daemon (one instance, shared via WorkerContext)."""

    def __init__(
        self,
        store: AsyncHistoryStore,
        event: EventSink,
        tasks: TaskGroup,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._event = event
        self._tasks = tasks
        self._clock = clock
        self._config: FleetConfig | None = None
        self._workers: Mapping[Key, Worker] = {}
        #: (app, cluster) -> the workers on that cluster of the apps that depend on it.
        self._dependants: dict[Key, list[Worker]] = {}
        self._suspended: dict[Key, SuspensionRecord] = {}
        self._announced: dict[Key, str] = {}
        self._wakes: dict[Key, float] = {}
        #: Workers the rollout holds a revision back from (a window closed at release).
        self._gated: set[Key] = set()
        #: app -> (generator, why): apps a held generator's removal would delete.
        self._generated: dict[str, tuple[str, str]] = {}

    async def load(self) -> None:
        """Read the suspensions that survived the last run."""
        self._suspended = {(r.app, r.cluster): r for r in await self._store.suspensions()}

    def configure(self, config: FleetConfig, workers: Mapping[Key, Worker]) -> None:
        """A (re)built set of workers and config: refresh their flags, wake held ones."""
        self._config = config
        self._workers = workers
        self._dependants = {}
        for (_, cluster), worker in workers.items():
            for dependency in worker.app.depends_on:
                self._dependants.setdefault((dependency, cluster), []).append(worker)
        for worker in workers.values():
            self._mark_suspended(worker)
            if worker.status.hold is not None:
                worker.mailbox.post(Trigger("config", detail="config reloaded: holds re-checked"))

    # -- inputs and decisions ----------------------------------------------------------

    def now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)

    def suspensions_of(self, app: str, cluster: str) -> list[Suspension]:
        found = []
        for key, scope in (
            ((app, cluster), f"app {app} on cluster {cluster}"),
            ((app, ALL_CLUSTERS), f"app {app} on every cluster"),
            ((ALL_APPS, cluster), f"cluster {cluster}"),
        ):
            record = self._suspended.get(key)
            if record is not None:
                found.append(Suspension(scope, record.reason))
        return found

    def inputs(self, worker: Worker) -> HoldInputs:
        app, cluster = worker.app, worker.cluster
        config = self._config or worker.config
        dependencies = []
        for name in app.depends_on:
            other = self._workers.get((name, cluster.name))
            dependencies.append(
                _dependency_state(other) if other is not None else DependencyState(name, False)
            )
        return HoldInputs(
            app=app.name,
            cluster=cluster.name,
            now=self.now(),
            suspensions=self.suspensions_of(app.name, cluster.name),
            windows=windows_for(config.sync_windows, app, cluster),
            dependencies=dependencies,
        )

    def check(self, worker: Worker, sync: SyncKind, *, force: bool = False) -> Hold | None:
        held = self._generator_hold(worker)
        if held is not None:
            return held
        return decide(self.inputs(worker), sync, force=force)

    # -- held generators (fleet.runtime.generation) --------------------------------------

    def hold_generated(self, reasons: Mapping[str, tuple[str, str]]) -> None:
        """The apps held generators would remove now; those let go are woken."""
        before, self._generated = self._generated, dict(reasons)
        for (app, _), worker in self._workers.items():
            if app in before and app not in self._generated:
                worker.mailbox.post(Trigger("poll", detail="its generator is no longer held"))

    def _generator_hold(self, worker: Worker) -> Hold | None:
        found = self._generated.get(worker.app.name)
        if found is None:
            return None
        return Hold(HoldKind.GENERATOR, found[1], subject=found[0])

    async def hold_for_generator(
        self, worker: Worker, revision: Revision, triggers: Sequence[Trigger]
    ) -> bool:
        """True while the app's generator is held: checked before rendering, since the
        revision that held the generator is the one that lacks the app's folder."""
        hold = self._generator_hold(worker)
        if hold is None:
            if worker.status.hold and worker.status.hold.get("kind") == str(HoldKind.GENERATOR):
                self._show(worker, None)
            return False
        self._show(worker, hold)
        _keep_triggers(worker, triggers)
        await self._announce(worker, hold, revision)
        return True

    def manual_refusals(self, workers: Sequence[Worker], force: bool) -> list[str]:
        """Why a manual sync of these workers is refused (empty: it may run)."""
        refusals = []
        for worker in workers:
            hold = self.check(worker, SyncKind.MANUAL, force=force)
            if hold is None:
                continue
            hint = {
                HoldKind.SUSPENDED: " (resume it, or sync with --force)",
                HoldKind.DEPENDENCY: " (sync the dependency first, or sync with --force)",
                HoldKind.WINDOW: " (the window does not allow manual syncs)",
                HoldKind.GENERATOR: "",
            }[hold.kind]
            refusals.append(f"{worker.cluster.name}: {hold.reason}{hint}")
        return refusals

    def window_closed(self, app: str, cluster: str) -> tuple[float, str] | None:
        """For the rollout coordinator: (when to look again, why) while a window is closed
        to automated syncs of ``app`` on ``cluster``; None when it may start there."""
        config = self._config
        if config is None:
            return None
        try:
            app_entry, cluster_entry = config.app(app), config.cluster(cluster)
        except KeyError:
            return None
        windows = windows_for(config.sync_windows, app_entry, cluster_entry)
        verdict = evaluate(windows, self.now(), manual=False)
        worker = self._workers.get((app, cluster))
        if verdict.allowed:
            self._gated.discard((app, cluster))
            return None
        if worker is not None:
            # The worker is not released, so it would not say why: the gate says it.
            self._gated.add((app, cluster))
            hold = Hold(HoldKind.WINDOW, verdict.reason, verdict.until, verdict.window)
            self._show(worker, hold)
            self._tasks.start_soon(self._announce, worker, hold, None)
        if verdict.until is not None:
            return verdict.until.timestamp() + EDGE_MARGIN, verdict.reason
        return self._clock() + RECHECK_SECONDS, verdict.reason

    # -- the worker's hook -------------------------------------------------------------

    async def hold_automated(
        self,
        worker: Worker,
        revision: Revision,
        out_of_sync: list[str],
        sync_status: str,
        triggers: Sequence[Trigger],
    ) -> bool:
        """True when the automated sync or self-heal this reconcile would start must wait.

        Called after the comparison (so drift is detected and shown either way).
        """
        # The worker's own tests for "a sync would start now" (see Worker.reconcile).
        wants_revision = worker.wants_new_revision(revision)
        heal = (
            sync_status == "OutOfSync"
            and worker.app.sync_policy.self_heal
            and revision.sha == worker.status.revision
            and worker.heal_needed
        )
        if not (wants_revision or heal):
            self._show(worker, None)
            return False
        hold = self.check(worker, SyncKind.AUTOMATED if wants_revision else SyncKind.SELF_HEAL)
        self._show(worker, hold)
        if hold is None:
            return False
        _keep_triggers(worker, triggers)
        await worker.drift.note_drift(revision, out_of_sync, triggers)
        await self._announce(worker, hold, revision)
        self._wake_after_window(worker, hold)
        return True

    def hold_unreachable_sync(self, worker: Worker, triggers: Sequence[Trigger]) -> bool:
        """An automated sync towards a cluster that is not listed yet: held the same way."""
        hold = self.check(worker, SyncKind.AUTOMATED)
        self._show(worker, hold)
        if hold is not None:
            _keep_triggers(worker, triggers)
            self._wake_after_window(worker, hold)
        return hold is not None

    def settled(self, worker: Worker) -> None:
        """After any reconcile: a ready dependency wakes the dependants it holds.

        Not only on a transition: the dependency can turn unready and ready again within
        one reconcile (released a new revision, synced it), holding a dependant meanwhile.
        """
        if not _dependency_state(worker).ready:
            return
        name = worker.app.name
        for other in self._dependants.get(worker.key, ()):
            hold = other.status.hold
            if (
                hold
                and hold.get("kind") == str(HoldKind.DEPENDENCY)
                and hold.get("subject") == name
            ):
                other.mailbox.post(Trigger("poll", detail=f"app {name} is ready on this cluster"))

    def _wake_after_window(self, worker: Worker, hold: Hold) -> None:
        """A window's hold ends by the clock: look again then (or in a while, if unknown)."""
        if hold.kind is HoldKind.WINDOW:
            until = hold.until.timestamp() + EDGE_MARGIN if hold.until else None
            self._wake_at(worker, until or self._clock() + RECHECK_SECONDS)

    def _show(self, worker: Worker, hold: Hold | None) -> None:
        if hold is None and worker.key in self._gated:
            # Nothing waits in the worker, but the rollout holds a revision back from it.
            verdict = evaluate(self.inputs(worker).windows, self.now(), manual=False)
            if verdict.allowed:
                self._gated.discard(worker.key)
            else:
                hold = Hold(HoldKind.WINDOW, verdict.reason, verdict.until, verdict.window)
        worker.status.hold = hold.as_json() if hold is not None else None
        self._mark_suspended(worker)
        if hold is None:
            self._announced.pop(worker.key, None)
            return
        message = worker.status.message
        if not message.startswith(hold.reason):
            worker.status.message = f"{hold.reason}; {message}" if message else hold.reason

    def _mark_suspended(self, worker: Worker) -> None:
        worker.status.suspended = bool(self.suspensions_of(worker.app.name, worker.cluster.name))

    async def _announce(self, worker: Worker, hold: Hold, revision: Revision | None) -> None:
        """One ``sync_held`` event per new reason, not one per reconcile."""
        signature = f"{hold.kind}:{hold.subject}"
        if self._announced.get(worker.key) == signature:
            return
        self._announced[worker.key] = signature
        await self._event(
            "sync_held",
            f"automated sync waits: {hold.reason}",
            worker.app.name,
            worker.cluster.name,
            {"revision": revision.sha if revision else None, "hold": hold.as_json()},
        )

    def _wake_at(self, worker: Worker, at: float) -> None:
        pending = self._wakes.get(worker.key)
        if pending is not None and pending <= at:
            return
        self._wakes[worker.key] = at
        self._tasks.start_soon(self._wake, worker, at)

    async def _wake(self, worker: Worker, at: float) -> None:
        await anyio.sleep(max(0.0, at - self._clock()))
        if self._wakes.get(worker.key) == at:
            del self._wakes[worker.key]
        if self._workers.get(worker.key) is worker:
            worker.mailbox.post(Trigger("poll", detail="a sync window's edge passed"))

    # -- suspend and resume (the API) ----------------------------------------------------

    async def suspend(self, app: str | None, cluster: str | None, reason: str) -> JSON:
        """Suspend an app (everywhere or on one cluster), or a whole cluster."""
        key = self._scope(app, cluster)
        record = await self._store.suspend(key[0], key[1], reason)
        self._suspended[key] = record
        affected = self._affected(app, cluster)
        for worker in affected:
            self._mark_suspended(worker)
        what = _describe_scope(app, cluster)
        await self._event(
            "suspended",
            f"{what} suspended" + (f": {record.reason}" if record.reason else ""),
            app,
            cluster,
            {"reason": record.reason, "scope": what},
        )
        return {"suspended": record.as_json(), "targets": self._targets(affected)}

    async def resume(self, app: str | None, cluster: str | None) -> JSON:
        """Lift a suspension; ``fleet resume APP`` lifts all of the app's own."""
        key = self._scope(app, cluster)
        if app is not None and cluster is not None and (app, ALL_CLUSTERS) in self._suspended:
            raise HoldRefused(
                f"app {app} is suspended on every cluster: `fleet resume {app}` resumes it "
                "everywhere (then suspend the clusters that should stay suspended)"
            )
        if app is not None and cluster is None:
            removed = await self._store.resume_app(app)
            for stale in [k for k in self._suspended if k[0] == app]:
                del self._suspended[stale]
        else:
            removed = await self._store.resume(key[0], key[1])
            self._suspended.pop(key, None)
        affected = self._affected(app, cluster)
        for worker in affected:
            self._mark_suspended(worker)
            if not worker.status.suspended:
                worker.mailbox.post(Trigger("poll", detail="resumed"))
        what = _describe_scope(app, cluster)
        if removed:
            await self._event("resumed", f"{what} resumed", app, cluster, {"scope": what})
        return {"resumed": bool(removed), "targets": self._targets(affected)}

    def suspensions(self) -> list[JSON]:
        return [record.as_json() for _, record in sorted(self._suspended.items())]

    def _scope(self, app: str | None, cluster: str | None) -> Key:
        if app is None and cluster is None:
            raise HoldRefused("name an app, a cluster, or both")
        return (app or ALL_APPS, cluster or ALL_CLUSTERS)

    def _affected(self, app: str | None, cluster: str | None) -> list[Worker]:
        return [
            worker
            for (a, c), worker in sorted(self._workers.items())
            if (app is None or a == app) and (cluster is None or c == cluster)
        ]

    def _targets(self, workers: Sequence[Worker]) -> list[JSON]:
        """Each affected target and whether it is suspended now (and by what)."""
        return [
            {
                "app": w.app.name,
                "cluster": w.cluster.name,
                "suspended": w.status.suspended,
                "by": [s.describe() for s in self.suspensions_of(w.app.name, w.cluster.name)],
            }
            for w in workers
        ]


def _keep_triggers(worker: Worker, triggers: Sequence[Trigger]) -> None:
    """Keep what woke a held worker for its next reconcile, so that the sync, when it
    comes, is recorded under its real reason (a push, a resumed sync), not a wake-up."""
    kept: dict[tuple[str, str | None], Trigger] = {}
    for trigger in triggers:
        if trigger.reason not in ("manual", "drift"):
            kept.setdefault((trigger.reason, trigger.revision), trigger)
    worker.held = list(kept.values())


def _dependency_state(worker: Worker) -> DependencyState:
    status = worker.status
    return DependencyState(
        app=worker.app.name,
        sync=status.sync,
        health=status.health,
        revision=status.revision,
        target_revision=status.target_revision,
        operation=status.operation,
        last_result=status.last_result,
    )


def _describe_scope(app: str | None, cluster: str | None) -> str:
    if app is None:
        return f"cluster {cluster}"
    if cluster is None:
        return f"app {app} (every cluster)"
    return f"app {app} on cluster {cluster}"
