"""StatefulSet, DaemonSet and Job controllers, run in memory."""

from __future__ import annotations

from typing import Any

import pytest

from fleet.sim.controllers.actions import Create, Delete
from fleet.sim.controllers.jobs import compress_indexes, parse_indexes, reconcile_job
from fleet.sim.controllers.objects import REVISION_HASH, Obj, condition
from fleet.sim.controllers.statefulsets import reconcile_statefulset
from tests.sim.controller_world import World


def template(
    image: str = "nginx:1", policy: str | None = None, labels: dict[str, str] | None = None
) -> Obj:
    spec: Obj = {"containers": [{"name": "app", "image": image}]}
    if policy:
        spec["restartPolicy"] = policy
    return {"metadata": {"labels": labels or {"app": "x"}}, "spec": spec}


def statefulset(replicas: int = 3, **spec: Any) -> Obj:
    return {
        "metadata": {"name": "db"},
        "spec": {
            "replicas": replicas,
            "serviceName": "db",
            "selector": {"matchLabels": {"app": "x"}},
            "template": template(),
            **spec,
        },
    }


def ready(pod: Obj) -> bool:
    cond = condition(pod.get("status", {}).get("conditions"), "Ready")
    return cond is not None and cond["status"] == "True"


def test_statefulset_creates_pods_in_order_and_reports_ready() -> None:
    world = World(ready_delay=1.0)
    world.create("StatefulSet", statefulset(3))
    world.settle(0)
    assert [p["metadata"]["name"] for p in world.of_kind("Pod")] == ["db-0"]
    world.settle(1.5)
    assert [p["metadata"]["name"] for p in world.of_kind("Pod")] == ["db-0", "db-1"]
    world.settle(5)
    pods = world.of_kind("Pod")
    assert [p["metadata"]["name"] for p in pods] == ["db-0", "db-1", "db-2"]
    assert pods[1]["metadata"]["labels"]["statefulset.kubernetes.io/pod-name"] == "db-1"
    assert pods[1]["metadata"]["labels"]["apps.kubernetes.io/pod-index"] == "1"
    assert pods[1]["spec"]["hostname"] == "db-1"
    assert pods[1]["spec"]["subdomain"] == "db"
    status = world.get("StatefulSet", "db")["status"]
    assert status["readyReplicas"] == 3
    assert status["availableReplicas"] == 3
    assert status["currentRevision"] == status["updateRevision"]
    assert status["updatedReplicas"] == status["currentReplicas"] == 3
    assert status["observedGeneration"] == 1


def test_statefulset_parallel_creates_all_at_once() -> None:
    world = World(ready_delay=1.0)
    world.create("StatefulSet", statefulset(3, podManagementPolicy="Parallel"))
    world.settle(0)
    assert len(world.of_kind("Pod")) == 3


