"""A pretend kubelet and scheduler: the status a pod would have at a given age.

A pod's life is a pure function of its spec, its markers and how long ago the kubelet
first saw it (``age``): Pending while "containers are created" (``ready_delay``), then
Running and Ready. Run-to-completion pods (restartPolicy Never or OnFailure) run as long
again and then Succeed. A container carrying the failure marker exits with code 1: the
pod crash-loops (restarts back off 1 s, 2 s, 4 s ... up to 30 s, a tenth of the kubelet's
real 10 s .. 5 min) or, under restartPolicy Never, Fails.

Timestamps already in the status are kept when their meaning did not change, so
computing the status twice at the same stage yields the same dict, and the runner writes
only on change.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fleet.sim.controllers.actions import Bind, Delete, Plan, ReplaceStatus
from fleet.sim.controllers.markers import failing_containers, ready_delay_for
from fleet.sim.controllers.objects import (
    Obj,
    condition,
    is_deleting,
    json_copy,
    name_of,
    namespace_of,
    rfc3339,
    stable_number,
    uid_of,
    with_status,
)
from fleet.sim.controllers.pods import is_terminal

CRASH_BACKOFF_FIRST = 1.0
CRASH_BACKOFF_MAX = 30.0
NODE_PREFIX = "fleet-sim-node-"


def node_names(count: int) -> list[str]:
    """The pretend nodes: ``fleet-sim-node-1`` .. ``-N``."""
    return [f"{NODE_PREFIX}{i}" for i in range(1, max(count, 1) + 1)]


def node_ip(node: str) -> str:
    suffix = node.removeprefix(NODE_PREFIX)
    if suffix.isdigit() and 0 < int(suffix) < 250:
        return f"172.18.0.{int(suffix) + 1}"
    return f"172.18.1.{stable_number(node) % 250 + 2}"


def pod_ip(pod: Mapping[str, Any]) -> str:
    number = stable_number(uid_of(pod) or name_of(pod))
    return f"10.244.{(number >> 8) % 256}.{number % 254 + 1}"


@dataclass(frozen=True, slots=True)
class Stage:
    """Where a pod is in its life at some age."""

    name: str  # starting | running | succeeded | failed | crashloop
    restarts: int = 0
    next_change: float | None = None  # seconds from now until the stage changes


def crash_restarts(runtime: float) -> tuple[int, float]:
    """Restart count of a crash-looping container after ``runtime`` seconds, and the wait
    until the next restart."""
    restarts, elapsed, backoff = 1, 0.0, CRASH_BACKOFF_FIRST
    while elapsed + backoff <= runtime:
        elapsed += backoff
        restarts += 1
        backoff = min(backoff * 2, CRASH_BACKOFF_MAX)
    return restarts, elapsed + backoff - runtime


def stage_at(pod: Mapping[str, Any], age: float, default_delay: float) -> Stage:
    delay = ready_delay_for(pod, default_delay)
    if age < delay:
        return Stage("starting", next_change=delay - age)
    runtime = age - delay
    policy = (pod.get("spec") or {}).get("restartPolicy") or "Always"
    if failing_containers(pod):
        if policy == "Never":
            return Stage("failed")
        restarts, wait = crash_restarts(runtime)
        return Stage("crashloop", restarts=restarts, next_change=wait)
    if policy == "Always":
        return Stage("running")
    if runtime < delay:
        return Stage("running", next_change=delay - runtime)
    return Stage("succeeded")


def reconcile_pod(
    pod: Mapping[str, Any],
    *,
    age: float,
    now: datetime,
    ready_delay: float,
    nodes: list[str],
    can_bind: bool = True,
) -> Plan:
    """Bind, advance or finish deleting one pod.

    ``can_bind`` False (the server refused ``pods/binding``) lets an unscheduled pod
    run anyway, reporting the node it would have had.
    """
    plan = Plan()
    if is_deleting(pod):
        # No containers to stop: confirm the graceful deletion at once, as a kubelet would
        # once they had exited.
        plan.add(Delete("Pod", namespace_of(pod), name_of(pod), grace_period_seconds=0))
        return plan
    if is_terminal(pod):
        return plan
    spec = pod.get("spec") or {}
    node = str(spec.get("nodeName") or "") or nodes[stable_number(uid_of(pod)) % len(nodes)]
    if not spec.get("nodeName") and can_bind:
        plan.add(Bind(namespace_of(pod), name_of(pod), node))
        return plan
    stage = stage_at(pod, age, ready_delay)
    status = pod_status(pod, stage, now, node)
    if status != (pod.get("status") or {}):
        plan.add(ReplaceStatus("Pod", with_status(pod, status)))
    if stage.next_change is not None:
        plan.recheck(stage.next_change)
    return plan


def pod_status(pod: Mapping[str, Any], stage: Stage, now: datetime, node: str) -> Obj:
    """The full pod status for ``stage``, keeping fields this code does not own."""
    old: Obj = json_copy(dict(pod.get("status") or {}))
    spec = pod.get("spec") or {}
    stamp = rfc3339(now)
    alive = stage.name in ("starting", "running", "crashloop")
    failing = failing_containers(pod)

    status = dict(old)
    status["phase"] = {
        "starting": "Pending",
        "running": "Running",
        "crashloop": "Running",
        "succeeded": "Succeeded",
        "failed": "Failed",
    }[stage.name]
    status["hostIP"] = node_ip(node)
    status["hostIPs"] = [{"ip": status["hostIP"]}]
    status["podIP"] = pod_ip(pod)
    status["podIPs"] = [{"ip": status["podIP"]}]
    status["startTime"] = old.get("startTime") or stamp

    containers = [str(c.get("name", "")) for c in spec.get("containers") or []]
    if stage.name == "running":
        unready: list[str] = []
    elif stage.name == "crashloop":
        unready = [n for n in containers if n in failing]
    else:
        unready = containers
    done_reason = {"succeeded": "PodCompleted", "failed": "PodFailed"}.get(stage.name)
    conds = [
        _pod_condition(old, "PodReadyToStartContainers", alive, now),
        _pod_condition(old, "Initialized", True, now),
        _pod_condition(
            old,
            "Ready",
            not unready,
            now,
            reason=done_reason or "ContainersNotReady",
            message="" if done_reason else f"containers with unready status: [{' '.join(unready)}]",
        ),
        _pod_condition(
            old,
            "ContainersReady",
            not unready,
            now,
            reason=done_reason or "ContainersNotReady",
            message="" if done_reason else f"containers with unready status: [{' '.join(unready)}]",
        ),
        _pod_condition(old, "PodScheduled", True, now),
    ]
    status["conditions"] = conds

    old_statuses = {s.get("name"): s for s in old.get("containerStatuses") or []}
    status["containerStatuses"] = [
        _container_status(
            c, old_statuses.get(c.get("name")), stage, failing.get(str(c.get("name"))), pod, stamp
        )
        for c in spec.get("containers") or []
    ]
    if spec.get("initContainers"):
        status["initContainerStatuses"] = [
            _init_container_status(c, stamp, old) for c in spec["initContainers"]
        ]
    return status


def _pod_condition(
    old: Mapping[str, Any],
    kind: str,
    ok: bool,
    now: datetime,
    *,
    reason: str = "",
    message: str = "",
) -> Obj:
    status = "True" if ok else "False"
    previous = condition(old.get("conditions"), kind)
    cond: Obj = {"type": kind, "status": status, "lastProbeTime": None}
    if previous and previous.get("status") == status:
        cond["lastTransitionTime"] = previous.get("lastTransitionTime") or rfc3339(now)
    else:
        cond["lastTransitionTime"] = rfc3339(now)
    if not ok and reason:
        cond["reason"] = reason
        if message:
            cond["message"] = message
    return cond


def _container_status(
    container: Mapping[str, Any],
    old: Mapping[str, Any] | None,
    stage: Stage,
    exit_code: int | None,
    pod: Mapping[str, Any],
    stamp: str,
) -> Obj:
    name = str(container.get("name", ""))
    image = str(container.get("image") or "")
    old = old or {}
    old_state = old.get("state") or {}
    result: Obj = {
        "name": name,
        "image": image,
        "imageID": "",
        "ready": False,
        "restartCount": 0,
        "started": False,
        "state": {"waiting": {"reason": "ContainerCreating"}},
    }
    if stage.name == "starting":
        return result
    digest = hashlib.sha256(image.encode()).hexdigest()
    result["imageID"] = f"{image.split('@', 1)[0]}@sha256:{digest}"
    result["containerID"] = (
        "containerd://" + hashlib.sha256(f"{uid_of(pod)}/{name}".encode()).hexdigest()
    )
    failing = exit_code is not None
    if failing and stage.name in ("crashloop", "failed"):
        restarts = stage.restarts if stage.name == "crashloop" else 0
        same = int(old.get("restartCount") or 0) == restarts and old.get("lastState")
        exited: Obj = {
            "exitCode": exit_code,
            "reason": "Error",
            "startedAt": stamp,
            "finishedAt": stamp,
            "containerID": result["containerID"],
        }
        if stage.name == "failed":
            result["state"] = {"terminated": old_state.get("terminated") or exited}
            return result
        result["restartCount"] = restarts
        result["lastState"] = old["lastState"] if same else {"terminated": exited}
        result["state"] = {
            "waiting": {
                "reason": "CrashLoopBackOff",
                "message": f"back-off restarting failed container={name} pod={name_of(pod)}",
            }
        }
        return result
    if stage.name == "succeeded" or (stage.name == "failed" and not failing):
        ended = old_state.get("terminated") or {
            "exitCode": 0,
            "reason": "Completed",
            "startedAt": (old_state.get("running") or {}).get("startedAt") or stamp,
            "finishedAt": stamp,
            "containerID": result["containerID"],
        }
        result["state"] = {"terminated": ended}
        return result
    # Running (a healthy container, possibly in a pod whose other container crash-loops).
    result["ready"] = stage.name == "running" or not failing
    result["started"] = True
    started_at = (old_state.get("running") or {}).get("startedAt") or stamp
    result["state"] = {"running": {"startedAt": started_at}}
    return result


def _init_container_status(container: Mapping[str, Any], stamp: str, old: Mapping[str, Any]) -> Obj:
    name = str(container.get("name", ""))
    previous = {s.get("name"): s for s in old.get("initContainerStatuses") or []}.get(name)
    if previous:
        return dict(previous)
    image = str(container.get("image") or "")
    return {
        "name": name,
        "image": image,
        "imageID": f"{image.split('@', 1)[0]}@sha256:{hashlib.sha256(image.encode()).hexdigest()}",
        "ready": True,
        "restartCount": 0,
        "started": False,
        "state": {
            "terminated": {
                "exitCode": 0,
                "reason": "Completed",
                "startedAt": stamp,
                "finishedAt": stamp,
            }
        },
    }
