"""What a watched cluster's health means for its rollout while its wave soaks.

A soak that only waits lets a revision that breaks an hour after its sync reach the
next wave. fleet watches every cluster of a wave that is syncing or soaking (the ones
``plan_rollout`` lists in ``RolloutDecision.watch``); when one of them turns Degraded, or
OutOfSync (something took it away from what Git says), it counts as failed, exactly like
a failed sync: against the wave's failure budget, and towards a halt.

Unknown does not count: it means the daemon cannot see the cluster (it is unreachable),
which says nothing about the revision. Progressing and Missing do not count on their own
(a Missing object also makes the app OutOfSync, which does).
"""

from __future__ import annotations

from collections.abc import Mapping

from fleet.engine.rollout import ClusterProgress, ClusterRollout

#: Health values that fail a soak.
FAILING_HEALTH = frozenset({"Degraded"})
#: Sync statuses that fail a soak.
FAILING_SYNC = frozenset({"OutOfSync"})


def soak_failure(sync: str, health: str) -> str | None:
    """Why a watched cluster with this sync status and health fails its soak, or None."""
    if health in FAILING_HEALTH:
        return f"turned {health} during the soak"
    if sync in FAILING_SYNC:
        return f"turned {sync} during the soak"
    return None


def soak_failures(
    watch: tuple[str, ...],
    observed: Mapping[str, tuple[str, str]],
    progress: Mapping[str, ClusterProgress],
    now: float,
) -> dict[str, ClusterProgress]:
    """The watched clusters that now count as failed, with their new progress.

    ``observed`` maps a cluster to its (sync status, health); a cluster not observed, or
    not succeeded (any more), is left alone.
    """
    failed: dict[str, ClusterProgress] = {}
    for cluster in watch:
        current = progress.get(cluster)
        if current is None or current.state is not ClusterRollout.SUCCEEDED:
            continue
        if cluster not in observed:
            continue
        reason = soak_failure(*observed[cluster])
        if reason is not None:
            failed[cluster] = ClusterProgress(ClusterRollout.FAILED, finished_at=now, reason=reason)
    return failed