def test_statefulset_rolling_update_goes_from_the_highest_ordinal() -> None:
    world = World(ready_delay=0.5)
    world.create("StatefulSet", statefulset(3))
    world.settle(5)
    old_revision = world.get("StatefulSet", "db")["status"]["currentRevision"]

    def new_image(obj: Obj) -> None:
        obj["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:2"

    world.update("StatefulSet", "db", new_image)
    world.log.clear()
    world.settle(0)
    status = world.get("StatefulSet", "db")["status"]
    assert status["currentRevision"] == old_revision
    assert status["updateRevision"] != old_revision
    world.settle(10)
    deleted = [line for line in world.log if line.startswith("delete Pod")]
    assert deleted[0] == "delete Pod db-2"
    assert [line.split()[-1] for line in deleted[::2]] == ["db-2", "db-1", "db-0"]
    status = world.get("StatefulSet", "db")["status"]
    assert status["currentRevision"] == status["updateRevision"] != old_revision
    assert status["updatedReplicas"] == 3
    assert {p["metadata"]["labels"][REVISION_HASH] for p in world.of_kind("Pod")} == {
        status["updateRevision"]
    }


def test_statefulset_partition_keeps_low_ordinals() -> None:
    world = World(ready_delay=0.5)
    world.create(
        "StatefulSet",
        statefulset(3, updateStrategy={"type": "RollingUpdate", "rollingUpdate": {"partition": 2}}),
    )
    world.settle(5)

    def new_image(obj: Obj) -> None:
        obj["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:2"

    world.update("StatefulSet", "db", new_image)
    world.settle(10)
    images = {
        p["metadata"]["name"]: p["spec"]["containers"][0]["image"] for p in world.of_kind("Pod")
    }
    assert images == {"db-0": "nginx:1", "db-1": "nginx:1", "db-2": "nginx:2"}
    status = world.get("StatefulSet", "db")["status"]
    assert status["updatedReplicas"] == 1
    assert status["currentRevision"] != status["updateRevision"]


def test_statefulset_scale_down_removes_highest_first_and_keeps_claims() -> None:
    world = World(ready_delay=0.5)
    claim = {
        "metadata": {"name": "data"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }
    world.create("StatefulSet", statefulset(3, volumeClaimTemplates=[claim]))
    world.settle(5)
    claims = sorted(c["metadata"]["name"] for c in world.of_kind("PersistentVolumeClaim"))
    assert claims == ["data-db-0", "data-db-1", "data-db-2"]
    assert all(c["status"]["phase"] == "Bound" for c in world.of_kind("PersistentVolumeClaim"))
    volumes = world.get("Pod", "db-1")["spec"]["volumes"]
    assert volumes == [{"name": "data", "persistentVolumeClaim": {"claimName": "data-db-1"}}]
    world.update("StatefulSet", "db", lambda o: o["spec"].update(replicas=1))
    world.log.clear()
    world.settle(5)
    assert [p["metadata"]["name"] for p in world.of_kind("Pod")] == ["db-0"]
    assert world.log.index("delete Pod db-2") < world.log.index("delete Pod db-1")
    assert len(world.of_kind("PersistentVolumeClaim")) == 3


def test_statefulset_waits_for_an_unready_pod() -> None:
    world = World(ready_delay=0.5)
    sts = world.create("StatefulSet", statefulset(3))
    sts["spec"]["template"]["spec"]["containers"][0]["image"] = "crashloop"
    world.settle(5)
    assert [p["metadata"]["name"] for p in world.of_kind("Pod")] == ["db-0"]
    plan = reconcile_statefulset(
        world.get("StatefulSet", "db"), world.of_kind("Pod"), set(), world.now
    )
    assert not [a for a in plan.actions if isinstance(a, Create | Delete)]


def daemonset(**spec: Any) -> Obj:
    return {
        "metadata": {"name": "agent"},
        "spec": {"selector": {"matchLabels": {"app": "x"}}, "template": template(), **spec},
    }


def test_daemonset_runs_one_pod_per_node() -> None:
    world = World(ready_delay=0.5, nodes=3)
    world.create("DaemonSet", daemonset())
    world.settle(2)
    pods = world.of_kind("Pod")
    assert sorted(p["spec"]["nodeName"] for p in pods) == world.nodes
    status = world.get("DaemonSet", "agent")["status"]
    assert status == {
        "observedGeneration": 1,
        "desiredNumberScheduled": 3,
        "currentNumberScheduled": 3,
        "numberMisscheduled": 0,
        "numberReady": 3,
        "numberAvailable": 3,
        "updatedNumberScheduled": 3,
    }


def test_daemonset_rolling_update_keeps_max_unavailable() -> None:
    world = World(ready_delay=0.5, nodes=4)
    world.create("DaemonSet", daemonset())
    world.settle(2)

    def new_image(obj: Obj) -> None:
        obj["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:2"

    world.update("DaemonSet", "agent", new_image)

    def check(w: World) -> None:
        live = [
            p for p in w.of_kind("Pod") if "deletionTimestamp" not in p["metadata"] and ready(p)
        ]
        assert len(live) >= 3

    world.settle(15, check=check)
    status = world.get("DaemonSet", "agent")["status"]
    assert status["updatedNumberScheduled"] == 4
    assert status["numberAvailable"] == 4
    assert {p["spec"]["containers"][0]["image"] for p in world.of_kind("Pod")} == {"nginx:2"}


def job(**spec: Any) -> Obj:
    spec.setdefault("template", template(policy="Never"))
    return {"metadata": {"name": "task"}, "spec": spec}


def job_conditions(world: World) -> dict[str, tuple[str, str]]:
    status = world.get("Job", "task")["status"]
    return {c["type"]: (c["status"], c["reason"]) for c in status.get("conditions", [])}


def test_job_completes() -> None:
    world = World(ready_delay=0.5)
    world.create("Job", job(completions=3, parallelism=2))
    world.settle(0)
    status = world.get("Job", "task")["status"]
    assert status["active"] == 2
    assert status["startTime"]
    pods = world.of_kind("Pod")
    assert all(p["metadata"]["labels"]["batch.kubernetes.io/job-name"] == "task" for p in pods)
    owner = world.get("Job", "task")["metadata"]["uid"]
    assert all(p["metadata"]["ownerReferences"][0]["uid"] == owner for p in pods)
    assert all(p["metadata"]["name"].startswith("task-") for p in pods)
    world.settle(5)
    status = world.get("Job", "task")["status"]
    assert status["succeeded"] == 3
    assert "active" not in status
    assert "failed" not in status
    assert status["completionTime"]
    assert job_conditions(world) == {
        "SuccessCriteriaMet": ("True", "CompletionsReached"),
        "Complete": ("True", "CompletionsReached"),
    }
    assert len([p for p in world.of_kind("Pod") if p["status"]["phase"] == "Succeeded"]) == 3


def test_job_without_completions_finishes_with_its_first_success() -> None:
    world = World(ready_delay=0.5)
    world.create("Job", job())
    world.settle(3)
    assert job_conditions(world)["Complete"] == ("True", "CompletionsReached")
    assert world.get("Job", "task")["status"]["succeeded"] == 1


@pytest.mark.parametrize(
    ("policy", "backoff_limit"), [("Never", 2), ("OnFailure", 1), ("Never", 0)]
)
def test_failing_job_reaches_failed(policy: str, backoff_limit: int) -> None:
    world = World(ready_delay=0.3)
    world.create("Job", job(backoffLimit=backoff_limit, template=template("fail", policy=policy)))
    world.settle(15)
    assert job_conditions(world) == {
        "FailureTarget": ("True", "BackoffLimitExceeded"),
        "Failed": ("True", "BackoffLimitExceeded"),
    }
    status = world.get("Job", "task")["status"]
    assert "completionTime" not in status
    assert "active" not in status
    if policy == "Never":
        assert status["failed"] == backoff_limit + 1
        assert len(world.of_kind("Pod")) == backoff_limit + 1
    else:
        assert world.of_kind("Pod") == []  # the crash-looping pod was stopped


def test_job_active_deadline() -> None:
    world = World(ready_delay=100)
    world.create("Job", job(activeDeadlineSeconds=3))
    world.settle(1)
    plan = reconcile_job(world.get("Job", "task"), world.of_kind("Pod"), world.now)
    assert plan.requeue_after is not None
    assert plan.requeue_after <= 2.6
    world.settle(4)
    assert job_conditions(world)["Failed"] == ("True", "DeadlineExceeded")


def test_suspended_job_runs_nothing_until_resumed() -> None:
    world = World(ready_delay=0.5)
    world.create("Job", job(suspend=True))
    world.settle(2)
    assert world.of_kind("Pod") == []
    assert job_conditions(world) == {"Suspended": ("True", "JobSuspended")}
    world.update("Job", "task", lambda o: o["spec"].update(suspend=False))
    world.settle(3)
    assert job_conditions(world)["Suspended"] == ("False", "JobResumed")
    assert job_conditions(world)["Complete"] == ("True", "CompletionsReached")


def test_indexed_job_runs_each_index_once() -> None:
    world = World(ready_delay=0.3)
    world.create("Job", job(completions=3, parallelism=3, completionMode="Indexed"))
    world.settle(0)
    indexes = sorted(
        p["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"]
        for p in world.of_kind("Pod")
    )
    assert indexes == ["0", "1", "2"]
    world.settle(3)
    status = world.get("Job", "task")["status"]
    assert status["completedIndexes"] == "0-2"
    assert job_conditions(world)["Complete"] == ("True", "CompletionsReached")


@pytest.mark.parametrize(
    ("indexes", "text"),
    [(set(), ""), ({0}, "0"), ({0, 1, 2, 4}, "0-2,4"), ({1, 3, 5, 6}, "1,3,5-6")],
)
def test_completed_indexes_round_trip(indexes: set[int], text: str) -> None:
    assert compress_indexes(indexes) == text
    assert parse_indexes(text) == indexes
