"""The cross-cluster rollout of one revision of one app: which clusters may sync now.

Rancher Fleet gates partitions on readiness only and silently skips clusters in no
partition; Argo CD's RollingSync gates steps on health and never syncs unmatched apps.
fleet plans one ordered rollout per (app, revision): cluster waves in order, at most
``max_parallel`` clusters syncing at once in a wave, at most ``max_unavailable`` clusters
syncing or failed at once, a soak time after a wave is healthy before the next one
starts, and a failure budget that halts the rollout once exceeded (optionally asking the
runtime to roll the finished clusters back). Every targeted cluster belongs to exactly
one wave; the config validator refuses anything else, and so does ``plan_rollout``.

Pure: given the waves, what each cluster has done for this revision, and the time, it
returns a decision. The runtime calls it again whenever a cluster's sync ends or a soak
deadline passes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum


class ClusterRollout(StrEnum):
    """Where one cluster stands in the rollout of the revision."""

    PENDING = "Pending"
    SYNCING = "Syncing"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"


@dataclass(frozen=True, slots=True)
class ClusterProgress:
    state: ClusterRollout = ClusterRollout.PENDING
    #: When the cluster's sync ended (healthy or failed), in the caller's clock (seconds).
    finished_at: float | None = None


@dataclass(frozen=True, slots=True)
class RolloutWave:
    name: str
    clusters: tuple[str, ...]
    max_parallel: int | None = None
    max_unavailable: int | None = None
    soak_seconds: float = 0.0
    #: Clusters of this wave allowed to fail before the whole rollout halts.
    failure_budget: int = 0


@dataclass(frozen=True, slots=True)
class RolloutPlan:
    waves: tuple[RolloutWave, ...]
    #: On halt, ask the runtime to return the clusters that succeeded to the last good revision.
    rollback_on_halt: bool = False


class RolloutStatus(StrEnum):
    PROGRESSING = "Progressing"
    SOAKING = "Soaking"
    HALTED = "Halted"
    COMPLETE = "Complete"


@dataclass(frozen=True, slots=True)
class RolloutDecision:
    status: RolloutStatus
    #: Clusters to start syncing now, in wave order.
    start: tuple[str, ...] = ()
    #: The wave the rollout is in (its index), or None when complete or halted.
    wave: int | None = None
    #: Call again at this time (end of a soak), if nothing else happens before.
    wake_at: float | None = None
    reason: str = ""
    #: On a halt with rollback_on_halt: clusters to return to the last good revision.
    roll_back: tuple[str, ...] = field(default=())


class RolloutPlanError(ValueError):
    """The waves do not cover the targeted clusters exactly once."""


def single_wave(clusters: Sequence[str]) -> RolloutPlan:
    """The plan when no rollout is configured: every cluster at once."""
    return RolloutPlan(waves=(RolloutWave(name="all", clusters=tuple(sorted(clusters))),))


def check_coverage(plan: RolloutPlan, targets: Sequence[str]) -> None:
    """Every targeted cluster in exactly one wave, and no wave naming a stranger."""
    seen: dict[str, str] = {}
    problems: list[str] = []
    for wave in plan.waves:
        for cluster in wave.clusters:
            if cluster in seen:
                problems.append(f"cluster {cluster} is in waves {seen[cluster]} and {wave.name}")
            seen[cluster] = wave.name
    wanted = set(targets)
    problems += [f"cluster {c} is targeted but in no wave" for c in sorted(wanted - set(seen))]
    problems += [
        f"wave {seen[c]} names {c}, which is not targeted" for c in sorted(set(seen) - wanted)
    ]
    if problems:
        raise RolloutPlanError("; ".join(problems))


def plan_rollout(
    plan: RolloutPlan, progress: Mapping[str, ClusterProgress], now: float
) -> RolloutDecision:
    """The next decision for the rollout, given each cluster's progress (absent = pending)."""

    def state(cluster: str) -> ClusterProgress:
        return progress.get(cluster, ClusterProgress())

    for index, wave in enumerate(plan.waves):
        states = [state(c) for c in wave.clusters]
        failed = [
            c
            for c, s in zip(wave.clusters, states, strict=True)
            if s.state is ClusterRollout.FAILED
        ]
        if len(failed) > wave.failure_budget:
            return _halt(plan, progress, index, wave, failed)
        pending = [
            c
            for c, s in zip(wave.clusters, states, strict=True)
            if s.state is ClusterRollout.PENDING
        ]
        syncing = sum(s.state is ClusterRollout.SYNCING for s in states)
        if pending or syncing:
            room = len(wave.clusters) if wave.max_parallel is None else wave.max_parallel
            room -= syncing
            if wave.max_unavailable is not None:
                room = min(room, wave.max_unavailable - syncing - len(failed))
            start = tuple(pending[: max(0, room)])
            return RolloutDecision(RolloutStatus.PROGRESSING, start=start, wave=index)
        later_started = any(
            state(c).state is not ClusterRollout.PENDING
            for later in plan.waves[index + 1 :]
            for c in later.clusters
        )
        if index + 1 < len(plan.waves) and wave.soak_seconds > 0 and not later_started:
            finished = [s.finished_at for s in states if s.finished_at is not None]
            soak_ends = (max(finished) if finished else now) + wave.soak_seconds
            if now < soak_ends:
                return RolloutDecision(
                    RolloutStatus.SOAKING,
                    wave=index,
                    wake_at=soak_ends,
                    reason=f"wave {wave.name} soaking until its soak time has passed",
                )
    return RolloutDecision(RolloutStatus.COMPLETE)


def _halt(
    plan: RolloutPlan,
    progress: Mapping[str, ClusterProgress],
    index: int,
    wave: RolloutWave,
    failed: Sequence[str],
) -> RolloutDecision:
    reason = (
        f"wave {wave.name}: {len(failed)} cluster(s) failed ({', '.join(failed)}), "
        f"over its failure budget of {wave.failure_budget}"
    )
    roll_back: tuple[str, ...] = ()
    if plan.rollback_on_halt:
        roll_back = tuple(
            c
            for w in plan.waves[: index + 1]
            for c in w.clusters
            if progress.get(c, ClusterProgress()).state is ClusterRollout.SUCCEEDED
        )
    return RolloutDecision(RolloutStatus.HALTED, wave=index, reason=reason, roll_back=roll_back)
