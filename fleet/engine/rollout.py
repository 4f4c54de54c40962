"""The cross-cluster rollout of one revision of one app: which clusters may sync now.

Rancher Fleet gates partitions on readiness only and silently skips clusters in no
partition; Argo CD's RollingSync gates steps on health and never syncs unmatched apps.
fleet plans one ordered rollout per app: cluster waves in order, at most
``max_parallel`` clusters syncing at once in a wave, at most ``max_unavailable`` clusters
syncing or failed at once, a soak time after a wave is healthy before the rollout goes
on, and a failure budget that halts the rollout once exceeded (optionally asking the
runtime to roll back every cluster that took the revision). Every targeted cluster
belongs to exactly one wave; the config validator refuses anything else, and so does
``check_coverage``.

A soak is not a timer: while a wave soaks (and while it is still syncing), the clusters
of that wave that already succeeded are *watched* (``RolloutDecision.watch``); the
runtime reports one that turns Degraded or OutOfSync as failed (see
``fleet.engine.soak``), and it counts against the wave's failure budget like a failed
sync. The last wave soaks too: the rollout is complete once it has stayed healthy.

Pure: given the waves, what each cluster has done for this rollout, the waves the user
promoted past their soak, and the time, it returns a decision. The runtime calls it
again whenever a cluster's sync ends, a watched cluster's health changes or a soak
deadline passes.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
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
    #: Why it failed (a failed sync, or health lost during the soak).
    reason: str = ""


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
    #: On halt, ask the runtime to return the clusters that took the revision to the last
    #: revision that was healthy on each of them.
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
    #: The wave the rollout is in (its index), or None when complete.
    wave: int | None = None
    #: Call again at this time (end of a soak), if nothing else happens before.
    wake_at: float | None = None
    reason: str = ""
    #: On a halt with rollback_on_halt: clusters to return to their last good revision.
    roll_back: tuple[str, ...] = field(default=())
    #: Clusters whose health still counts (succeeded, in a wave not yet past its soak).
    watch: tuple[str, ...] = field(default=())


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


def _state(progress: Mapping[str, ClusterProgress], cluster: str) -> ClusterProgress:
    return progress.get(cluster, ClusterProgress())


def _in(
    wave: RolloutWave, progress: Mapping[str, ClusterProgress], state: ClusterRollout
) -> list[str]:
    return [c for c in wave.clusters if _state(progress, c).state is state]


def soak_end(
    plan: RolloutPlan,
    index: int,
    progress: Mapping[str, ClusterProgress],
    promoted: Collection[str] = (),
) -> float | None:
    """When wave ``index`` stops soaking (None: it does not soak, or no longer needs to).

    A wave soaks once none of its clusters is pending or syncing, for ``soak_seconds``
    after its last cluster finished; not when the user promoted it, and not once a later
    wave has started (the rollout already went on).
    """
    wave = plan.waves[index]
    if wave.soak_seconds <= 0 or wave.name in promoted:
        return None
    if _in(wave, progress, ClusterRollout.PENDING) or _in(wave, progress, ClusterRollout.SYNCING):
        return None
    if any(
        _state(progress, c).state is not ClusterRollout.PENDING
        for later in plan.waves[index + 1 :]
        for c in later.clusters
    ):
        return None
    finished = [_state(progress, c).finished_at for c in wave.clusters]
    return max((f for f in finished if f is not None), default=0.0) + wave.soak_seconds


def plan_rollout(
    plan: RolloutPlan,
    progress: Mapping[str, ClusterProgress],
    now: float,
    promoted: Collection[str] = (),
) -> RolloutDecision:
    """The next decision for the rollout, given each cluster's progress (absent = pending).

    ``promoted`` names the waves the user let skip their soak.
    """
    for index, wave in enumerate(plan.waves):
        failed = _in(wave, progress, ClusterRollout.FAILED)
        if len(failed) > wave.failure_budget:
            return _halt(plan, progress, index, wave, failed)
        pending = _in(wave, progress, ClusterRollout.PENDING)
        syncing = len(_in(wave, progress, ClusterRollout.SYNCING))
        watch = tuple(_in(wave, progress, ClusterRollout.SUCCEEDED))
        if pending or syncing:
            room = len(wave.clusters) if wave.max_parallel is None else wave.max_parallel
            room -= syncing
            if wave.max_unavailable is not None:
                room = min(room, wave.max_unavailable - syncing - len(failed))
            start = tuple(pending[: max(0, room)])
            return RolloutDecision(RolloutStatus.PROGRESSING, start=start, wave=index, watch=watch)
        ends = soak_end(plan, index, progress, promoted)
        if ends is not None and now < ends:
            return RolloutDecision(
                RolloutStatus.SOAKING,
                wave=index,
                wake_at=ends,
                reason=f"wave {wave.name} soaking: it must stay healthy until its soak ends",
                watch=watch,
            )
    return RolloutDecision(RolloutStatus.COMPLETE)


def _halt(
    plan: RolloutPlan,
    progress: Mapping[str, ClusterProgress],
    index: int,
    wave: RolloutWave,
    failed: Sequence[str],
) -> RolloutDecision:
    why = [
        f"{c} ({_state(progress, c).reason})" if _state(progress, c).reason else c for c in failed
    ]
    reason = (
        f"wave {wave.name}: {len(failed)} cluster(s) failed ({', '.join(why)}), "
        f"over its failure budget of {wave.failure_budget}"
    )
    roll_back: tuple[str, ...] = ()
    if plan.rollback_on_halt:
        # Every cluster that took the revision, whether it synced, failed or is still at
        # it: a failed sync may have applied part of the revision.
        roll_back = tuple(
            c
            for w in plan.waves
            for c in w.clusters
            if _state(progress, c).state is not ClusterRollout.PENDING
        )
    return RolloutDecision(RolloutStatus.HALTED, wave=index, reason=reason, roll_back=roll_back)


@dataclass(frozen=True, slots=True)
class WaveReport:
    """One wave as ``fleet rollout status`` shows it."""

    name: str
    done: tuple[str, ...]
    in_progress: tuple[str, ...]
    pending: tuple[str, ...]
    #: (cluster, why) of each failed cluster.
    failed: tuple[tuple[str, str], ...]
    soak_seconds: float
    #: Seconds of soak left while the wave soaks, else None.
    soak_left: float | None
    failure_budget: int

    @property
    def budget_used(self) -> int:
        return len(self.failed)


def wave_reports(
    plan: RolloutPlan,
    progress: Mapping[str, ClusterProgress],
    now: float,
    promoted: Collection[str] = (),
) -> tuple[WaveReport, ...]:
    """Where every wave stands: clusters done, in progress, pending, failed; soak left."""
    reports = []
    for index, wave in enumerate(plan.waves):
        ends = soak_end(plan, index, progress, promoted)
        reports.append(
            WaveReport(
                name=wave.name,
                done=tuple(_in(wave, progress, ClusterRollout.SUCCEEDED)),
                in_progress=tuple(_in(wave, progress, ClusterRollout.SYNCING)),
                pending=tuple(_in(wave, progress, ClusterRollout.PENDING)),
                failed=tuple(
                    (c, _state(progress, c).reason)
                    for c in _in(wave, progress, ClusterRollout.FAILED)
                ),
                soak_seconds=wave.soak_seconds,
                soak_left=None if ends is None or now >= ends else ends - now,
                failure_budget=wave.failure_budget,
            )
        )
    return tuple(reports)
