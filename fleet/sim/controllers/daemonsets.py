"""DaemonSet: one pod on each pretend node.

A bare API server has no nodes, so the controllers pretend a fixed number of them
(``fleet-sim-node-1`` ..). nodeSelector, affinity and taints are not evaluated: every
node is eligible. A RollingUpdate replaces outdated pods while no more than
``maxUnavailable`` nodes lack an available pod; OnDelete waits for someone to delete them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from fleet.sim.controllers.actions import Create, Delete, Plan, ReplaceStatus
from fleet.sim.controllers.objects import (
    REVISION_HASH,
    Obj,
    generation_of,
    is_deleting,
    labels_of,
    name_of,
    namespace_of,
    scaled_value,
    template_hash,
    with_status,
    without_zeros,
)
from fleet.sim.controllers.pods import (
    is_active,
    is_available,
    is_ready,
    pod_from_template,
    seconds_until_available,
)

TEMPLATE_GENERATION_LABEL = "pod-template-generation"


def daemonset_revision(ds: Mapping[str, Any]) -> str:
    template = (ds.get("spec") or {}).get("template") or {}
    collisions = int((ds.get("status") or {}).get("collisionCount") or 0)
    return template_hash(template, collisions)


def _node_of(pod: Mapping[str, Any]) -> str:
    return str((pod.get("spec") or {}).get("nodeName") or "")


def reconcile_daemonset(
    ds: Mapping[str, Any], pods: Sequence[Mapping[str, Any]], nodes: Sequence[str], now: datetime
) -> Plan:
    """One sync, given the pods the DaemonSet controls and the node names."""
    plan = Plan()
    if is_deleting(ds):
        return plan
    spec = ds.get("spec") or {}
    revision = daemonset_revision(ds)
    min_ready = int(spec.get("minReadySeconds") or 0)
    active = [p for p in pods if is_active(p)]
    on_node: dict[str, list[Mapping[str, Any]]] = {}
    for pod in active:
        on_node.setdefault(_node_of(pod), []).append(pod)

    for node, node_pods in on_node.items():
        extra = node_pods[1:] if node in nodes else node_pods
        for pod in extra:
            plan.add(Delete("Pod", namespace_of(pod), name_of(pod)))
    for node in nodes:
        if node not in on_node:
            plan.add(
                Create(
                    "Pod",
                    pod_from_template(
                        ds,
                        spec.get("template") or {},
                        extra_labels={
                            REVISION_HASH: revision,
                            TEMPLATE_GENERATION_LABEL: str(generation_of(ds)),
                        },
                        node_name=node,
                    ),
                )
            )

    strategy = spec.get("updateStrategy") or {}
    if strategy.get("type", "RollingUpdate") == "RollingUpdate":
        max_unavailable = scaled_value(
            (strategy.get("rollingUpdate") or {}).get("maxUnavailable"),
            len(nodes),
            round_up=True,
            default="1",
        )
        current = {n: ps[0] for n, ps in on_node.items() if n in nodes}
        unavailable = sum(
            1 for n in nodes if n not in current or not is_available(current[n], min_ready, now)
        )
        outdated = [p for p in current.values() if labels_of(p).get(REVISION_HASH) != revision]
        # Outdated pods that are not available cost nothing to replace; do them first.
        outdated.sort(key=lambda p: is_available(p, min_ready, now))
        budget = max(max_unavailable, 1) - unavailable
        for pod in outdated:
            if is_available(pod, min_ready, now):
                if budget <= 0:
                    break
                budget -= 1
            plan.add(Delete("Pod", namespace_of(pod), name_of(pod)))

    status = daemonset_status(ds, pods, nodes, revision, now)
    if status != (ds.get("status") or {}):
        plan.add(ReplaceStatus("DaemonSet", with_status(ds, status)))
    wait = seconds_until_available(active, min_ready, now)
    if wait is not None:
        plan.recheck(wait)
    return plan


def daemonset_status(
    ds: Mapping[str, Any],
    pods: Sequence[Mapping[str, Any]],
    nodes: Sequence[str],
    revision: str,
    now: datetime,
) -> Obj:
    min_ready = int((ds.get("spec") or {}).get("minReadySeconds") or 0)
    active = [p for p in pods if is_active(p)]
    scheduled = {_node_of(p) for p in active if _node_of(p) in nodes}
    misplaced = {_node_of(p) for p in active if _node_of(p) not in nodes}
    on_nodes = [p for p in active if _node_of(p) in nodes]
    available = {_node_of(p) for p in on_nodes if is_available(p, min_ready, now)}
    status: Obj = dict(ds.get("status") or {})
    status.update(
        {
            "observedGeneration": generation_of(ds),
            "desiredNumberScheduled": len(nodes),
            "currentNumberScheduled": len(scheduled),
            "numberMisscheduled": len(misplaced),
            "numberReady": len({_node_of(p) for p in on_nodes if is_ready(p)}),
            "numberAvailable": len(available),
            "numberUnavailable": len(nodes) - len(available),
            "updatedNumberScheduled": len(
                {_node_of(p) for p in on_nodes if labels_of(p).get(REVISION_HASH) == revision}
            ),
        }
    )
    return without_zeros(
        status,
        keep=(
            "desiredNumberScheduled",
            "currentNumberScheduled",
            "numberMisscheduled",
            "numberReady",
        ),
    )
