"""Health rules per kind, as a table: one row, one behaviour."""

from __future__ import annotations

from typing import Any

import pytest

from fleet.engine.health import app_health, assess
from fleet.model.health import Health, HealthStatus, worst
from fleet.model.refs import ObjectRef

H, S, P, M, D, U = (
    HealthStatus.HEALTHY,
    HealthStatus.SUSPENDED,
    HealthStatus.PROGRESSING,
    HealthStatus.MISSING,
    HealthStatus.DEGRADED,
    HealthStatus.UNKNOWN,
)


def obj(
    api: str, kind: str, spec: Any = None, status: Any = None, generation: int = 1, **meta: Any
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "apiVersion": api,
        "kind": kind,
        "metadata": {"name": "x", "namespace": "web", "generation": generation, **meta},
    }
    if spec is not None:
        out["spec"] = spec
    if status is not None:
        out["status"] = status
    return out


def deploy(spec: Any = None, generation: int = 1, **status: Any) -> dict[str, Any]:
    return obj(
        "apps/v1",
        "Deployment",
        {"replicas": 2, **(spec or {})},
        {"observedGeneration": 1, **status},
        generation,
    )


READY2 = {"replicas": 2, "updatedReplicas": 2, "availableReplicas": 2}


def sts(spec: Any = None, **status: Any) -> dict[str, Any]:
    return obj(
        "apps/v1",
        "StatefulSet",
        {"replicas": 2, **(spec or {})},
        {"observedGeneration": 1, **status},
    )


def ds(spec: Any = None, generation: int = 1, **status: Any) -> dict[str, Any]:
    return obj("apps/v1", "DaemonSet", spec or {}, {"observedGeneration": 1, **status}, generation)


def pod(status: Any, restart: str = "Always") -> dict[str, Any]:
    return obj("v1", "Pod", {"restartPolicy": restart}, status)


def waiting(reason: str, message: str = "") -> dict[str, Any]:
    return {"name": "app", "state": {"waiting": {"reason": reason, "message": message}}}


def cond(type_: str, status: str, reason: str = "", message: str = "") -> dict[str, str]:
    return {"type": type_, "status": status, "reason": reason, "message": message}


