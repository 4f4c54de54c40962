"""What workload controllers ask of their pods, and how they make new ones."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from fleet.sim.controllers.objects import (
    Obj,
    condition,
    is_deleting,
    json_copy,
    owner_reference,
    parse_time,
)

TERMINAL_PHASES = frozenset({"Succeeded", "Failed"})


def phase_of(pod: Mapping[str, Any]) -> str:
    return str((pod.get("status") or {}).get("phase") or "Pending")


def is_terminal(pod: Mapping[str, Any]) -> bool:
    return phase_of(pod) in TERMINAL_PHASES


def is_active(pod: Mapping[str, Any]) -> bool:
    """Counts toward a controller's replicas: neither finished nor being deleted."""
    return not is_terminal(pod) and not is_deleting(pod)


def is_ready(pod: Mapping[str, Any]) -> bool:
    cond = condition((pod.get("status") or {}).get("conditions"), "Ready")
    return cond is not None and cond.get("status") == "True"


def ready_since(pod: Mapping[str, Any]) -> datetime | None:
    cond = condition((pod.get("status") or {}).get("conditions"), "Ready")
    if cond is None or cond.get("status") != "True":
        return None
    return parse_time(cond.get("lastTransitionTime"))


def is_available(pod: Mapping[str, Any], min_ready_seconds: int, now: datetime) -> bool:
    """Ready for at least ``minReadySeconds``, as Deployments and ReplicaSets count it."""
    if not is_active(pod) or not is_ready(pod):
        return False
    if min_ready_seconds <= 0:
        return True
    since = ready_since(pod)
    return since is not None and since + timedelta(seconds=min_ready_seconds) <= now


def seconds_until_available(
    pods: Iterable[Mapping[str, Any]], min_ready_seconds: int, now: datetime
) -> float | None:
    """How long until the next ready-but-not-yet-available pod becomes available."""
    if min_ready_seconds <= 0:
        return None
    soonest: float | None = None
    for pod in pods:
        since = ready_since(pod)
        if since is None or not is_active(pod):
            continue
        wait = (since + timedelta(seconds=min_ready_seconds) - now).total_seconds()
        if wait > 0 and (soonest is None or wait < soonest):
            soonest = wait
    return None if soonest is None else soonest + 0.5


def container_restarts(pod: Mapping[str, Any]) -> int:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return sum(int(s.get("restartCount") or 0) for s in statuses)


def pod_from_template(
    owner: Mapping[str, Any],
    template: Mapping[str, Any],
    *,
    name: str | None = None,
    generate_name: str | None = None,
    extra_labels: Mapping[str, str] | None = None,
    extra_annotations: Mapping[str, str] | None = None,
    node_name: str | None = None,
) -> Obj:
    """A new pod owned by ``owner``, built from its pod template as controllers do."""
    tmeta = template.get("metadata") or {}
    labels = dict(tmeta.get("labels") or {})
    labels.update(extra_labels or {})
    annotations = dict(tmeta.get("annotations") or {})
    annotations.update(extra_annotations or {})
    metadata: Obj = {
        "namespace": (owner.get("metadata") or {}).get("namespace", ""),
        "labels": labels,
        "ownerReferences": [owner_reference(owner)],
    }
    if annotations:
        metadata["annotations"] = annotations
    if name:
        metadata["name"] = name
    else:
        metadata["generateName"] = generate_name or f"{(owner.get('metadata') or {})['name']}-"
    if tmeta.get("finalizers"):
        metadata["finalizers"] = list(tmeta["finalizers"])
    spec = json_copy(dict(template.get("spec") or {}))
    if node_name:
        spec["nodeName"] = node_name
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}


def pods_to_delete(pods: Iterable[Mapping[str, Any]], count: int) -> list[Mapping[str, Any]]:
    """The ``count`` pods a controller should delete first when scaling down.

    Unscheduled before scheduled, pending before running, not ready before ready, then
    newer before older: lose as little progress as possible.
    """
    newest_first = sorted(
        pods,
        key=lambda p: str((p.get("metadata") or {}).get("creationTimestamp") or ""),
        reverse=True,
    )
    ranked = sorted(
        newest_first,
        key=lambda p: (
            bool((p.get("spec") or {}).get("nodeName")),
            phase_of(p) == "Running",
            is_ready(p),
        ),
    )
    return ranked[: max(count, 0)]
