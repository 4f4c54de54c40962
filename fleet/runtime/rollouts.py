"""Carry one app's new revision across the fleet, wave by wave (fleet.engine.rollout).

The coordinator holds, per app, the revision being rolled out and where each cluster
stands with it. When a source moves, it starts a new rollout of that revision; when a
worker reports a sync's end, it asks the pure planner what may start next, and releases
those clusters to their workers. Soak times become timers. A halt is recorded as an
event and stops further releases of that revision (the next commit starts a new
rollout). Clusters already at the revision count as done; pinned clusters are left out.
Apps that do not sync automatically get the revision everywhere at once: it only sets
what "OutOfSync" is measured against.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import anyio
from anyio.abc import TaskGroup

from fleet.adapters.git import Revision
from fleet.adapters.telemetry import context as telemetry
from fleet.engine.rollout import (
    ClusterProgress,
    ClusterRollout,
    RolloutPlan,
    RolloutStatus,
    plan_rollout,
    single_wave,
)
from fleet.runtime.worker import EventSink, SyncOutcome, Worker

log = logging.getLogger(__name__)


@dataclass
class AppRollout:
    app: str
    plan: RolloutPlan
    workers: dict[str, Worker]
    automated: bool
    revision: Revision | None = None
    reason: str = "poll"
    progress: dict[str, ClusterProgress] = field(default_factory=dict)
    status: RolloutStatus = RolloutStatus.COMPLETE
    message: str = ""
    halted_reported: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "app": self.app,
            "revision": self.revision.sha if self.revision else None,
            "status": str(self.status),
            "message": self.message,
            "clusters": {c: str(p.state) for c, p in sorted(self.progress.items())},
        }


class RolloutCoordinator:
    def __init__(
        self, tasks: TaskGroup, event: EventSink, clock: Callable[[], float] = time.time
    ) -> None:
        self._tasks = tasks
        self._event = event
        self._clock = clock
        self.rollouts: dict[str, AppRollout] = {}

    def register(
        self, app: str, plan: RolloutPlan | None, workers: Sequence[Worker], automated: bool
    ) -> None:
        by_cluster = {w.cluster.name: w for w in workers}
        previous = self.rollouts.get(app)
        self.rollouts[app] = AppRollout(
            app=app,
            plan=plan or single_wave(sorted(by_cluster)),
            workers=by_cluster,
            automated=automated,
        )
        if previous is not None and previous.revision is not None:
            self.new_revision(app, previous.revision, previous.reason)

    def forget(self, app: str) -> None:
        self.rollouts.pop(app, None)

    def new_revision(self, app: str, revision: Revision, reason: str) -> None:
        rollout = self.rollouts.get(app)
        if rollout is None:
            return
        if rollout.revision is not None and rollout.revision.sha == revision.sha:
            return
        rollout.revision, rollout.reason = revision, reason
        rollout.halted_reported = False
        if not rollout.automated:
            for worker in rollout.workers.values():
                worker.release(revision, reason)
            rollout.status = RolloutStatus.COMPLETE
            return
        rollout.progress = {
            cluster: ClusterProgress(ClusterRollout.SUCCEEDED, finished_at=0.0)
            if worker.status.revision == revision.sha or worker.status.pinned_revision
            else ClusterProgress()
            for cluster, worker in rollout.workers.items()
        }
        for cluster, progress in rollout.progress.items():
            if progress.state is ClusterRollout.SUCCEEDED:
                # Already there (or pinned): the worker only needs to know what to compare.
                rollout.workers[cluster].release(revision, reason)
        log.info("app %s: rolling out %s (%s)", app, revision.short_sha, revision.summary)
        telemetry.current().rollout_started(app, revision, reason, len(rollout.progress))
        self._step(rollout)

    def report(self, outcome: SyncOutcome) -> None:
        rollout = self.rollouts.get(outcome.app)
        if rollout is None or rollout.revision is None:
            return
        if outcome.revision != rollout.revision.sha or outcome.cluster not in rollout.progress:
            return
        state = ClusterRollout.SUCCEEDED if outcome.ok else ClusterRollout.FAILED
        rollout.progress[outcome.cluster] = ClusterProgress(state, finished_at=self._clock())
        self._step(rollout)

    def _step(self, rollout: AppRollout) -> None:
        assert rollout.revision is not None
        decision = plan_rollout(rollout.plan, rollout.progress, self._clock())
        rollout.status, rollout.message = decision.status, decision.reason
        if decision.status in (RolloutStatus.COMPLETE, RolloutStatus.HALTED):
            telemetry.current().rollout_ended(
                rollout.app, rollout.revision.sha, str(decision.status), decision.reason
            )
        for cluster in decision.start:
            rollout.progress[cluster] = ClusterProgress(ClusterRollout.SYNCING)
            rollout.workers[cluster].release(rollout.revision, rollout.reason)
        if decision.wake_at is not None:
            self._tasks.start_soon(self._wake, rollout, rollout.revision.sha, decision.wake_at)
        if decision.status is RolloutStatus.HALTED and not rollout.halted_reported:
            rollout.halted_reported = True
            log.warning(
                "app %s: rollout of %s halted: %s",
                rollout.app,
                rollout.revision.short_sha,
                decision.reason,
            )
            self._tasks.start_soon(
                self._event,
                "rollout_halted",
                decision.reason,
                rollout.app,
                None,
                {"revision": rollout.revision.sha, "roll_back": list(decision.roll_back)},
            )

    async def _wake(self, rollout: AppRollout, sha: str, at: float) -> None:
        await anyio.sleep(max(0.0, at - self._clock()))
        if rollout.revision is not None and rollout.revision.sha == sha:
            self._step(rollout)