ROWS: list[tuple[str, dict[str, Any], HealthStatus, str]] = [
    # Deployment
    ("Deployment paused is Suspended", deploy({"paused": True}, **READY2), S, "paused"),
    ("Deployment whose spec is not observed yet", deploy(generation=2, **READY2), P, "generation"),
    (
        "Deployment past its progress deadline is Degraded",
        deploy(**READY2, conditions=[cond("Progressing", "False", "ProgressDeadlineExceeded")]),
        D,
        "exceeded its progress deadline",
    ),
    (
        "Deployment with fewer updated replicas than desired",
        deploy(replicas=2, updatedReplicas=1, availableReplicas=1),
        P,
        "1 of 2 new replicas",
    ),
    (
        "Deployment with old replicas still running",
        deploy(replicas=3, updatedReplicas=2, availableReplicas=2),
        P,
        "1 old replicas",
    ),
    (
        "Deployment with updated replicas not yet available",
        deploy(replicas=2, updatedReplicas=2, availableReplicas=1),
        P,
        "1 of 2 updated",
    ),
    ("Deployment fully rolled out", deploy(**READY2), H, ""),
    (
        "Deployment without replicas in spec means 1",
        obj(
            "apps/v1",
            "Deployment",
            {},
            {"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1, "availableReplicas": 1},
        ),
        H,
        "",
    ),
    # StatefulSet
    ("StatefulSet never observed", sts(observedGeneration=0), P, "observe"),
    ("StatefulSet with pods not ready", sts(readyReplicas=1), P, "1 of 2 pods ready"),
    (
        "StatefulSet partitioned roll out in progress",
        sts(
            {"updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 1}}},
            readyReplicas=2,
            updatedReplicas=0,
        ),
        P,
        "0 of 1 updated",
    ),
    (
        "StatefulSet partitioned roll out done",
        sts(
            {"updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 1}}},
            readyReplicas=2,
            updatedReplicas=1,
        ),
        H,
        "partitioned roll out complete",
    ),
    (
        "StatefulSet OnDelete is Healthy once ready",
        sts(
            {"updateStrategy": {"type": "OnDelete"}},
            readyReplicas=2,
            currentRevision="a",
            updateRevision="b",
        ),
        H,
        "2 pods ready",
    ),
    (
        "StatefulSet between revisions",
        sts(readyReplicas=2, currentRevision="a", updateRevision="b"),
        P,
        "revision b",
    ),
    (
        "StatefulSet rolled out",
        sts(readyReplicas=2, currentRevision="a", updateRevision="a"),
        H,
        "",
    ),
    # DaemonSet
    ("DaemonSet whose spec is not observed yet", ds(generation=3), P, "generation"),
    (
        "DaemonSet OnDelete is Healthy",
        ds({"updateStrategy": {"type": "OnDelete"}}, desiredNumberScheduled=3),
        H,
        "",
    ),
    (
        "DaemonSet with pods not updated",
        ds(desiredNumberScheduled=3, updatedNumberScheduled=2, numberAvailable=3),
        P,
        "2 of 3 pods updated",
    ),
    (
        "DaemonSet with pods not available",
        ds(desiredNumberScheduled=3, updatedNumberScheduled=3, numberAvailable=1),
        P,
        "1 of 3",
    ),
    (
        "DaemonSet rolled out",
        ds(desiredNumberScheduled=3, updatedNumberScheduled=3, numberAvailable=3),
        H,
        "",
    ),
    # ReplicaSet
    (
        "ReplicaSet behind its generation",
        obj("apps/v1", "ReplicaSet", {"replicas": 1}, {"observedGeneration": 0}),
        P,
        "generation",
    ),
    (
        "ReplicaSet with a replica failure is Degraded",
        obj(
            "apps/v1",
            "ReplicaSet",
            {"replicas": 1},
            {"observedGeneration": 1, "conditions": [cond("ReplicaFailure", "True", "", "quota")]},
        ),
        D,
        "quota",
    ),
    (
        "ReplicaSet with replicas not available",
        obj(
            "apps/v1",
            "ReplicaSet",
            {"replicas": 2},
            {"observedGeneration": 1, "availableReplicas": 1},
        ),
        P,
        "1 of 2",
    ),
    (
        "ReplicaSet available",
        obj(
            "apps/v1",
            "ReplicaSet",
            {"replicas": 2},
            {"observedGeneration": 1, "availableReplicas": 2},
        ),
        H,
        "",
    ),
    # Pod
    (
        "Pod in CrashLoopBackOff is Degraded",
        pod({"phase": "Running", "containerStatuses": [waiting("CrashLoopBackOff", "back-off")]}),
        D,
        "back-off",
    ),
    (
        "Pod with ErrImagePull is Degraded",
        pod({"phase": "Pending", "containerStatuses": [waiting("ErrImagePull", "no image")]}),
        D,
        "no image",
    ),
    (
        "Pod with CreateContainerConfigError is Degraded",
        pod({"phase": "Pending", "containerStatuses": [waiting("CreateContainerConfigError")]}),
        D,
        "CreateContainerConfigError",
    ),
    (
        "crash reasons do not count for restartPolicy Never (hooks)",
        pod({"phase": "Pending", "containerStatuses": [waiting("ErrImagePull")]}, "Never"),
        P,
        "",
    ),
    ("Pod Pending is Progressing", pod({"phase": "Pending"}), P, ""),
    ("Pod Succeeded is Healthy", pod({"phase": "Succeeded"}, "Never"), H, ""),
    (
        "Pod Failed is Degraded with its message",
        pod({"phase": "Failed", "message": "evicted"}),
        D,
        "evicted",
    ),
    (
        "Pod Failed names the failed container",
        pod(
            {
                "phase": "Failed",
                "containerStatuses": [{"name": "app", "state": {"terminated": {"exitCode": 3}}}],
            },
            "Never",
        ),
        D,
        "exit code 3",
    ),
    (
        "Pod Failed by OOM",
        pod(
            {
                "phase": "Failed",
                "initContainerStatuses": [
                    {
                        "name": "init",
                        "state": {"terminated": {"reason": "OOMKilled", "exitCode": 137}},
                    }
                ],
            },
            "Never",
        ),
        D,
        "OOMKilled",
    ),
    (
        "Pod Running and Ready is Healthy",
        pod({"phase": "Running", "conditions": [cond("Ready", "True")]}),
        H,
        "",
    ),
    (
        "Pod Running, not ready, after a restart is Degraded",
        pod(
            {
                "phase": "Running",
                "containerStatuses": [
                    {
                        "name": "app",
                        "state": {"running": {}},
                        "lastState": {"terminated": {"exitCode": 1}},
                    }
                ],
            }
        ),
        D,
        "",
    ),
    ("Pod Running, not ready yet", pod({"phase": "Running"}), P, "ready"),
    (
        "Pod Running with restartPolicy Never is still running",
        pod({"phase": "Running", "conditions": [cond("Ready", "True")]}, "Never"),
        P,
        "",
    ),
    ("Pod in an unknown phase", pod({"phase": "Unknown"}), U, ""),
    # Job
    (
        "Job complete (status True)",
        obj("batch/v1", "Job", {}, {"conditions": [cond("Complete", "True")]}),
        H,
        "",
    ),
    (
        "Job Complete condition with status False does not count (fleet)",
        obj("batch/v1", "Job", {}, {"conditions": [cond("Complete", "False")]}),
        P,
        "",
    ),
    (
        "Job failed",
        obj(
            "batch/v1",
            "Job",
            {},
            {"conditions": [cond("Failed", "True", "BackoffLimitExceeded", "too many")]},
        ),
        D,
        "too many",
    ),
    (
        "Job suspended",
        obj("batch/v1", "Job", {}, {"conditions": [cond("Suspended", "True")]}),
        S,
        "",
    ),
    ("Job running", obj("batch/v1", "Job", {}, {"active": 1}), P, "1 active"),
    # Service, Ingress, PVC, APIService, HPA, CRD
    ("ClusterIP Service is Healthy", obj("v1", "Service", {"type": "ClusterIP"}), H, ""),
    (
        "LoadBalancer without an address",
        obj("v1", "Service", {"type": "LoadBalancer"}, {}),
        P,
        "load balancer",
    ),
    (
        "LoadBalancer with an address",
        obj(
            "v1",
            "Service",
            {"type": "LoadBalancer"},
            {"loadBalancer": {"ingress": [{"ip": "1.2.3.4"}]}},
        ),
        H,
        "",
    ),
    (
        "Ingress with an address",
        obj(
            "networking.k8s.io/v1",
            "Ingress",
            {},
            {"loadBalancer": {"ingress": [{"hostname": "lb"}]}},
        ),
        H,
        "",
    ),
    ("Ingress without an address", obj("networking.k8s.io/v1", "Ingress", {}, {}), P, ""),
    ("PVC Bound", obj("v1", "PersistentVolumeClaim", {}, {"phase": "Bound"}), H, ""),
    ("PVC Pending", obj("v1", "PersistentVolumeClaim", {}, {"phase": "Pending"}), P, ""),
    ("PVC Lost", obj("v1", "PersistentVolumeClaim", {}, {"phase": "Lost"}), D, ""),
    ("PVC without a phase", obj("v1", "PersistentVolumeClaim", {}, {}), U, ""),
    (
        "APIService Available",
        obj(
            "apiregistration.k8s.io/v1",
            "APIService",
            {},
            {"conditions": [cond("Available", "True")]},
        ),
        H,
        "",
    ),
    (
        "APIService not available",
        obj(
            "apiregistration.k8s.io/v1",
            "APIService",
            {},
            {"conditions": [cond("Available", "False", "Missing", "no endpoints")]},
        ),
        P,
        "no endpoints",
    ),
    (
        "APIService without conditions",
        obj("apiregistration.k8s.io/v1", "APIService", {}, {}),
        P,
        "Available",
    ),
    (
        "HPA that cannot get metrics is Degraded",
        obj(
            "autoscaling/v2",
            "HorizontalPodAutoscaler",
            {},
            {
                "conditions": [
                    cond("AbleToScale", "True", "SucceededGetScale"),
                    cond("ScalingActive", "False", "FailedGetResourceMetric", "no metrics"),
                ]
            },
        ),
        D,
        "no metrics",
    ),
    (
        "HPA able to scale is Healthy",
        obj(
            "autoscaling/v2",
            "HorizontalPodAutoscaler",
            {},
            {"conditions": [cond("AbleToScale", "True", "SucceededRescale")]},
        ),
        H,
        "",
    ),
    (
        "HPA v1 conditions from its annotation",
        obj(
            "autoscaling/v1",
            "HorizontalPodAutoscaler",
            {},
            {},
            annotations={
                "autoscaling.alpha.kubernetes.io/conditions": (
                    '[{"type":"AbleToScale","status":"False","reason":"FailedGetScale",'
                    '"message":"cannot read the scale"}]'
                )
            },
        ),
        D,
        "cannot read the scale",
    ),
    ("HPA without conditions yet", obj("autoscaling/v2", "HorizontalPodAutoscaler", {}, {}), P, ""),
    (
        "HPA with an unreadable v1 annotation",
        obj(
            "autoscaling/v1",
            "HorizontalPodAutoscaler",
            {},
            {},
            annotations={"autoscaling.alpha.kubernetes.io/conditions": "{not json"},
        ),
        P,
        "",
    ),
    (
        "CRD established",
        obj(
            "apiextensions.k8s.io/v1",
            "CustomResourceDefinition",
            {},
            {"conditions": [cond("NamesAccepted", "True"), cond("Established", "True")]},
        ),
        H,
        "",
    ),
    (
        "CRD names not accepted",
        obj(
            "apiextensions.k8s.io/v1",
            "CustomResourceDefinition",
            {},
            {"conditions": [cond("NamesAccepted", "False", "Conflict", "plural taken")]},
        ),
        D,
        "plural taken",
    ),
    (
        "CRD with a non-structural schema",
        obj(
            "apiextensions.k8s.io/v1",
            "CustomResourceDefinition",
            {},
            {
                "conditions": [
                    cond("Established", "True"),
                    cond("NonStructuralSchema", "True", "Violations", "no type"),
                ]
            },
        ),
        D,
        "Schema violations found: no type",
    ),
    (
        "CRD not established yet",
        obj("apiextensions.k8s.io/v1", "CustomResourceDefinition", {}, {"conditions": []}),
        P,
        "conditions not found",
    ),
    # kstatus for everything else
    (
        "any object being deleted is Progressing",
        deploy(**READY2) | {"metadata": {"name": "x", "deletionTimestamp": "2026-01-01T00:00:00Z"}},
        P,
        "deleted",
    ),
    (
        "custom resource with a lagging observedGeneration",
        obj("example.com/v1", "Widget", {}, {"observedGeneration": 1}, generation=2),
        P,
        "2",
    ),
    (
        "custom resource Reconciling",
        obj(
            "example.com/v1", "Widget", {}, {"conditions": [cond("Reconciling", "True", "Working")]}
        ),
        P,
        "Working",
    ),
    (
        "custom resource Stalled is Degraded",
        obj(
            "example.com/v1",
            "Widget",
            {},
            {"conditions": [cond("Stalled", "True", "BadConfig", "no such secret")]},
        ),
        D,
        "no such secret",
    ),
    (
        "custom resource Ready True",
        obj("example.com/v1", "Widget", {}, {"conditions": [cond("Ready", "True")]}),
        H,
        "",
    ),
    (
        "custom resource Ready False",
        obj("example.com/v1", "Widget", {}, {"conditions": [cond("Ready", "False", "Waiting")]}),
        P,
        "Waiting",
    ),
    (
        "custom resource Ready Unknown",
        obj("example.com/v1", "Widget", {}, {"conditions": [cond("Ready", "Unknown")]}),
        P,
        "",
    ),
    ("custom resource without status is Healthy", obj("example.com/v1", "Widget", {}), H, ""),
    ("ConfigMap is Healthy at once", obj("v1", "ConfigMap"), H, ""),
    (
        "a kind under an unknown group uses kstatus",
        obj("other.io/v1", "Deployment", {}, {"observedGeneration": 0}),
        P,
        "",
    ),
]


@pytest.mark.parametrize(
    ("live", "status", "message"), [(o, s, m) for _, o, s, m in ROWS], ids=[row[0] for row in ROWS]
)
def test_health(live: dict[str, Any], status: HealthStatus, message: str) -> None:
    health = assess(live)
    assert health.status is status
    assert message in health.message


def test_severity_order() -> None:
    assert [s.severity for s in (H, S, P, M, D, U)] == sorted(s.severity for s in HealthStatus)
    assert worst([Health(P, "a"), Health(D, "b"), Health(P, "c")]) == Health(D, "b")
    assert worst([]) == Health(H)


def test_app_health_is_the_worst_and_names_the_object() -> None:
    ref_ok = ObjectRef("", "ConfigMap", "web", "ok")
    ref_gone = ObjectRef("apps", "Deployment", "web", "api")
    found = app_health([(ref_ok, obj("v1", "ConfigMap")), (ref_gone, None)])
    assert found.status is M
    assert "Deployment.apps web/api" in found.message
    degraded = app_health(
        [
            (
                ref_gone,
                deploy(
                    **READY2, conditions=[cond("Progressing", "False", "ProgressDeadlineExceeded")]
                ),
            ),
            (ref_ok, None),
        ]
    )
    assert degraded.status is D
    assert degraded.message.startswith("Deployment.apps web/api: ")


def test_kstatus_alone_treats_an_object_being_deleted_as_progressing() -> None:
    from fleet.engine.health import kstatus

    found = kstatus(
        obj(
            "example.com/v1",
            "Widget",
            {},
            {"conditions": [cond("Ready", "True")]},
            deletionTimestamp="2026-01-01T00:00:00Z",
        )
    )
    assert found.status is P


@pytest.mark.parametrize(
    ("terminated", "message"),
    [
        ({"message": "disk full", "exitCode": 1}, "disk full"),
        ({"reason": "OOMKilled", "exitCode": 137}, "OOMKilled"),
        ({"exitCode": 0}, "pod failed"),
    ],
)
def test_failed_pod_messages(terminated: dict[str, Any], message: str) -> None:
    failed = pod(
        {
            "phase": "Failed",
            "containerStatuses": [{"name": "app", "state": {"terminated": terminated}}],
        },
        "Never",
    )
    assert assess(failed).message == message
