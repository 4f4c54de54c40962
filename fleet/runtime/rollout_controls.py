"""What users ask of a rollout, and the bookkeeping the coordinator shares with it.

The coordinator (fleet.runtime.rollouts) moves clusters; this base holds its state and
the requests that come through the API: pins and unpins (``set_pins``), ``fleet
rollback`` (``roll_back``), ``fleet rollout resume|abort|promote`` and ``status``; and
what persists across restarts (holds and halted/aborted states in the history store),
the ``rollback`` event, and the history lookup of a cluster's last healthy revision.
Every user action ends a halt or an abort: a user acted.
"""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from anyio.abc import TaskGroup

from fleet.adapters.git import Revision
from fleet.adapters.telemetry import context as telemetry
from fleet.engine.rollback import PastSync, last_healthy_revision
from fleet.engine.rollout import (
    ClusterProgress,
    ClusterRollout,
    RolloutDecision,
    RolloutStatus,
    plan_rollout,
)
from fleet.runtime.rollout_state import ABORTED, HOLD_ON_HALT, HOLD_ROLLBACK, AppRollout, Held
from fleet.runtime.worker import EventSink

if TYPE_CHECKING:
    from fleet.adapters.store import AsyncHistoryStore

log = logging.getLogger(__name__)

#: (app, revision spec) -> the resolved revision of the app's source (raises on failure).
Resolver = Callable[[str, str], Awaitable[Revision]]
#: (app, cluster) -> None when the cluster may start now, else (look again at, why).
StartGate = Callable[[str, str], "tuple[float, str] | None"]


class RolloutActionError(Exception):
    """A user's rollout request that does not apply now (the message says why)."""


