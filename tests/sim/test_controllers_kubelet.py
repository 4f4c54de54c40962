"""The pretend kubelet: a pod's status as a function of its spec, markers and age."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from fleet.sim.controllers.actions import Bind, Delete, ReplaceStatus
from fleet.sim.controllers.kubelet import (
    CRASH_BACKOFF_MAX,
    crash_restarts,
    node_names,
    reconcile_pod,
    stage_at,
)
from fleet.sim.controllers.markers import READY_DELAY_ANNOTATION
from fleet.sim.controllers.objects import Obj, condition, rfc3339

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
NODES = node_names(2)


def pod(
    image: str = "nginx",
    policy: str | None = None,
    node: str | None = "fleet-sim-node-1",
    annotations: dict[str, str] | None = None,
) -> Obj:
    spec: Obj = {"containers": [{"name": "app", "image": image}]}
    if policy:
        spec["restartPolicy"] = policy
    if node:
        spec["nodeName"] = node
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "p",
            "namespace": "ns",
            "uid": "u-1",
            "resourceVersion": "5",
            "annotations": annotations or {},
        },
        "spec": spec,
    }


@pytest.mark.parametrize(
    ("image", "policy", "age", "stage", "restarts"),
    [
        ("nginx", None, 0.0, "starting", 0),
        ("nginx", None, 0.99, "starting", 0),
        ("nginx", None, 1.0, "running", 0),
        ("nginx", None, 500.0, "running", 0),
        ("nginx", "Never", 1.5, "running", 0),
        ("nginx", "Never", 2.0, "succeeded", 0),
        ("nginx", "OnFailure", 3.0, "succeeded", 0),
        ("fail", "Never", 1.0, "failed", 0),
        ("crashloop", None, 1.0, "crashloop", 1),
        ("crashloop", None, 2.0, "crashloop", 2),  # restarted after 1 s
        ("crashloop", None, 4.0, "crashloop", 3),  # then 2 s
        ("crashloop", None, 8.0, "crashloop", 4),  # then 4 s
        ("fail", "OnFailure", 2.0, "crashloop", 2),
    ],
)
def test_stage_by_age(
    image: str, policy: str | None, age: float, stage: str, restarts: int
) -> None:
    got = stage_at(pod(image, policy), age, 1.0)
    assert (got.name, got.restarts) == (stage, restarts)


def test_crash_backoff_doubles_and_is_capped() -> None:
    restarts, wait = crash_restarts(0.0)
    assert (restarts, wait) == (1, 1.0)
    _, wait_late = crash_restarts(10_000.0)
    assert 0 < wait_late <= CRASH_BACKOFF_MAX


def test_annotation_delays_one_pod() -> None:
    slow = pod(annotations={READY_DELAY_ANNOTATION: "10"})
    assert stage_at(slow, 5.0, 1.0).name == "starting"
    assert stage_at(slow, 5.0, 1.0).next_change == pytest.approx(5.0)
    assert stage_at(slow, 10.0, 1.0).name == "running"


def write(plan_pod: Obj, age: float, now: datetime = NOW) -> Obj:
    plan = reconcile_pod(plan_pod, age=age, now=now, ready_delay=1.0, nodes=NODES)
    [action] = [a for a in plan.actions if isinstance(a, ReplaceStatus)]
    return action.obj["status"]


def test_unscheduled_pod_is_bound_first() -> None:
    plan = reconcile_pod(pod(node=None), age=5.0, now=NOW, ready_delay=1.0, nodes=NODES)
    [action] = plan.actions
    assert isinstance(action, Bind)
    assert action.node in NODES
    assert (action.namespace, action.name) == ("ns", "p")


def test_unscheduled_pod_runs_when_binding_is_refused() -> None:
    plan = reconcile_pod(
        pod(node=None), age=5.0, now=NOW, ready_delay=1.0, nodes=NODES, can_bind=False
    )
    [action] = plan.actions
    assert isinstance(action, ReplaceStatus)
    assert action.obj["status"]["phase"] == "Running"


def test_deleting_pod_is_confirmed_with_zero_grace() -> None:
    doomed = pod()
    doomed["metadata"]["deletionTimestamp"] = rfc3339(NOW)
    plan = reconcile_pod(doomed, age=5.0, now=NOW, ready_delay=1.0, nodes=NODES)
    assert plan.actions == [Delete("Pod", "ns", "p", grace_period_seconds=0)]


def test_pending_then_running_and_ready() -> None:
    pending = write(pod(), 0.2)
    assert pending["phase"] == "Pending"
    assert condition(pending["conditions"], "Ready")["status"] == "False"  # type: ignore[index]
    assert condition(pending["conditions"], "PodScheduled")["status"] == "True"  # type: ignore[index]
    [container] = pending["containerStatuses"]
    assert container["state"] == {"waiting": {"reason": "ContainerCreating"}}
    assert container["ready"] is False

    started = pod()
    started["status"] = pending
    later = NOW + timedelta(seconds=2)
    running = write(started, 1.2, later)
    assert running["phase"] == "Running"
    assert running["startTime"] == pending["startTime"] == rfc3339(NOW)
    for kind in ("Ready", "ContainersReady", "Initialized", "PodScheduled"):
        assert condition(running["conditions"], kind)["status"] == "True"  # type: ignore[index]
    ready = condition(running["conditions"], "Ready")
    assert ready["lastTransitionTime"] == rfc3339(later)  # type: ignore[index]
    [container] = running["containerStatuses"]
    assert container["ready"] is True
    assert container["started"] is True
    assert container["state"]["running"]["startedAt"] == rfc3339(later)
    assert container["imageID"].startswith("nginx@sha256:")
    assert running["podIP"].startswith("10.244.")
    assert running["hostIP"] == "172.18.0.2"


def test_status_is_not_rewritten_when_the_stage_did_not_change() -> None:
    settled = pod()
    settled["status"] = write(pod(), 3.0)
    plan = reconcile_pod(
        settled, age=30.0, now=NOW + timedelta(minutes=1), ready_delay=1.0, nodes=NODES
    )
    assert plan.actions == []
    assert plan.requeue_after is None


def test_requeues_when_the_next_stage_is_due() -> None:
    plan = reconcile_pod(pod(), age=0.25, now=NOW, ready_delay=1.0, nodes=NODES)
    assert plan.requeue_after == pytest.approx(0.75)


def test_crash_loop_status() -> None:
    crashing = pod("example.com/crashloop:1")
    status = write(crashing, 4.5)
    assert status["phase"] == "Running"
    [container] = status["containerStatuses"]
    assert container["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    assert container["restartCount"] == 3
    assert container["ready"] is False
    assert container["lastState"]["terminated"]["exitCode"] == 1
    ready = condition(status["conditions"], "Ready")
    assert ready is not None
    assert (ready["status"], ready["reason"]) == ("False", "ContainersNotReady")
    assert "app" in ready["message"]

    crashing["status"] = status
    again = reconcile_pod(crashing, age=4.9, now=NOW, ready_delay=1.0, nodes=NODES)
    assert again.actions == []  # same restart count: nothing to write
    assert again.requeue_after == pytest.approx(3.1)  # next restart at 1 + 1 + 2 + 4 s


def test_exit_code_marker_sets_the_exit_code() -> None:
    failing = pod("busybox", policy="Never")
    failing["spec"]["containers"][0]["env"] = [{"name": "FLEET_SIM_EXIT_CODE", "value": "42"}]
    status = write(failing, 1.0)
    assert status["phase"] == "Failed"
    assert status["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 42


def test_run_to_completion_pod_succeeds() -> None:
    status = write(pod(policy="Never"), 2.5)
    assert status["phase"] == "Succeeded"
    [container] = status["containerStatuses"]
    assert container["state"]["terminated"]["exitCode"] == 0
    assert container["state"]["terminated"]["reason"] == "Completed"
    ready = condition(status["conditions"], "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "PodCompleted")  # type: ignore[index]


def test_failing_never_pod_fails_and_then_stays() -> None:
    failing = pod("fail", policy="Never")
    status = write(failing, 1.0)
    assert status["phase"] == "Failed"
    [container] = status["containerStatuses"]
    assert container["state"]["terminated"]["exitCode"] == 1
    failing["status"] = status
    assert reconcile_pod(failing, age=100.0, now=NOW, ready_delay=1.0, nodes=NODES).actions == []


def test_fields_the_kubelet_does_not_own_are_kept() -> None:
    with_qos = pod()
    with_qos["status"] = {"qosClass": "BestEffort"}
    assert write(with_qos, 2.0)["qosClass"] == "BestEffort"
