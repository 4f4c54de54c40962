"""Deployment: roll ReplicaSets and report the rollout as kube-controller-manager does.

The ReplicaSet whose pod template equals the Deployment's (ignoring pod-template-hash)
is the *new* one; all others are *old*. A RollingUpdate scales the new one up within
``maxSurge`` and old ones down within ``maxUnavailable``, one step per sync; Recreate
scales old ones to zero, waits for their pods to go, then scales the new one up. A paused
Deployment only scales. Status follows the upstream rules: counters summed over the
ReplicaSets, ``Available`` from ``maxUnavailable``, and ``Progressing`` from the progress
made since the last sync, timing out after ``progressDeadlineSeconds``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

from fleet.sim.controllers.actions import Create, Delete, Plan, Replace, ReplaceStatus
from fleet.sim.controllers.deployment_status import (
    deployment_complete,
    deployment_status,
    paused_conditions,
    progress_deadline,
    recheck_for_deadline,
    record_progress,
    rollout_limits,
    spec_replicas,
    status_count,
)
from fleet.sim.controllers.objects import (
    POD_TEMPLATE_HASH,
    Obj,
    annotations_of,
    condition,
    is_deleting,
    json_copy,
    name_of,
    namespace_of,
    owner_reference,
    remove_condition,
    set_condition,
    template_hash,
    with_status,
    without_labels,
)
from fleet.sim.controllers.replicasets import desired_replicas

REVISION = "deployment.kubernetes.io/revision"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
DEFAULT_HISTORY_LIMIT = 10


def revision_of(rs: Mapping[str, Any]) -> int:
    try:
        return int(annotations_of(rs).get(REVISION, "0"))
    except ValueError:
        return 0


def _template_without_hash(template: Mapping[str, Any]) -> Obj:
    return without_labels(template, (POD_TEMPLATE_HASH,))


def _oldest_first(rss: Sequence[Obj]) -> list[Obj]:
    return sorted(
        rss, key=lambda rs: (str(rs["metadata"].get("creationTimestamp", "")), name_of(rs))
    )


def split_replicasets(
    deployment: Mapping[str, Any], rss: Sequence[Obj]
) -> tuple[Obj | None, list[Obj]]:
    """The new ReplicaSet (template equal to the Deployment's), and the old ones."""
    wanted = _template_without_hash((deployment.get("spec") or {}).get("template") or {})
    new: Obj | None = None
    for rs in _oldest_first(rss):
        template = (rs.get("spec") or {}).get("template") or {}
        if new is None and _template_without_hash(template) == wanted:
            new = rs
    return new, [rs for rs in rss if rs is not new]


def new_replicaset_target(deployment: Mapping[str, Any], new: Obj, all_rss: Sequence[Obj]) -> int:
    """How many replicas the new ReplicaSet should have now (rolling update)."""
    desired = desired_replicas(deployment)
    current = spec_replicas(new)
    if current >= desired:
        return desired
    surge, _ = rollout_limits(deployment)
    room = desired + surge - sum(spec_replicas(rs) for rs in all_rss)
    if room <= 0:
        return current
    return current + min(room, desired - current)


def old_replicaset_targets(
    deployment: Mapping[str, Any], new: Obj | None, olds: Sequence[Obj]
) -> dict[str, int]:
    """New replica counts for old ReplicaSets: unhealthy pods go first, then as many
    available ones as ``maxUnavailable`` allows."""
    if not any(spec_replicas(rs) for rs in olds):
        return {}
    desired = desired_replicas(deployment)
    _, max_unavailable = rollout_limits(deployment)
    all_rss = [*olds, *([new] if new else [])]
    min_available = desired - max_unavailable
    new_unavailable = (spec_replicas(new) - status_count(new, "availableReplicas")) if new else 0
    budget = sum(spec_replicas(rs) for rs in all_rss) - min_available - new_unavailable
    if budget <= 0:
        return {}
    targets: dict[str, int] = {}
    cleaned = 0
    for rs in _oldest_first(olds):
        replicas, available = spec_replicas(rs), status_count(rs, "availableReplicas")
        if cleaned >= budget or replicas == 0 or replicas <= available:
            continue
        down = min(budget - cleaned, replicas - available)
        targets[name_of(rs)] = replicas - down
        cleaned += down
    spare = sum(status_count(rs, "availableReplicas") for rs in all_rss) - min_available
    for rs in _oldest_first(olds):
        if spare <= 0:
            break
        replicas = targets.get(name_of(rs), spec_replicas(rs))
        down = min(replicas, spare)
        if down:
            targets[name_of(rs)] = replicas - down
            spare -= down
    return {name: n for name, n in targets.items() if n != spec_replicas(_by_name(olds, name))}


def _by_name(rss: Sequence[Obj], name: str) -> Obj:
    return next(rs for rs in rss if name_of(rs) == name)


def new_replicaset(deployment: Mapping[str, Any], replicas: int, revision: int) -> Obj:
    """The ReplicaSet a Deployment creates for its current pod template."""
    spec = deployment.get("spec") or {}
    collisions = int((deployment.get("status") or {}).get("collisionCount") or 0)
    template = json_copy(dict(spec.get("template") or {}))
    pod_hash = template_hash(template, collisions)
    template.setdefault("metadata", {}).setdefault("labels", {})[POD_TEMPLATE_HASH] = pod_hash
    selector = json_copy(dict(spec.get("selector") or {}))
    selector.setdefault("matchLabels", {})[POD_TEMPLATE_HASH] = pod_hash
    surge, _ = rollout_limits(deployment)
    desired = desired_replicas(deployment)
    annotations = {
        k: v
        for k, v in annotations_of(deployment).items()
        if k not in (REVISION, "kubectl.kubernetes.io/last-applied-configuration")
    }
    annotations.update(
        {
            REVISION: str(revision),
            DESIRED_REPLICAS: str(desired),
            MAX_REPLICAS: str(desired + surge),
        }
    )
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": f"{name_of(deployment)}-{pod_hash}",
            "namespace": namespace_of(deployment),
            "labels": dict(template["metadata"]["labels"]),
            "annotations": annotations,
            "ownerReferences": [owner_reference(deployment)],
        },
        "spec": {
            "replicas": replicas,
            "minReadySeconds": int(spec.get("minReadySeconds") or 0),
            "selector": selector,
            "template": template,
        },
    }


