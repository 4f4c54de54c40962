"""Health of the networking, storage and API kinds that have a readiness of their own."""

from __future__ import annotations

import json

from fleet.engine.health.fields import (
    Obj,
    condition,
    condition_is,
    conditions,
    reason_message,
    section,
)
from fleet.model.health import Health, HealthStatus

PROGRESSING, HEALTHY = HealthStatus.PROGRESSING, HealthStatus.HEALTHY
DEGRADED = HealthStatus.DEGRADED


def _has_lb_ingress(obj: Obj) -> bool:
    return bool(section(section(obj, "status"), "loadBalancer").get("ingress"))


def service(obj: Obj) -> Health:
    if section(obj, "spec").get("type") != "LoadBalancer" or _has_lb_ingress(obj):
        return Health(HEALTHY)
    return Health(PROGRESSING, "waiting for the load balancer to get an address")


def ingress(obj: Obj) -> Health:
    if _has_lb_ingress(obj):
        return Health(HEALTHY)
    return Health(PROGRESSING, "waiting for the ingress to get an address")


def persistent_volume_claim(obj: Obj) -> Health:
    phase = section(obj, "status").get("phase")
    if phase == "Bound":
        return Health(HEALTHY)
    if phase == "Pending":
        return Health(PROGRESSING, "waiting for the claim to be bound")
    if phase == "Lost":
        return Health(DEGRADED, "the claim lost its volume")
    return Health(HealthStatus.UNKNOWN, f"claim phase {phase!r}")


def api_service(obj: Obj) -> Health:
    available = condition(obj, "Available")
    if available is None:
        return Health(PROGRESSING, "waiting for the Available condition")
    if available.get("status") == "True":
        return Health(HEALTHY)
    return Health(PROGRESSING, reason_message(available) or "not available")


#: (condition type, reason) pairs that decide an autoscaler's health, as Argo CD reads
#: them: the first condition (in status order) matching a pair decides, whatever its
#: status, so an AbleToScale/SucceededRescale before a failed metrics fetch is Healthy.
_HPA_DEGRADED = frozenset(
    {
        ("AbleToScale", "FailedGetScale"),
        ("AbleToScale", "FailedUpdateScale"),
        ("ScalingActive", "FailedGetResourceMetric"),
        ("ScalingActive", "InvalidSelector"),
    }
)
_HPA_HEALTHY = frozenset(
    {
        ("AbleToScale", "SucceededRescale"),
        ("ScalingLimited", "DesiredWithinRange"),
        ("ScalingLimited", "TooFewReplicas"),
        ("ScalingLimited", "TooManyReplicas"),
    }
)


def _hpa_conditions(obj: Obj) -> list[Obj]:
    found = conditions(obj)
    if found:
        return found
    # autoscaling/v1 keeps them in an annotation, as JSON.
    text = section(section(obj, "metadata"), "annotations").get(
        "autoscaling.alpha.kubernetes.io/conditions"
    )
    try:
        parsed = json.loads(text) if isinstance(text, str) else []
    except ValueError:
        return []
    return [c for c in parsed if isinstance(c, dict)] if isinstance(parsed, list) else []


def horizontal_pod_autoscaler(obj: Obj) -> Health:
    for cond in _hpa_conditions(obj):
        pair = (str(cond.get("type") or ""), str(cond.get("reason") or ""))
        if pair in _HPA_DEGRADED:
            return Health(DEGRADED, str(cond.get("message") or ""))
        if pair in _HPA_HEALTHY:
            return Health(HEALTHY, str(cond.get("message") or ""))
    return Health(PROGRESSING, "Waiting to Autoscale")


def custom_resource_definition(obj: Obj) -> Health:
    """Argo CD's reading, except that Established=False with reason Installing (the
    moment between the names being accepted and the kind being served, which every new
    CRD passes through) is Progressing: as Degraded it would fail every sync creating a
    CRD, since fleet fails a wave on a Degraded object at once."""
    found = conditions(obj)
    if not found:
        return Health(PROGRESSING, "Status conditions not found")
    terminating = condition_is(obj, "Terminating", "True")
    if terminating is not None:
        return Health(PROGRESSING, f"CRD is being terminated: {terminating.get('message') or ''}")
    names = condition_is(obj, "NamesAccepted", "False")
    if names is not None:
        return Health(DEGRADED, f"CRD names have not been accepted: {names.get('message') or ''}")
    established = condition(obj, "Established")
    if established is None or established.get("status") != "True":
        message = str((established or {}).get("message") or "")
        if established is not None and established.get("reason") == "Installing":
            return Health(PROGRESSING, f"CRD is not established yet: {message}")
        return Health(DEGRADED, f"CRD is not established: {message}")
    violations = condition_is(obj, "NonStructuralSchema", "True")
    if violations is not None:
        return Health(DEGRADED, f"Schema violations found: {violations.get('message') or ''}")
    return Health(HEALTHY, "CRD is healthy")


def argo_workflow(obj: Obj) -> Health:
    """An Argo Workflow by its phase (so a Workflow used as a hook waits for its end)."""
    status = section(obj, "status")
    phase, message = status.get("phase") or "", str(status.get("message") or "")
    if phase in ("", "Pending", "Running"):
        return Health(PROGRESSING, message)
    if phase == "Succeeded":
        return Health(HEALTHY, message)
    if phase in ("Failed", "Error"):
        return Health(DEGRADED, message)
    return Health(HealthStatus.UNKNOWN, message)
