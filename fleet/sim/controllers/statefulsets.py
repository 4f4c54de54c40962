"""StatefulSet: pods with stable names ``<set>-<ordinal>``, made and replaced in order.

With ``podManagementPolicy: OrderedReady`` (the default) ordinal N is created only once
every lower ordinal is Running and Ready, scale-down removes the highest ordinal first,
one at a time, and a RollingUpdate replaces pods from the highest ordinal down to the
partition, one at a time, each after the previous one is Ready again. ``Parallel`` lifts
the ordering for creation and deletion. Each ``volumeClaimTemplates`` entry becomes a
claim ``<template>-<set>-<ordinal>`` that outlives the pod.

Revisions are named ``<set>-<hash of the pod template>``; this simulator keeps no
ControllerRevision objects, so a pod is always recreated from the current template.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

from fleet.sim.controllers.actions import Create, Delete, Plan, ReplaceStatus
from fleet.sim.controllers.objects import (
    REVISION_HASH,
    Obj,
    generation_of,
    is_deleting,
    json_copy,
    labels_of,
    name_of,
    namespace_of,
    template_hash,
    with_status,
    without_zeros,
)
from fleet.sim.controllers.pods import (
    is_active,
    is_available,
    is_ready,
    is_terminal,
    phase_of,
    pod_from_template,
    seconds_until_available,
)
from fleet.sim.controllers.replicasets import desired_replicas

POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"


def update_revision(sts: Mapping[str, Any]) -> str:
    template = (sts.get("spec") or {}).get("template") or {}
    collisions = int((sts.get("status") or {}).get("collisionCount") or 0)
    return f"{name_of(sts)}-{template_hash(template, collisions)}"


def ordinal_of(pod: Mapping[str, Any], set_name: str) -> int | None:
    prefix = f"{set_name}-"
    name = name_of(pod)
    if not name.startswith(prefix) or not name[len(prefix) :].isdigit():
        return None
    return int(name[len(prefix) :])


def claim_name(template: Mapping[str, Any], sts: Mapping[str, Any], ordinal: int) -> str:
    return f"{name_of(template)}-{name_of(sts)}-{ordinal}"


def _healthy(pod: Mapping[str, Any]) -> bool:
    return is_active(pod) and phase_of(pod) == "Running" and is_ready(pod)


def _new_pod(sts: Mapping[str, Any], ordinal: int, revision: str) -> Obj:
    spec = sts.get("spec") or {}
    name = f"{name_of(sts)}-{ordinal}"
    template = json_copy(dict(spec.get("template") or {}))
    pod_spec = template.setdefault("spec", {})
    pod_spec["hostname"] = name
    if spec.get("serviceName"):
        pod_spec["subdomain"] = spec["serviceName"]
    volumes = pod_spec.setdefault("volumes", [])
    present = {v.get("name") for v in volumes}
    for claim in spec.get("volumeClaimTemplates") or []:
        if name_of(claim) not in present:
            volumes.append(
                {
                    "name": name_of(claim),
                    "persistentVolumeClaim": {"claimName": claim_name(claim, sts, ordinal)},
                }
            )
    if not volumes:
        del pod_spec["volumes"]
    return pod_from_template(
        sts,
        template,
        name=name,
        extra_labels={
            REVISION_HASH: revision,
            POD_NAME_LABEL: name,
            POD_INDEX_LABEL: str(ordinal),
        },
    )


def _new_claims(sts: Mapping[str, Any], ordinal: int, existing: Collection[str]) -> list[Obj]:
    spec = sts.get("spec") or {}
    selector_labels = (spec.get("selector") or {}).get("matchLabels") or {}
    claims = []
    for template in spec.get("volumeClaimTemplates") or []:
        name = claim_name(template, sts, ordinal)
        if name in existing:
            continue
        labels = dict(labels_of(template))
        labels.update(selector_labels)
        claims.append(
            {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "metadata": {"name": name, "namespace": namespace_of(sts), "labels": labels},
                "spec": json_copy(dict(template.get("spec") or {})),
            }
        )
    return claims


def reconcile_statefulset(
    sts: Mapping[str, Any],
    pods: Sequence[Mapping[str, Any]],
    claims: Collection[str],
    now: datetime,
) -> Plan:
    """One sync, given the pods the set controls and the claim names in its namespace."""
    plan = Plan()
    if is_deleting(sts):
        return plan
    spec = sts.get("spec") or {}
    name = name_of(sts)
    start = int((spec.get("ordinals") or {}).get("start") or 0)
    replicas = desired_replicas(sts)
    wanted = range(start, start + replicas)
    ordered = spec.get("podManagementPolicy", "OrderedReady") != "Parallel"
    revision = update_revision(sts)
    by_ordinal: dict[int, Mapping[str, Any]] = {}
    for child in pods:
        number = ordinal_of(child, name)
        if number is not None:
            by_ordinal[number] = child

    blocked = False
    for ordinal in wanted:
        pod = by_ordinal.get(ordinal)
        if pod is None:
            for claim in _new_claims(sts, ordinal, claims):
                plan.add(Create("PersistentVolumeClaim", claim))
            plan.add(Create("Pod", _new_pod(sts, ordinal, revision)))
        elif is_terminal(pod) and not is_deleting(pod):
            plan.add(Delete("Pod", namespace_of(pod), name_of(pod)))
        elif _healthy(pod):
            continue
        if ordered:
            blocked = True
            break

    if not blocked:
        condemned = sorted((o for o in by_ordinal if o not in wanted), reverse=True)
        if condemned:
            live = [o for o in condemned if not is_deleting(by_ordinal[o])]
            if ordered and live and len(live) == len(condemned):
                live = live[:1]
            elif ordered:
                live = []
            for ordinal in live:
                pod = by_ordinal[ordinal]
                plan.add(Delete("Pod", namespace_of(pod), name_of(pod)))
        else:
            _roll(sts, by_ordinal, wanted, revision, plan)

    status = statefulset_status(sts, pods, revision, now)
    if status != (sts.get("status") or {}):
        plan.add(ReplaceStatus("StatefulSet", with_status(sts, status)))
    min_ready = int(spec.get("minReadySeconds") or 0)
    wait = seconds_until_available(pods, min_ready, now)
    if wait is not None:
        plan.recheck(wait)
    return plan


def _roll(
    sts: Mapping[str, Any],
    by_ordinal: Mapping[int, Mapping[str, Any]],
    wanted: range,
    revision: str,
    plan: Plan,
) -> None:
    """Replace the highest outdated pod at or above the partition, once all are healthy."""
    strategy = (sts.get("spec") or {}).get("updateStrategy") or {}
    if strategy.get("type", "RollingUpdate") != "RollingUpdate":
        return
    if not all(o in by_ordinal and _healthy(by_ordinal[o]) for o in wanted):
        return
    partition = int((strategy.get("rollingUpdate") or {}).get("partition") or 0)
    for ordinal in sorted(wanted, reverse=True):
        if ordinal < wanted.start + partition:
            break
        pod = by_ordinal[ordinal]
        if labels_of(pod).get(REVISION_HASH) != revision:
            plan.add(Delete("Pod", namespace_of(pod), name_of(pod)))
            return


def statefulset_status(
    sts: Mapping[str, Any], pods: Sequence[Mapping[str, Any]], revision: str, now: datetime
) -> Obj:
    old = sts.get("status") or {}
    min_ready = int((sts.get("spec") or {}).get("minReadySeconds") or 0)
    active = [p for p in pods if is_active(p)]
    current_revision = str(old.get("currentRevision") or revision)
    updated = sum(1 for p in active if labels_of(p).get(REVISION_HASH) == revision)
    current = sum(1 for p in active if labels_of(p).get(REVISION_HASH) == current_revision)
    ready = sum(1 for p in active if is_ready(p))
    if updated == len(active) and ready == len(active):
        current_revision, current = revision, updated
    status: Obj = {
        "observedGeneration": generation_of(sts),
        "replicas": len(active),
        "readyReplicas": ready,
        "currentReplicas": current,
        "updatedReplicas": updated,
        "availableReplicas": sum(1 for p in active if is_available(p, min_ready, now)),
        "currentRevision": current_revision,
        "updateRevision": revision,
        "collisionCount": int(old.get("collisionCount") or 0),
    }
    return without_zeros(status, keep=("replicas", "availableReplicas", "collisionCount"))