class RolloutControls(ABC):
    """The coordinator's state, and what users ask of it (see the module docstring)."""

    def __init__(
        self,
        tasks: TaskGroup,
        event: EventSink,
        clock: Callable[[], float] = time.time,
        *,
        store: AsyncHistoryStore | None = None,
        resolve: Resolver | None = None,
        watch_interval: float = 0.5,
    ) -> None:
        self._tasks = tasks
        self._event = event
        self._clock = clock
        self._store = store
        self._resolve = resolve
        self.watch_interval = watch_interval
        #: Set by the sync windows (fleet.runtime.holds): see the module docstring.
        self.start_gate: StartGate | None = None
        self.rollouts: dict[str, AppRollout] = {}
        self._saved: dict[str, dict[str, Any]] = {}

    # -- provided by the coordinator ---------------------------------------------------

    @abstractmethod
    def _retarget(
        self,
        rollout: AppRollout,
        reason: str,
        *,
        revision: Revision | None = None,
        now: bool = False,
        user: bool = False,
    ) -> dict[str, list[str]]:
        """Point ``rollout`` at a new target; the clusters started, by reason."""

    @abstractmethod
    def _step(self, rollout: AppRollout) -> list[str]:
        """Start what the planner allows now; the clusters started."""

    # -- shared ------------------------------------------------------------------------

    def _decide(self, rollout: AppRollout) -> RolloutDecision:
        """What the planner (fleet.engine.rollout) says the rollout does now."""
        return plan_rollout(rollout.plan, rollout.progress, self._clock(), rollout.promoted)

    async def _forget_stored(self, app: str, clusters: list[str], state: bool) -> None:
        assert self._store is not None
        for cluster in clusters:
            await self._store.release_holds(app, cluster)
        if state:
            await self._store.clear_rollout_state(app)

    async def _resolved(self, app: str, spec: str) -> Revision:
        if self._resolve is None:
            raise LookupError("no resolver")
        return await self._resolve(app, spec)

    # -- user actions ------------------------------------------------------------------

    def set_pins(
        self,
        app: str,
        clusters: Sequence[str],
        revision: Revision | None,
        *,
        now: bool = False,
    ) -> dict[str, list[str]]:
        """Pin ``clusters`` to ``revision`` (None: unpin them, and lift their holds)."""
        rollout = self._rollout(app)
        for cluster in clusters:
            if revision is None:
                rollout.pins.pop(cluster, None)
            else:
                rollout.pins[cluster] = revision
        lifted = [c for c in clusters if rollout.holds.pop(c, None) is not None]
        self._user_acted(rollout, lifted)
        reason = "pin" if revision is not None else "unpin"
        return self._retarget(
            rollout, reason, revision=revision or rollout.head, now=now, user=True
        )

    async def roll_back(
        self, app: str, targets: Mapping[str, Revision], *, now: bool = False
    ) -> dict[str, list[str]]:
        """Take ``targets``' clusters back to their revisions and hold them there."""
        rollout = self._rollout(app)
        base = rollout.head.sha if rollout.head else ""
        for cluster, revision in targets.items():
            rollout.holds[cluster] = Held(revision, HOLD_ROLLBACK, base)
            if self._store is not None:
                await self._store.hold(app, cluster, revision.sha, HOLD_ROLLBACK, base)
        self._user_acted(rollout, [])
        first = next(iter(targets.values()), None)
        answer = self._retarget(rollout, "rollback", revision=first, now=now, user=True)
        await self._announce_rollback(rollout, dict(targets), "fleet rollback")
        return answer

    async def resume(self, app: str) -> None:
        rollout = self._rollout(app)
        if not (rollout.halted or rollout.aborted):
            raise RolloutActionError(f"the rollout of {app} is {rollout.status}: nothing to resume")
        lifted = [c for c, h in rollout.holds.items() if h.reason == HOLD_ON_HALT]
        for cluster in lifted:
            del rollout.holds[cluster]
        failed = [c for c, p in rollout.progress.items() if p.state is ClusterRollout.FAILED]
        for cluster in failed:
            # Tried and failed: the worker would not try the same revision again by itself.
            rollout.progress[cluster] = ClusterProgress()
            rollout.forced.add(cluster)
        self._user_acted(rollout, lifted, fresh=False)
        await self._event(
            "rollout_resumed",
            f"rollout of {app} resumed"
            + (f"; retrying {', '.join(sorted(failed))}" if failed else ""),
            app,
            None,
            {"revision": rollout.revision.sha if rollout.revision else None},
        )
        self._retarget(rollout, rollout.reason, revision=rollout.revision)

    async def abort(self, app: str) -> None:
        rollout = self._rollout(app)
        if rollout.aborted or rollout.status in (str(RolloutStatus.COMPLETE), "Idle"):
            raise RolloutActionError(f"the rollout of {app} is {rollout.status}: nothing to abort")
        rollout.aborted, rollout.halted = True, False
        pending = sorted(
            c for c, p in rollout.progress.items() if p.state is ClusterRollout.PENDING
        )
        rollout.halt_reason = "aborted by a user" + (
            f"; {', '.join(pending)} stay where they are" if pending else ""
        )
        rollout.generation += 1
        await self._persist(rollout)
        sha = rollout.revision.sha if rollout.revision else None
        telemetry.current().rollout_ended(app, sha, ABORTED, rollout.halt_reason)
        await self._event(
            "rollout_aborted",
            f"rollout of {app} aborted: {rollout.halt_reason}",
            app,
            None,
            {"revision": sha, "pending": pending},
        )
        self._step(rollout)

    async def promote(self, app: str) -> str:
        """Skip the current wave's soak; the wave's name."""
        rollout = self._rollout(app)
        decision = self._decide(rollout)
        if rollout.halted or rollout.aborted or decision.status is not RolloutStatus.SOAKING:
            raise RolloutActionError(f"the rollout of {app} is {rollout.status}: no soak to skip")
        assert decision.wave is not None
        wave = rollout.plan.waves[decision.wave].name
        rollout.promoted.add(wave)
        await self._event(
            "rollout_promoted",
            f"wave {wave} of {app} promoted: its soak is skipped",
            app,
            None,
            {"wave": wave, "revision": rollout.revision.sha if rollout.revision else None},
        )
        self._step(rollout)
        return wave

    def status(self, app: str) -> dict[str, Any]:
        return self._rollout(app).as_json(self._clock())

    def _rollout(self, app: str) -> AppRollout:
        rollout = self.rollouts.get(app)
        if rollout is None:
            raise KeyError(app)
        return rollout

    def _user_acted(self, rollout: AppRollout, lifted: list[str], *, fresh: bool = True) -> None:
        """A user's pin, unpin, rollback or resume ends a halt or an abort; all but a
        resume (``fresh``) start a new rollout, whose waves were promoted by nobody yet."""
        if fresh:
            rollout.promoted.clear()
        stopped = rollout.halted or rollout.aborted
        rollout.halted = rollout.aborted = False
        rollout.halt_reason = ""
        rollout.rolled_back = {}
        if self._store is not None and (lifted or stopped):
            self._tasks.start_soon(self._forget_stored, rollout.app, lifted, stopped)

    async def _announce_rollback(
        self, rollout: AppRollout, targets: Mapping[str, Revision], why: str
    ) -> None:
        by_revision: dict[str, list[str]] = {}
        for cluster, revision in sorted(targets.items()):
            by_revision.setdefault(revision.short_sha, []).append(cluster)
        where = "; ".join(f"{', '.join(cs)} to {sha}" for sha, cs in by_revision.items())
        await self._event(
            "rollback",
            f"{rollout.app} rolled back ({why}): {where}",
            rollout.app,
            None,
            {
                "revision": next(iter(targets.values())).sha if targets else None,
                "clusters": {c: r.sha for c, r in sorted(targets.items())},
                "by": why,
            },
        )

    async def last_healthy(self, app: str, cluster: str, leaving: str | None) -> str | None:
        """The newest revision that synced healthy on ``cluster``, other than ``leaving``."""
        if self._store is None:
            return None
        records = await self._store.history(app=app, cluster=cluster, result="Succeeded", limit=500)
        return last_healthy_revision(
            (PastSync(r.id, r.app, r.cluster, r.revision, r.result, r.dry_run) for r in records),
            leaving,
        )

    async def _persist(self, rollout: AppRollout) -> None:
        if self._store is None:
            return
        try:
            if rollout.halted or rollout.aborted:
                await self._store.save_rollout_state(rollout.app, rollout.saved_state())
            else:
                await self._store.clear_rollout_state(rollout.app)
        except Exception:
            log.exception("could not record the rollout state of %s", rollout.app)