def reconcile_deployment(
    deployment: Mapping[str, Any],
    rss: Sequence[Obj],
    now: datetime,
    *,
    foreign_names: Collection[str] = (),
) -> Plan:
    """One sync of a Deployment, given the ReplicaSets it controls.

    ``foreign_names`` are ReplicaSet names in the namespace that it does not control;
    a generated name among them bumps ``status.collisionCount``, as upstream does.
    """
    plan = Plan()
    if is_deleting(deployment):
        return plan
    spec = deployment.get("spec") or {}
    old_status: Mapping[str, Any] = deployment.get("status") or {}
    conditions: list[Obj] = json_copy(list(old_status.get("conditions") or []))
    collisions = int(old_status.get("collisionCount") or 0)
    deadline = progress_deadline(deployment)
    paused = bool(spec.get("paused"))
    desired = desired_replicas(deployment)
    working = [_writable(rs) for rs in rss]
    new, olds = split_replicasets(deployment, working)
    changed: set[str] = set()

    def scale(rs: Obj, replicas: int) -> None:
        if spec_replicas(rs) != replicas:
            rs.setdefault("spec", {})["replicas"] = replicas
            changed.add(name_of(rs))

    paused_conditions(conditions, paused, deadline, now)
    max_old_revision = max((revision_of(rs) for rs in olds), default=0)
    if new is not None and revision_of(new) <= max_old_revision and not paused:
        new["metadata"].setdefault("annotations", {})[REVISION] = str(max_old_revision + 1)
        changed.add(name_of(new))
    elif new is not None and deadline and condition(conditions, "Progressing") is None:
        set_condition(
            conditions,
            "Progressing",
            "True",
            "FoundNewReplicaSet",
            f'Found new replica set "{name_of(new)}"',
            now,
            update_time=True,
        )

    strategy = (spec.get("strategy") or {}).get("type", "RollingUpdate")
    create_with: int | None = None
    if paused:
        # Only scaling while paused: the one active ReplicaSet (or the newest) follows
        # spec.replicas. Several active ones (paused mid-rollout) are left as they are.
        active = [rs for rs in working if spec_replicas(rs)]
        latest = active or sorted(working, key=revision_of)[-1:]
        if len(latest) == 1:
            scale(latest[0], desired)
    elif strategy == "Recreate":
        if any(spec_replicas(rs) for rs in olds):
            for rs in olds:
                scale(rs, 0)
        elif any(status_count(rs, "replicas") for rs in olds):
            pass  # old pods still terminating: the new ones must not overlap them
        elif new is None:
            create_with = desired
        else:
            scale(new, desired)
    elif new is None:
        create_with = new_replicaset_target(
            deployment, {"spec": {"replicas": 0}, "metadata": {}}, working
        )
    else:
        target = new_replicaset_target(deployment, new, working)
        if target != spec_replicas(new):
            scale(new, target)
        else:
            for name, replicas in old_replicaset_targets(deployment, new, olds).items():
                scale(_by_name(olds, name), replicas)

    if create_with is not None:
        candidate = new_replicaset(deployment, create_with, max_old_revision + 1)
        if name_of(candidate) in foreign_names or any(
            name_of(candidate) == name_of(rs) for rs in olds
        ):
            collisions += 1  # a different template already holds the name: rehash
        else:
            plan.add(Create("ReplicaSet", candidate))
            new = candidate
            working.append(candidate)
            if deadline:
                set_condition(
                    conditions,
                    "Progressing",
                    "True",
                    "NewReplicaSetCreated",
                    f'Created new replica set "{name_of(candidate)}"',
                    now,
                    update_time=True,
                )

    for rs in working:
        if name_of(rs) in changed:
            _mark_desired(rs, deployment)
            plan.add(Replace("ReplicaSet", rs))

    status = deployment_status(deployment, working, new, conditions, now)
    if collisions:
        status["collisionCount"] = collisions
    if not paused and deadline is not None:
        record_progress(status, old_status, deployment, new, now, deadline)
    if deadline is None:
        remove_condition(status["conditions"], "Progressing")
    if status != old_status:
        body = with_status(deployment, status)
        if new is not None:
            # Upstream records the revision on the Deployment in its status update (the
            # status strategy keeps annotations); a server that drops it loses only that.
            body["metadata"]["annotations"] = {
                **(body["metadata"].get("annotations") or {}),
                REVISION: str(revision_of(new)),
            }
        plan.add(ReplaceStatus("Deployment", body))
    if not plan.actions and deployment_complete(deployment, status):
        for rs in _history_to_delete(deployment, olds):
            plan.add(Delete("ReplicaSet", namespace_of(rs), name_of(rs)))
    recheck_for_deadline(plan, status, deadline, now)
    return plan


