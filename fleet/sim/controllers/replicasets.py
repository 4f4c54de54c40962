"""ReplicaSet: keep ``spec.replicas`` active pods and report how many are ready.

Counts follow kube-controller-manager: ``replicas`` is the active pods (not finished,
not being deleted), ``fullyLabeledReplicas`` those whose labels still match the template,
``availableReplicas`` those Ready for ``minReadySeconds``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from fleet.sim.controllers.actions import Create, Delete, Plan, ReplaceStatus
from fleet.sim.controllers.objects import (
    Obj,
    generation_of,
    is_deleting,
    name_of,
    namespace_of,
    with_status,
    without_zeros,
)
from fleet.sim.controllers.pods import (
    is_active,
    is_available,
    is_ready,
    pod_from_template,
    pods_to_delete,
    seconds_until_available,
)

# Like the real controller's burst limit: never create or delete more at once.
MAX_BURST = 500


def desired_replicas(obj: Mapping[str, Any]) -> int:
    value = (obj.get("spec") or {}).get("replicas")
    return 1 if value is None else max(int(value), 0)


def replicaset_status(
    rs: Mapping[str, Any], pods: Sequence[Mapping[str, Any]], now: datetime
) -> Obj:
    spec = rs.get("spec") or {}
    min_ready = int(spec.get("minReadySeconds") or 0)
    template_labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    active = [p for p in pods if is_active(p)]
    labelled = [
        p
        for p in active
        if all(
            ((p.get("metadata") or {}).get("labels") or {}).get(k) == v
            for k, v in template_labels.items()
        )
    ]
    status: Obj = dict(rs.get("status") or {})
    status.update(
        {
            "replicas": len(active),
            "fullyLabeledReplicas": len(labelled),
            "readyReplicas": sum(1 for p in active if is_ready(p)),
            "availableReplicas": sum(1 for p in active if is_available(p, min_ready, now)),
            "observedGeneration": generation_of(rs),
        }
    )
    return without_zeros(status, keep=("replicas",))


def reconcile_replicaset(
    rs: Mapping[str, Any], pods: Sequence[Mapping[str, Any]], now: datetime
) -> Plan:
    """Create or delete pods toward ``spec.replicas``; report status from ``pods``.

    ``pods`` are the pods this ReplicaSet controls (its controller reference).
    """
    plan = Plan()
    if is_deleting(rs):
        return plan
    active = [p for p in pods if is_active(p)]
    want = desired_replicas(rs)
    template = (rs.get("spec") or {}).get("template") or {}
    if len(active) < want:
        for _ in range(min(want - len(active), MAX_BURST)):
            plan.add(Create("Pod", pod_from_template(rs, template)))
    elif len(active) > want:
        for pod in pods_to_delete(active, min(len(active) - want, MAX_BURST)):
            plan.add(Delete("Pod", namespace_of(pod), name_of(pod)))
    status = replicaset_status(rs, pods, now)
    if status != (rs.get("status") or {}):
        plan.add(ReplaceStatus("ReplicaSet", with_status(rs, status)))
    min_ready = int((rs.get("spec") or {}).get("minReadySeconds") or 0)
    wait = seconds_until_available(active, min_ready, now)
    if wait is not None:
        plan.recheck(wait)
    return plan
