"""Built-in health rules against the cases Argo CD's health package (gitops-engine
pkg/health) decides, one row per case: the status must be Argo CD's, and where Argo CD's
message carries the object's own words (HPA, CRD, Workflow, APIService) the message too.
Deliberate differences are rows of their own, marked DIFFERS, and listed with their
reasons in docs/engine.md ("Health: where fleet and Argo CD differ").
"""

from __future__ import annotations

from typing import Any

import pytest

from fleet.engine.health import BUILT_IN, explain
from fleet.engine.hooks import HookOutcome, hook_state
from fleet.model.health import HealthStatus
from tests.engine.health_parity_cases import KIND_CASES, cond, crd, obj, workflow

H, S, P, D, U = (
    HealthStatus.HEALTHY,
    HealthStatus.SUSPENDED,
    HealthStatus.PROGRESSING,
    HealthStatus.DEGRADED,
    HealthStatus.UNKNOWN,
)


def deploy(spec: Any = None, generation: int = 1, **status: Any) -> dict[str, Any]:
    return obj(
        "apps/v1",
        "Deployment",
        {"replicas": 2, **(spec or {})},
        {"observedGeneration": 1, **status},
        generation=generation,
    )


def sts(spec: Any = None, **status: Any) -> dict[str, Any]:
    return obj("apps/v1", "StatefulSet", {"replicas": 2, **(spec or {})}, status)


def pod(restart: str, phase: str, **status: Any) -> dict[str, Any]:
    return obj("v1", "Pod", {"restartPolicy": restart}, {"phase": phase, **status})


def waiting(reason: str, message: str = "") -> dict[str, Any]:
    return {"name": "app", "state": {"waiting": {"reason": reason, "message": message}}}


READY2 = {"replicas": 2, "updatedReplicas": 2, "availableReplicas": 2}
LB = {"loadBalancer": {"ingress": [{"ip": "10.0.0.1"}]}}