def _writable(rs: Obj) -> Obj:
    """A copy of ``rs`` whose ``spec`` and annotations a sync may change (all it
    changes); the rest is shared with the cache and only read. A deep copy of every
    ReplicaSet on every sync cost more than the rest of the sync."""
    metadata = dict(rs.get("metadata") or {})
    if isinstance(metadata.get("annotations"), dict):
        metadata["annotations"] = dict(metadata["annotations"])
    out = {**rs, "metadata": metadata}
    if isinstance(rs.get("spec"), dict):
        out["spec"] = dict(rs["spec"])
    return out


def _mark_desired(rs: Obj, deployment: Mapping[str, Any]) -> None:
    surge, _ = rollout_limits(deployment)
    desired = desired_replicas(deployment)
    annotations = rs["metadata"].setdefault("annotations", {})
    annotations[DESIRED_REPLICAS] = str(desired)
    annotations[MAX_REPLICAS] = str(desired + surge)


def _history_to_delete(deployment: Mapping[str, Any], olds: Sequence[Obj]) -> list[Obj]:
    limit = (deployment.get("spec") or {}).get("revisionHistoryLimit")
    limit = DEFAULT_HISTORY_LIMIT if limit is None else int(limit)
    idle = [
        rs
        for rs in olds
        if spec_replicas(rs) == 0 and status_count(rs, "replicas") == 0 and not is_deleting(rs)
    ]
    idle.sort(key=revision_of)
    return idle[: max(len(idle) - limit, 0)]
