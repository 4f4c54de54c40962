"""Health of the workload kinds: Deployment, StatefulSet, DaemonSet, ReplicaSet, Pod, Job.

The rules are Argo CD's (which follow ``kubectl rollout status``), so that an app reports
the same health under fleet as it did before. One deliberate change: a Job condition
counts only when its status is ``True`` (Argo CD looks at the type alone).
"""

from __future__ import annotations

from fleet.engine.health.fields import (
    Obj,
    condition,
    condition_is,
    generation_lag,
    number,
    section,
)
from fleet.model.health import Health, HealthStatus

PROGRESSING, HEALTHY = HealthStatus.PROGRESSING, HealthStatus.HEALTHY
DEGRADED, SUSPENDED = HealthStatus.DEGRADED, HealthStatus.SUSPENDED


def _lagging(kind: str) -> Health:
    return Health(
        PROGRESSING,
        f"waiting for the {kind} controller to observe the latest generation",
    )


def deployment(obj: Obj) -> Health:
    spec, status = section(obj, "spec"), section(obj, "status")
    if spec.get("paused") is True:
        return Health(SUSPENDED, "Deployment is paused")
    if generation_lag(obj):
        return _lagging("deployment")
    progressing = condition(obj, "Progressing")
    if progressing is not None and progressing.get("reason") == "ProgressDeadlineExceeded":
        name = section(obj, "metadata").get("name", "")
        return Health(DEGRADED, f"Deployment {name!r} exceeded its progress deadline")
    desired = number(spec, "replicas", 1)
    updated, total = number(status, "updatedReplicas"), number(status, "replicas")
    available = number(status, "availableReplicas")
    if updated < desired:
        return Health(PROGRESSING, f"{updated} of {desired} new replicas updated")
    if total > updated:
        return Health(PROGRESSING, f"{total - updated} old replicas pending termination")
    if available < updated:
        return Health(PROGRESSING, f"{available} of {updated} updated replicas available")
    return Health(HEALTHY)


def stateful_set(obj: Obj) -> Health:
    spec, status = section(obj, "spec"), section(obj, "status")
    if number(status, "observedGeneration") == 0 or generation_lag(obj):
        return _lagging("statefulset")
    desired = number(spec, "replicas", 1)
    ready = number(status, "readyReplicas")
    if ready < desired:
        return Health(PROGRESSING, f"{ready} of {desired} pods ready")
    strategy = section(spec, "updateStrategy")
    rolling = section(strategy, "rollingUpdate")
    if strategy.get("type", "RollingUpdate") == "RollingUpdate" and "partition" in rolling:
        target = desired - number(rolling, "partition")
        updated = number(status, "updatedReplicas")
        if updated < target:
            return Health(PROGRESSING, f"partitioned roll out: {updated} of {target} updated")
        return Health(HEALTHY, f"partitioned roll out complete: {updated} pods updated")
    if strategy.get("type") == "OnDelete":
        return Health(HEALTHY, f"{ready} pods ready")
    current, update = status.get("currentRevision"), status.get("updateRevision")
    if update != current:
        return Health(PROGRESSING, f"rolling update to revision {update} in progress")
    return Health(HEALTHY)


def daemon_set(obj: Obj) -> Health:
    spec, status = section(obj, "spec"), section(obj, "status")
    if generation_lag(obj):
        return _lagging("daemonset")
    if section(spec, "updateStrategy").get("type") == "OnDelete":
        return Health(HEALTHY)
    desired = number(status, "desiredNumberScheduled")
    updated, available = number(status, "updatedNumberScheduled"), number(status, "numberAvailable")
    if updated < desired:
        return Health(PROGRESSING, f"{updated} of {desired} pods updated")
    if available < desired:
        return Health(PROGRESSING, f"{available} of {desired} updated pods available")
    return Health(HEALTHY)


def replica_set(obj: Obj) -> Health:
    spec, status = section(obj, "spec"), section(obj, "status")
    if generation_lag(obj):
        return _lagging("replicaset")
    failure = condition_is(obj, "ReplicaFailure", "True")
    if failure is not None:
        return Health(DEGRADED, str(failure.get("message") or "replica failure"))
    desired, available = number(spec, "replicas", 1), number(status, "availableReplicas")
    if available < desired:
        return Health(PROGRESSING, f"{available} of {desired} replicas available")
    return Health(HEALTHY)


def _crashing(reason: str) -> bool:
    return reason.startswith("Err") or reason.endswith(("Error", "BackOff"))


def _terminated_message(container: Obj) -> str:
    terminated = section(section(container, "state"), "terminated")
    if not terminated:
        return ""
    if terminated.get("message"):
        return str(terminated["message"])
    if terminated.get("reason") == "OOMKilled":
        return "OOMKilled"
    code = number(terminated, "exitCode")
    return f"container {container.get('name', '')!r} failed with exit code {code}" if code else ""


def _container_statuses(status: Obj, key: str) -> list[Obj]:
    found = status.get(key)
    return [c for c in found if isinstance(c, dict)] if isinstance(found, list) else []


def pod(obj: Obj) -> Health:
    spec, status = section(obj, "spec"), section(obj, "status")
    restart = spec.get("restartPolicy", "Always")
    containers = _container_statuses(status, "containerStatuses")
    message = str(status.get("message") or "")
    if restart == "Always":
        waiting = [section(section(c, "state"), "waiting") for c in containers]
        crashing = [w for w in waiting if _crashing(str(w.get("reason") or ""))]
        if crashing:
            return Health(
                DEGRADED, ", ".join(str(w.get("message") or w.get("reason")) for w in crashing)
            )
    phase = status.get("phase")
    if phase == "Pending":
        return Health(PROGRESSING, message)
    if phase == "Succeeded":
        return Health(HEALTHY, message)
    if phase == "Failed":
        if message:
            return Health(DEGRADED, message)
        init = _container_statuses(status, "initContainerStatuses")
        reasons = [m for m in map(_terminated_message, init + containers) if m]
        return Health(DEGRADED, reasons[0] if reasons else "pod failed")
    if phase == "Running":
        if restart != "Always":
            return Health(PROGRESSING, message or "running")
        if condition_is(obj, "Ready", "True"):
            return Health(HEALTHY, message)
        if any(section(section(c, "lastState"), "terminated") for c in containers):
            return Health(DEGRADED, message or "a container restarted and the pod is not ready")
        return Health(PROGRESSING, message or "waiting for the pod to be ready")
    return Health(HealthStatus.UNKNOWN, message or f"pod phase {phase!r}")


def job(obj: Obj) -> Health:
    failed = condition_is(obj, "Failed", "True")
    if failed is not None:
        return Health(DEGRADED, str(failed.get("message") or failed.get("reason") or "failed"))
    complete = condition_is(obj, "Complete", "True")
    if complete is not None:
        return Health(HEALTHY, str(complete.get("message") or ""))
    suspended = condition_is(obj, "Suspended", "True")
    if suspended is not None:
        return Health(SUSPENDED, str(suspended.get("message") or "Job is suspended"))
    status = section(obj, "status")
    return Health(
        PROGRESSING, f"{number(status, 'active')} active, {number(status, 'failed')} failed"
    )
