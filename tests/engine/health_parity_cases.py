"""Argo CD's cases for the kinds whose rules follow Argo CD's exactly, messages included:
HorizontalPodAutoscaler, CustomResourceDefinition and Argo Workflow (the rows and helpers
of tests/engine/test_health_parity.py that would not fit in it)."""

from __future__ import annotations

import json
from typing import Any

from fleet.model.health import HealthStatus

H, S, P, D, U = (
    HealthStatus.HEALTHY,
    HealthStatus.SUSPENDED,
    HealthStatus.PROGRESSING,
    HealthStatus.DEGRADED,
    HealthStatus.UNKNOWN,
)


def obj(api: str, kind: str, spec: Any = None, status: Any = None, **meta: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "apiVersion": api,
        "kind": kind,
        "metadata": {"name": "x", "namespace": "ns", "generation": 1, **meta},
    }
    if spec is not None:
        out["spec"] = spec
    if status is not None:
        out["status"] = status
    return out


def cond(kind: str, status: str = "True", reason: str = "", message: str = "") -> dict[str, str]:
    return {"type": kind, "status": status, "reason": reason, "message": message}


def hpa(*conditions: dict[str, str], api: str = "autoscaling/v2") -> dict[str, Any]:
    return obj(api, "HorizontalPodAutoscaler", {}, {"conditions": list(conditions)})


def crd(*conditions: dict[str, str]) -> dict[str, Any]:
    return obj(
        "apiextensions.k8s.io/v1", "CustomResourceDefinition", {}, {"conditions": list(conditions)}
    )


def workflow(phase: str | None, message: str = "") -> dict[str, Any]:
    status = {} if phase is None else {"phase": phase, "message": message}
    return obj("argoproj.io/v1alpha1", "Workflow", {}, status)


KIND_CASES: list[tuple[str, dict[str, Any], HealthStatus, str | None]] = [
    # HorizontalPodAutoscaler: the first condition matching a deciding (type, reason)
    (
        "HPA: AbleToScale/SucceededRescale before a failed metrics fetch is Healthy",
        hpa(
            cond("AbleToScale", "True", "SucceededRescale", "scaled"),
            cond("ScalingActive", "False", "FailedGetResourceMetric", "no metrics"),
        ),
        H,
        "scaled",
    ),
    (
        "HPA: a failed metrics fetch listed first is Degraded",
        hpa(
            cond("ScalingActive", "False", "FailedGetResourceMetric", "no metrics"),
            cond("AbleToScale", "True", "SucceededRescale", "scaled"),
        ),
        D,
        "no metrics",
    ),
    (
        "HPA: AbleToScale/FailedGetScale is Degraded",
        hpa(cond("AbleToScale", "False", "FailedGetScale", "no scale")),
        D,
        "no scale",
    ),
    (
        "HPA: AbleToScale/FailedUpdateScale is Degraded",
        hpa(cond("AbleToScale", "False", "FailedUpdateScale", "cannot update")),
        D,
        "cannot update",
    ),
    (
        "HPA: ScalingActive/InvalidSelector is Degraded",
        hpa(cond("ScalingActive", "False", "InvalidSelector", "bad selector")),
        D,
        "bad selector",
    ),
    (
        "HPA: ScalingLimited/DesiredWithinRange is Healthy",
        hpa(cond("ScalingLimited", "False", "DesiredWithinRange", "within range")),
        H,
        "within range",
    ),
    (
        "HPA: ScalingLimited/TooFewReplicas is Healthy",
        hpa(cond("ScalingLimited", "True", "TooFewReplicas", "at minimum")),
        H,
        "at minimum",
    ),
    (
        "HPA: ScalingLimited/TooManyReplicas is Healthy",
        hpa(cond("ScalingLimited", "True", "TooManyReplicas", "at maximum")),
        H,
        "at maximum",
    ),
    (
        "HPA: a failure Argo CD does not list (external metric) decides nothing",
        hpa(
            cond("AbleToScale", "True", "ReadyForNewScale"),
            cond("ScalingActive", "False", "FailedGetExternalMetric", "x"),
        ),
        P,
        "Waiting to Autoscale",
    ),
    ("HPA: no conditions yet", hpa(), P, "Waiting to Autoscale"),
    (
        "HPA v1: conditions from the annotation, in order",
        obj(
            "autoscaling/v1",
            "HorizontalPodAutoscaler",
            {},
            {},
            annotations={
                "autoscaling.alpha.kubernetes.io/conditions": json.dumps(
                    [
                        cond("AbleToScale", "True", "SucceededRescale", "ok"),
                        cond("ScalingActive", "False", "FailedGetResourceMetric", "no metrics"),
                    ]
                )
            },
        ),
        H,
        "ok",
    ),
    (
        "HPA v2beta2",
        hpa(
            cond("ScalingLimited", "False", "DesiredWithinRange", "fine"), api="autoscaling/v2beta2"
        ),
        H,
        "fine",
    ),
    # CustomResourceDefinition
    ("CRD: no conditions yet", crd(), P, "Status conditions not found"),
    ("CRD: established", crd(cond("NamesAccepted"), cond("Established")), H, "CRD is healthy"),
    (
        "CRD: being terminated",
        crd(cond("Established"), cond("Terminating", message="bye")),
        P,
        "CRD is being terminated: bye",
    ),
    (
        "CRD: names not accepted",
        crd(cond("NamesAccepted", "False", "Conflict", "taken"), cond("Established", "False")),
        D,
        "CRD names have not been accepted: taken",
    ),
    (
        "CRD: not established",
        crd(cond("NamesAccepted"), cond("Established", "False", "NotAccepted", "not yet")),
        D,
        "CRD is not established: not yet",
    ),
    (
        "CRD: no Established condition at all",
        crd(cond("NamesAccepted")),
        D,
        "CRD is not established: ",
    ),
    (
        "CRD: a non-structural schema",
        crd(cond("Established"), cond("NonStructuralSchema", "True", "Violations", "no type")),
        D,
        "Schema violations found: no type",
    ),
    # Argo Workflow
    ("Workflow: no phase yet", workflow(None), P, ""),
    ("Workflow: Pending", workflow("Pending", "queued"), P, "queued"),
    ("Workflow: Running", workflow("Running", "step 2"), P, "step 2"),
    ("Workflow: Succeeded", workflow("Succeeded"), H, ""),
    ("Workflow: Failed", workflow("Failed", "step 2 failed"), D, "step 2 failed"),
    ("Workflow: Error", workflow("Error", "pod deleted"), D, "pod deleted"),
    ("Workflow: a phase Argo CD does not know", workflow("Weird"), U, ""),
]
