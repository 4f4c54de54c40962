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


_HPA_FAILURES = (
    "FailedGetScale",
    "FailedUpdateScale",
    "FailedGetResourceMetric",
    "InvalidSelector",
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
    found = _hpa_conditions(obj)
    for cond in found:
        reason = str(cond.get("reason") or "")
        if cond.get("status") == "False" and (
            reason in _HPA_FAILURES or reason.startswith("Failed")
        ):
            return Health(DEGRADED, reason_message(cond))
    if any(c.get("type") == "AbleToScale" and c.get("status") == "True" for c in found):
        return Health(HEALTHY)
    return Health(PROGRESSING, "waiting for the autoscaler to report")


def custom_resource_definition(obj: Obj) -> Health:
    names_accepted = condition_is(obj, "NamesAccepted", "False")
    if names_accepted is not None:
        return Health(DEGRADED, reason_message(names_accepted) or "names not accepted")
    non_structural = condition_is(obj, "NonStructuralSchema", "True")
    if non_structural is not None:
        return Health(DEGRADED, reason_message(non_structural) or "schema is not structural")
    if condition_is(obj, "Established", "True") is None:
        return Health(PROGRESSING, "waiting for the CRD to be established")
    return Health(HEALTHY)
