"""Deployment status: counters over the ReplicaSets, Available and Progressing.

The rules follow kube-controller-manager. ``Available`` is True while at least
``replicas - maxUnavailable`` pods are available. ``Progressing`` records the rollout:
``NewReplicaSetCreated`` / ``FoundNewReplicaSet`` when it starts, ``ReplicaSetUpdated``
(with a fresh lastUpdateTime) whenever a sync sees more updated, ready or available
pods or fewer old ones, ``NewReplicaSetAvailable`` once complete, and
``ProgressDeadlineExceeded`` (status False) when no progress was seen for
``progressDeadlineSeconds``. A paused Deployment says ``DeploymentPaused`` and makes no
progress estimate.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from fleet.sim.controllers.actions import Plan
from fleet.sim.controllers.objects import (
    Obj,
    condition,
    generation_of,
    json_copy,
    name_of,
    parse_time,
    remove_condition,
    rfc3339,
    scaled_value,
    set_condition,
    without_zeros,
)
from fleet.sim.controllers.replicasets import desired_replicas

DEFAULT_PROGRESS_DEADLINE = 600
NO_PROGRESS_DEADLINE = 2**31 - 1


def rollout_limits(deployment: Mapping[str, Any]) -> tuple[int, int]:
    """(maxSurge, maxUnavailable) resolved against spec.replicas; (0, 0) for Recreate."""
    strategy = (deployment.get("spec") or {}).get("strategy") or {}
    if strategy.get("type", "RollingUpdate") != "RollingUpdate":
        return 0, 0
    desired = desired_replicas(deployment)
    params = strategy.get("rollingUpdate") or {}
    surge = scaled_value(params.get("maxSurge"), desired, round_up=True, default="25%")
    unavailable = scaled_value(params.get("maxUnavailable"), desired, round_up=False, default="25%")
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, min(unavailable, desired)


def progress_deadline(deployment: Mapping[str, Any]) -> int | None:
    value = (deployment.get("spec") or {}).get("progressDeadlineSeconds")
    value = DEFAULT_PROGRESS_DEADLINE if value is None else int(value)
    return None if value == NO_PROGRESS_DEADLINE else value


def spec_replicas(rs: Mapping[str, Any]) -> int:
    return int((rs.get("spec") or {}).get("replicas") or 0)


def status_count(rs: Mapping[str, Any] | None, key: str) -> int:
    return int(((rs or {}).get("status") or {}).get(key) or 0)


def deployment_status(
    deployment: Mapping[str, Any],
    rss: Sequence[Obj],
    new: Obj | None,
    conditions: list[Obj],
    now: datetime,
) -> Obj:
    """Counters summed over the ReplicaSets, and the Available condition."""
    _, max_unavailable = rollout_limits(deployment)
    desired = desired_replicas(deployment)
    available = sum(status_count(rs, "availableReplicas") for rs in rss)
    status: Obj = {
        "observedGeneration": generation_of(deployment),
        "replicas": sum(status_count(rs, "replicas") for rs in rss),
        "updatedReplicas": status_count(new, "replicas"),
        "readyReplicas": sum(status_count(rs, "readyReplicas") for rs in rss),
        "availableReplicas": available,
        "unavailableReplicas": max(sum(spec_replicas(rs) for rs in rss) - available, 0),
    }
    conds = json_copy(conditions)
    if available >= desired - max_unavailable:
        set_condition(
            conds,
            "Available",
            "True",
            "MinimumReplicasAvailable",
            "Deployment has minimum availability.",
            now,
            update_time=True,
        )
    else:
        set_condition(
            conds,
            "Available",
            "False",
            "MinimumReplicasUnavailable",
            "Deployment does not have minimum availability.",
            now,
            update_time=True,
        )
    status = without_zeros(status)
    status["conditions"] = conds
    return status


def deployment_complete(deployment: Mapping[str, Any], status: Mapping[str, Any]) -> bool:
    desired = desired_replicas(deployment)
    return (
        int(status.get("updatedReplicas") or 0) == desired
        and int(status.get("replicas") or 0) == desired
        and int(status.get("availableReplicas") or 0) == desired
        and int(status.get("observedGeneration") or 0) >= generation_of(deployment)
    )


def _made_progress(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    def count(status: Mapping[str, Any], key: str) -> int:
        return int(status.get(key) or 0)

    old_pods_before = count(old, "replicas") - count(old, "updatedReplicas")
    old_pods_now = count(new, "replicas") - count(new, "updatedReplicas")
    return (
        count(new, "updatedReplicas") > count(old, "updatedReplicas")
        or old_pods_now < old_pods_before
        or count(new, "readyReplicas") > count(old, "readyReplicas")
        or count(new, "availableReplicas") > count(old, "availableReplicas")
    )


def record_progress(
    status: Obj,
    old_status: Mapping[str, Any],
    deployment: Mapping[str, Any],
    new: Obj | None,
    now: datetime,
    deadline: int,
) -> None:
    conds: list[Obj] = status["conditions"]
    current = condition(conds, "Progressing")
    already_complete = (
        current is not None
        and current.get("reason") == "NewReplicaSetAvailable"
        and int(status.get("replicas") or 0) == int(status.get("updatedReplicas") or 0)
    )
    if already_complete:
        return
    subject = f'ReplicaSet "{name_of(new)}"' if new else f'Deployment "{name_of(deployment)}"'
    if deployment_complete(deployment, status):
        set_condition(
            conds,
            "Progressing",
            "True",
            "NewReplicaSetAvailable",
            f"{subject} has successfully progressed.",
            now,
            update_time=True,
        )
    elif _made_progress(old_status, status):
        stamp = rfc3339(now)
        kept = (
            current.get("lastTransitionTime")
            if current and current.get("status") == "True"
            else None
        )
        remove_condition(conds, "Progressing")
        conds.append(
            {
                "type": "Progressing",
                "status": "True",
                "lastUpdateTime": stamp,
                "lastTransitionTime": kept or stamp,
                "reason": "ReplicaSetUpdated",
                "message": f"{subject} is progressing.",
            }
        )
    elif _timed_out(current, now, deadline):
        set_condition(
            conds,
            "Progressing",
            "False",
            "ProgressDeadlineExceeded",
            f"{subject} has timed out progressing.",
            now,
            update_time=True,
        )


def _timed_out(current: Mapping[str, Any] | None, now: datetime, deadline: int) -> bool:
    if current is None or current.get("reason") == "NewReplicaSetAvailable":
        return False
    if current.get("reason") == "ProgressDeadlineExceeded":
        return True
    last = parse_time(current.get("lastUpdateTime"))
    return last is not None and last + timedelta(seconds=deadline) < now


def recheck_for_deadline(
    plan: Plan, status: Mapping[str, Any], deadline: int | None, now: datetime
) -> None:
    """Come back when the progress deadline passes, so a stuck rollout gets its timeout."""
    current = condition(status.get("conditions"), "Progressing")
    if deadline is None or current is None or current.get("status") != "True":
        return
    if current.get("reason") == "NewReplicaSetAvailable":
        return
    last = parse_time(current.get("lastUpdateTime"))
    if last is not None:
        plan.recheck((last + timedelta(seconds=deadline) - now).total_seconds() + 1.0)


def paused_conditions(
    conditions: list[Obj], paused: bool, deadline: int | None, now: datetime
) -> None:
    if deadline is None:
        return
    current = condition(conditions, "Progressing")
    reason = current.get("reason") if current else None
    if paused and reason != "DeploymentPaused":
        set_condition(
            conditions,
            "Progressing",
            "Unknown",
            "DeploymentPaused",
            "Deployment is paused",
            now,
            update_time=True,
        )
    elif not paused and reason == "DeploymentPaused":
        set_condition(
            conditions,
            "Progressing",
            "Unknown",
            "DeploymentResumed",
            "Deployment is resumed",
            now,
            update_time=True,
        )