#: (case, object, Argo CD's status, message fleet must give, or None to not compare)
CASES: list[tuple[str, dict[str, Any], HealthStatus, str | None]] = [
    *KIND_CASES,
    # Deployment (apps and the old extensions group)
    ("Deployment: paused", deploy({"paused": True}, **READY2), S, "Deployment is paused"),
    ("Deployment: generation not observed", deploy(generation=2, **READY2), P, None),
    (
        "Deployment: progress deadline exceeded",
        deploy(conditions=[cond("Progressing", "False", "ProgressDeadlineExceeded")], **READY2),
        D,
        "Deployment 'x' exceeded its progress deadline",
    ),
    ("Deployment: new replicas not updated yet", deploy(replicas=2, updatedReplicas=1), P, None),
    (
        "Deployment: old replicas pending termination",
        deploy(replicas=3, updatedReplicas=2, availableReplicas=2),
        P,
        None,
    ),
    (
        "Deployment: updated replicas not available",
        deploy(replicas=2, updatedReplicas=2, availableReplicas=1),
        P,
        None,
    ),
    ("Deployment: rolled out", deploy(**READY2), H, None),
    (
        "Deployment (extensions): rolled out",
        deploy(**READY2) | {"apiVersion": "extensions/v1beta1"},
        H,
        None,
    ),
    # StatefulSet
    ("StatefulSet: observedGeneration 0", sts(status=None), P, None),
    ("StatefulSet: pods not ready", sts(observedGeneration=1, readyReplicas=1), P, None),
    (
        "StatefulSet: partitioned roll out waiting",
        sts(
            {"updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 1}}},
            observedGeneration=1,
            readyReplicas=2,
            updatedReplicas=0,
        ),
        P,
        None,
    ),
    (
        "StatefulSet: partitioned roll out complete",
        sts(
            {"updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 1}}},
            observedGeneration=1,
            readyReplicas=2,
            updatedReplicas=1,
        ),
        H,
        None,
    ),
    (
        "StatefulSet: OnDelete",
        sts(
            {"updateStrategy": {"type": "OnDelete"}},
            observedGeneration=1,
            readyReplicas=2,
            currentRevision="a",
            updateRevision="b",
        ),
        H,
        None,
    ),
    (
        "StatefulSet: rolling update in progress",
        sts(observedGeneration=1, readyReplicas=2, currentRevision="a", updateRevision="b"),
        P,
        None,
    ),
    (
        "StatefulSet: rolled out",
        sts(observedGeneration=1, readyReplicas=2, currentRevision="a", updateRevision="a"),
        H,
        None,
    ),
    # DaemonSet
    (
        "DaemonSet: generation not observed",
        obj("apps/v1", "DaemonSet", {}, {"observedGeneration": 0}, generation=1),
        P,
        None,
    ),
    (
        "DaemonSet: OnDelete",
        obj(
            "apps/v1",
            "DaemonSet",
            {"updateStrategy": {"type": "OnDelete"}},
            {"observedGeneration": 1, "desiredNumberScheduled": 3},
        ),
        H,
        None,
    ),
    (
        "DaemonSet: pods not updated",
        obj(
            "apps/v1",
            "DaemonSet",
            {},
            {
                "observedGeneration": 1,
                "desiredNumberScheduled": 3,
                "updatedNumberScheduled": 2,
                "numberAvailable": 3,
            },
        ),
        P,
        None,
    ),
    (
        "DaemonSet: updated pods not available",
        obj(
            "apps/v1",
            "DaemonSet",
            {},
            {
                "observedGeneration": 1,
                "desiredNumberScheduled": 3,
                "updatedNumberScheduled": 3,
                "numberAvailable": 2,
            },
        ),
        P,
        None,
    ),
    (
        "DaemonSet: rolled out",
        obj(
            "apps/v1",
            "DaemonSet",
            {},
            {
                "observedGeneration": 1,
                "desiredNumberScheduled": 3,
                "updatedNumberScheduled": 3,
                "numberAvailable": 3,
            },
        ),
        H,
        None,
    ),
    # ReplicaSet
    (
        "ReplicaSet: replica failure",
        obj(
            "apps/v1",
            "ReplicaSet",
            {"replicas": 2},
            {"observedGeneration": 1, "conditions": [cond("ReplicaFailure", message="quota")]},
        ),
        D,
        "quota",
    ),
    (
        "ReplicaSet: replicas not available",
        obj(
            "apps/v1",
            "ReplicaSet",
            {"replicas": 2},
            {"observedGeneration": 1, "availableReplicas": 1},
        ),
        P,
        None,
    ),
    (
        "ReplicaSet: available",
        obj(
            "apps/v1",
            "ReplicaSet",
            {"replicas": 2},
            {"observedGeneration": 1, "availableReplicas": 2},
        ),
        H,
        None,
    ),
    # Pod
    (
        "Pod: crash loop with restartPolicy Always",
        pod(
            "Always",
            "Running",
            containerStatuses=[waiting("CrashLoopBackOff", "back-off restarting")],
        ),
        D,
        "back-off restarting",
    ),
    (
        "Pod: image pull error with restartPolicy Always",
        pod("Always", "Pending", containerStatuses=[waiting("ErrImagePull", "not found")]),
        D,
        "not found",
    ),
    (
        "Pod: image pull back-off with restartPolicy Never (a hook) is not Degraded",
        pod("Never", "Pending", containerStatuses=[waiting("ImagePullBackOff")]),
        P,
        None,
    ),
    ("Pod: Pending", pod("Always", "Pending", message="scheduling"), P, "scheduling"),
    ("Pod: Succeeded", pod("Never", "Succeeded"), H, None),
    ("Pod: Failed with a message", pod("Never", "Failed", message="evicted"), D, "evicted"),
    (
        "Pod: Failed, OOMKilled",
        pod(
            "Never",
            "Failed",
            containerStatuses=[
                {"name": "app", "state": {"terminated": {"reason": "OOMKilled", "exitCode": 137}}}
            ],
        ),
        D,
        "OOMKilled",
    ),
    (
        "Pod: Failed with an exit code",
        pod(
            "Never",
            "Failed",
            initContainerStatuses=[{"name": "init", "state": {"terminated": {"exitCode": 2}}}],
        ),
        D,
        "container 'init' failed with exit code 2",
    ),
    ("Pod: Running and ready", pod("Always", "Running", conditions=[cond("Ready")]), H, None),
    (
        "Pod: Running, not ready, a container restarted",
        pod(
            "Always",
            "Running",
            conditions=[cond("Ready", "False")],
            containerStatuses=[{"name": "app", "lastState": {"terminated": {"exitCode": 1}}}],
        ),
        D,
        None,
    ),
    (
        "Pod: Running, not ready yet",
        pod("Always", "Running", conditions=[cond("Ready", "False")]),
        P,
        None,
    ),
    ("Pod: Running with restartPolicy OnFailure", pod("OnFailure", "Running"), P, None),
    ("Pod: phase Unknown", pod("Always", "Unknown"), U, None),
    # PersistentVolumeClaim, Service, Ingress
    ("PVC: Bound", obj("v1", "PersistentVolumeClaim", {}, {"phase": "Bound"}), H, None),
    ("PVC: Pending", obj("v1", "PersistentVolumeClaim", {}, {"phase": "Pending"}), P, None),
    ("PVC: Lost", obj("v1", "PersistentVolumeClaim", {}, {"phase": "Lost"}), D, None),
    ("PVC: no phase", obj("v1", "PersistentVolumeClaim", {}, {}), U, None),
    ("Service: ClusterIP", obj("v1", "Service", {"type": "ClusterIP"}, {}), H, None),
    (
        "Service: load balancer without an address",
        obj("v1", "Service", {"type": "LoadBalancer"}, {}),
        P,
        None,
    ),
    (
        "Service: load balancer with an address",
        obj("v1", "Service", {"type": "LoadBalancer"}, LB),
        H,
        None,
    ),
    ("Ingress: no address", obj("networking.k8s.io/v1", "Ingress", {}, {}), P, None),
    ("Ingress: an address", obj("networking.k8s.io/v1", "Ingress", {}, LB), H, None),
    # Job
    ("Job: complete", obj("batch/v1", "Job", {}, {"conditions": [cond("Complete")]}), H, None),
    (
        "Job: failed",
        obj("batch/v1", "Job", {}, {"conditions": [cond("Failed", message="backoff limit")]}),
        D,
        "backoff limit",
    ),
    ("Job: running", obj("batch/v1", "Job", {}, {"active": 1}), P, None),
    # APIService
    (
        "APIService: available",
        obj(
            "apiregistration.k8s.io/v1",
            "APIService",
            {},
            {"conditions": [cond("Available", "True", "Passed", "all checks passed")]},
        ),
        H,
        None,
    ),
    (
        "APIService: not available",
        obj(
            "apiregistration.k8s.io/v1",
            "APIService",
            {},
            {"conditions": [cond("Available", "False", "MissingEndpoints", "no endpoints")]},
        ),
        P,
        None,
    ),
    ("APIService: no conditions", obj("apiregistration.k8s.io/v1", "APIService", {}, {}), P, None),
]

#: Deliberate differences: (case, object, fleet's status, Argo CD's status).
DIFFERS: list[tuple[str, dict[str, Any], HealthStatus, HealthStatus]] = [
    (
        "CRD: Established=False with reason Installing (every new CRD passes through it)",
        crd(cond("NamesAccepted"), cond("Established", "False", "Installing", "installing")),
        P,
        D,
    ),
    (
        "Job: a Failed condition whose status is False",
        obj("batch/v1", "Job", {}, {"conditions": [cond("Failed", "False")], "active": 1}),
        P,
        D,
    ),
    (
        "Job: suspended",
        obj("batch/v1", "Job", {"suspend": True}, {"conditions": [cond("Suspended")]}),
        S,
        P,
    ),
    (
        "a kind without a rule, with a Ready=False condition (generic kstatus rules)",
        obj("example.com/v1", "Widget", {}, {"conditions": [cond("Ready", "False")]}),
        P,
        H,
    ),
]


@pytest.mark.parametrize(
    ("live", "status", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_argo_cd_case(live: dict[str, Any], status: HealthStatus, message: str | None) -> None:
    verdict = explain(live)
    assert verdict.health.status is status, verdict
    if message is not None:
        assert verdict.health.message == message
    assert verdict.decided_by.startswith("built-in ")


@pytest.mark.parametrize(
    ("live", "fleet", "argo"), [c[1:] for c in DIFFERS], ids=[c[0] for c in DIFFERS]
)
def test_deliberate_difference(
    live: dict[str, Any], fleet: HealthStatus, argo: HealthStatus
) -> None:
    assert fleet is not argo
    assert explain(live).health.status is fleet


def test_every_built_in_kind_has_a_case() -> None:
    covered = set()
    for _, live, _, _ in CASES:
        group = live["apiVersion"].rpartition("/")[0]
        covered.add((group, live["kind"]))
    missing = (
        set(BUILT_IN)
        - covered
        - {("extensions", "Ingress"), ("extensions", "DaemonSet"), ("extensions", "ReplicaSet")}
    )
    assert not missing, missing


@pytest.mark.parametrize(
    ("phase", "outcome"),
    [
        ("Running", HookOutcome.RUNNING),
        (None, HookOutcome.RUNNING),
        ("Succeeded", HookOutcome.SUCCEEDED),
        ("Failed", HookOutcome.FAILED),
        ("Error", HookOutcome.FAILED),
    ],
)
def test_a_workflow_hook_waits_for_its_end(phase: str | None, outcome: HookOutcome) -> None:
    assert hook_state(workflow(phase)).outcome is outcome
