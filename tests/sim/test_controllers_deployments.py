"""Deployment and ReplicaSet controllers: step tables and whole rollouts in memory."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from fleet.sim.controllers.actions import Create, Delete, ReplaceStatus
from fleet.sim.controllers.deployment_status import rollout_limits
from fleet.sim.controllers.deployments import (
    REVISION,
    new_replicaset,
    new_replicaset_target,
    old_replicaset_targets,
    reconcile_deployment,
)
from fleet.sim.controllers.objects import Obj, condition, rfc3339
from fleet.sim.controllers.replicasets import reconcile_replicaset
from tests.sim.controller_world import START, World


def deployment(name: str = "web", replicas: int = 3, image: str = "nginx:1", **spec: Any) -> Obj:
    return {
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": image}]},
            },
            **spec,
        },
    }


def rs(name: str, replicas: int, available: int, created: str = "2026-01-01T00:00:00Z") -> Obj:
    return {
        "metadata": {"name": name, "creationTimestamp": created},
        "spec": {"replicas": replicas},
        "status": {"replicas": replicas, "availableReplicas": available},
    }


def set_image(image: str) -> Any:
    def change(obj: Obj) -> None:
        obj["spec"]["template"]["spec"]["containers"][0]["image"] = image

    return change


def conditions(obj: Obj) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c["status"], c["reason"]) for c in obj["status"].get("conditions", [])}


@pytest.mark.parametrize(
    ("strategy", "replicas", "limits"),
    [
        ({}, 4, (1, 1)),
        ({}, 10, (3, 2)),
        (
            {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 0}},
            4,
            (0, 1),
        ),
        (
            {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "100%", "maxUnavailable": 0}},
            3,
            (3, 0),
        ),
        ({"type": "Recreate"}, 5, (0, 0)),
        ({}, 1, (1, 0)),
    ],
)
def test_rollout_limits(strategy: Obj, replicas: int, limits: tuple[int, int]) -> None:
    assert rollout_limits(deployment(replicas=replicas, strategy=strategy)) == limits


@pytest.mark.parametrize(
    ("replicas", "new", "olds", "target"),
    [
        (4, (0, 0), [(4, 4)], 1),  # surge 1 above 4
        (4, (1, 0), [(4, 4)], 1),  # at 5 already: wait
        (4, (1, 1), [(3, 3)], 2),
        (4, (3, 3), [], 4),
        (4, (6, 6), [], 4),  # scaled down: shrink at once
        (10, (0, 0), [(10, 10)], 3),
    ],
)
def test_new_replicaset_target(
    replicas: int, new: tuple[int, int], olds: list[tuple[int, int]], target: int
) -> None:
    new_rs = rs("new", *new)
    all_rss = [new_rs, *(rs(f"old{i}", *o) for i, o in enumerate(olds))]
    assert new_replicaset_target(deployment(replicas=replicas), new_rs, all_rss) == target


@pytest.mark.parametrize(
    ("replicas", "new", "olds", "targets"),
    [
        (4, (1, 0), [(4, 4)], {"old0": 3}),  # 5 pods, 4 available, min 3: one may go
        (4, (1, 1), [(3, 3)], {"old0": 2}),
        (4, (2, 0), [(3, 3)], {}),  # new pods not yet available: hold
        (4, (1, 0), [(2, 0), (3, 3)], {"old0": 0}),  # unhealthy old pods go first
        (4, (4, 4), [(0, 0)], {}),
        (2, (2, 2), [(2, 2)], {"old0": 0}),
    ],
)
def test_old_replicaset_targets(
    replicas: int, new: tuple[int, int], olds: list[tuple[int, int]], targets: dict[str, int]
) -> None:
    old_rss = [rs(f"old{i}", *o, created=f"2025-01-0{i + 1}T00:00:00Z") for i, o in enumerate(olds)]
    assert (
        old_replicaset_targets(deployment(replicas=replicas), rs("new", *new), old_rss) == targets
    )


def test_new_replicaset_shape() -> None:
    d = deployment(replicas=3)
    d["metadata"].update({"namespace": "ns", "uid": "d-uid", "annotations": {"team": "a"}})
    d["apiVersion"], d["kind"] = "apps/v1", "Deployment"
    made = new_replicaset(d, 1, revision=4)
    pod_hash = made["spec"]["template"]["metadata"]["labels"]["pod-template-hash"]
    assert made["metadata"]["name"] == f"web-{pod_hash}"
    assert made["metadata"]["labels"] == {"app": "web", "pod-template-hash": pod_hash}
    assert made["spec"]["selector"]["matchLabels"] == {"app": "web", "pod-template-hash": pod_hash}
    assert made["metadata"]["annotations"][REVISION] == "4"
    assert made["metadata"]["annotations"]["team"] == "a"
    assert made["metadata"]["ownerReferences"] == [
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": "web",
            "uid": "d-uid",
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    assert made["spec"]["replicas"] == 1
    assert "pod-template-hash" not in d["spec"]["template"]["metadata"]["labels"]


def test_first_sync_creates_a_replicaset_and_reports_progress() -> None:
    world = World()
    d = world.create("Deployment", deployment())
    plan = reconcile_deployment(d, [], START)
    creates = [a for a in plan.actions if isinstance(a, Create)]
    assert [c.kind for c in creates] == ["ReplicaSet"]
    assert creates[0].obj["spec"]["replicas"] == 3
    [written] = [a.obj for a in plan.actions if isinstance(a, ReplaceStatus)]
    status = written["status"]
    assert written["metadata"]["annotations"][REVISION] == "1"
    assert status["observedGeneration"] == 1
    by_type = {c["type"]: c for c in status["conditions"]}
    assert by_type["Progressing"]["reason"] == "NewReplicaSetCreated"
    assert by_type["Available"]["status"] == "False"


def test_deployment_becomes_available() -> None:
    world = World(ready_delay=1.0)
    world.create("Deployment", deployment(replicas=3))
    world.settle(0)
    d = world.get("Deployment", "web")
    assert d["status"].get("availableReplicas", 0) == 0
    assert conditions(d)["Available"] == ("False", "MinimumReplicasUnavailable")
    pods = world.of_kind("Pod")
    assert len(pods) == 3
    assert all(p["status"]["phase"] == "Pending" for p in pods)
    world.settle(2)
    d = world.get("Deployment", "web")
    assert {
        k: d["status"].get(k)
        for k in ("replicas", "updatedReplicas", "readyReplicas", "availableReplicas")
    } == {
        "replicas": 3,
        "updatedReplicas": 3,
        "readyReplicas": 3,
        "availableReplicas": 3,
    }
    assert "unavailableReplicas" not in d["status"]
    assert d["status"]["observedGeneration"] == 1
    assert conditions(d) == {
        "Available": ("True", "MinimumReplicasAvailable"),
        "Progressing": ("True", "NewReplicaSetAvailable"),
    }
    [replica_set] = world.of_kind("ReplicaSet")
    assert replica_set["status"]["readyReplicas"] == 3
    assert all(
        p["metadata"]["name"].startswith(replica_set["metadata"]["name"] + "-") for p in pods
    )


@pytest.mark.parametrize(
    ("replicas", "strategy", "max_pods", "min_available"),
    [
        (4, {}, 5, 3),
        (10, {}, 13, 8),
        (3, {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}}, 3, 2),
        (3, {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}, 4, 3),
    ],
)
def test_rolling_update_respects_surge_and_unavailability(
    replicas: int, strategy: Obj, max_pods: int, min_available: int
) -> None:
    world = World(ready_delay=1.0)
    world.create("Deployment", deployment(replicas=replicas, strategy=strategy))
    world.settle(3)
    world.update("Deployment", "web", set_image("nginx:2"))
    seen: list[int] = []

    def check(w: World) -> None:
        pods = [p for p in w.of_kind("Pod") if "deletionTimestamp" not in p["metadata"]]
        ready = [
            p
            for p in pods
            if any(
                c["type"] == "Ready" and c["status"] == "True"
                for c in p.get("status", {}).get("conditions", [])
            )
        ]
        seen.append(len(pods))
        assert len(pods) <= max_pods
        assert len(ready) >= min_available

    world.settle(30, check=check)
    d = world.get("Deployment", "web")
    assert d["status"]["observedGeneration"] == 2
    assert d["status"]["updatedReplicas"] == replicas
    assert conditions(d)["Progressing"] == ("True", "NewReplicaSetAvailable")
    new, old = sorted(
        world.of_kind("ReplicaSet"), key=lambda r: -int(r["metadata"]["annotations"][REVISION])
    )
    assert new["metadata"]["annotations"][REVISION] == "2"
    assert (new["spec"]["replicas"], old["spec"]["replicas"]) == (replicas, 0)
    assert {p["spec"]["containers"][0]["image"] for p in world.of_kind("Pod")} == {"nginx:2"}
    assert max(seen) == max_pods  # the surge was used, not just allowed


def test_recreate_never_overlaps_old_and_new_pods() -> None:
    world = World(ready_delay=1.0)
    world.create("Deployment", deployment(replicas=2, strategy={"type": "Recreate"}))
    world.settle(3)

    def check(w: World) -> None:
        images = {p["spec"]["containers"][0]["image"] for p in w.of_kind("Pod")}
        assert len(images) <= 1

    world.update("Deployment", "web", set_image("nginx:2"))
    world.settle(10, check=check)
    assert {p["spec"]["containers"][0]["image"] for p in world.of_kind("Pod")} == {"nginx:2"}
    assert world.get("Deployment", "web")["status"]["availableReplicas"] == 2


def test_rollback_reuses_the_old_replicaset_with_a_new_revision() -> None:
    world = World(ready_delay=0.5)
    world.create("Deployment", deployment(replicas=2))
    world.settle(2)
    first = world.of_kind("ReplicaSet")[0]["metadata"]["name"]
    world.update("Deployment", "web", set_image("nginx:2"))
    world.settle(10)
    world.update("Deployment", "web", set_image("nginx:1"))
    world.settle(10)
    assert len(world.of_kind("ReplicaSet")) == 2
    back = world.get("ReplicaSet", first)
    assert back["metadata"]["annotations"][REVISION] == "3"
    assert back["spec"]["replicas"] == 2


def test_crash_loop_reaches_progress_deadline() -> None:
    world = World(ready_delay=0.5)
    world.create(
        "Deployment", deployment(replicas=2, image="crashloop", progressDeadlineSeconds=10)
    )
    world.settle(5)
    d = world.get("Deployment", "web")
    assert conditions(d)["Progressing"][0] == "True"
    pods = world.of_kind("Pod")
    assert all(p["status"]["containerStatuses"][0]["restartCount"] >= 2 for p in pods)
    world.settle(10)
    d = world.get("Deployment", "web")
    assert conditions(d) == {
        "Available": ("False", "MinimumReplicasUnavailable"),
        "Progressing": ("False", "ProgressDeadlineExceeded"),
    }
    progressing = condition(d["status"]["conditions"], "Progressing")
    assert progressing is not None
    assert "has timed out progressing" in progressing["message"]
    assert d["status"]["unavailableReplicas"] == 2


def test_stuck_deployment_asks_to_be_checked_at_its_deadline() -> None:
    world = World(ready_delay=0.5)
    world.create(
        "Deployment", deployment(replicas=1, image="crashloop", progressDeadlineSeconds=60)
    )
    world.settle(2)
    plan = reconcile_deployment(
        world.get("Deployment", "web"), world.of_kind("ReplicaSet"), world.now
    )
    assert plan.requeue_after is not None
    assert 55 <= plan.requeue_after <= 62


def test_a_fixed_image_recovers_from_the_deadline() -> None:
    world = World(ready_delay=0.5)
    world.create("Deployment", deployment(replicas=1, image="crashloop", progressDeadlineSeconds=3))
    world.settle(8)
    assert (
        conditions(world.get("Deployment", "web"))["Progressing"][1] == "ProgressDeadlineExceeded"
    )
    world.update("Deployment", "web", set_image("nginx:1"))
    world.settle(5)
    assert conditions(world.get("Deployment", "web")) == {
        "Available": ("True", "MinimumReplicasAvailable"),
        "Progressing": ("True", "NewReplicaSetAvailable"),
    }


def test_paused_deployment_scales_but_does_not_roll() -> None:
    world = World(ready_delay=0.5)
    world.create("Deployment", deployment(replicas=2))
    world.settle(2)

    def pause_and_change(obj: Obj) -> None:
        obj["spec"]["paused"] = True
        obj["spec"]["replicas"] = 3
        set_image("nginx:2")(obj)

    world.update("Deployment", "web", pause_and_change)
    world.settle(3)
    d = world.get("Deployment", "web")
    assert len(world.of_kind("ReplicaSet")) == 1
    assert {p["spec"]["containers"][0]["image"] for p in world.of_kind("Pod")} == {"nginx:1"}
    assert len(world.of_kind("Pod")) == 3
    assert conditions(d)["Progressing"] == ("Unknown", "DeploymentPaused")

    world.update("Deployment", "web", lambda o: o["spec"].update(paused=False))
    world.settle(10)
    d = world.get("Deployment", "web")
    assert {p["spec"]["containers"][0]["image"] for p in world.of_kind("Pod")} == {"nginx:2"}
    assert conditions(d)["Progressing"] == ("True", "NewReplicaSetAvailable")


def test_scaling_a_complete_deployment() -> None:
    world = World(ready_delay=0.5)
    world.create("Deployment", deployment(replicas=2))
    world.settle(2)
    world.update("Deployment", "web", lambda o: o["spec"].update(replicas=5))
    world.settle(2)
    assert world.get("Deployment", "web")["status"]["availableReplicas"] == 5
    world.update("Deployment", "web", lambda o: o["spec"].update(replicas=0))
    world.settle(2)
    status = world.get("Deployment", "web")["status"]
    assert status.get("replicas", 0) == 0
    assert world.of_kind("Pod") == []


def test_old_replicasets_beyond_history_limit_are_deleted() -> None:
    world = World(ready_delay=0.2)
    world.create("Deployment", deployment(replicas=1, revisionHistoryLimit=1))
    world.settle(1)
    for version in (2, 3, 4):
        world.update("Deployment", "web", set_image(f"nginx:{version}"))
        world.settle(3)
    revisions = sorted(
        int(r["metadata"]["annotations"][REVISION]) for r in world.of_kind("ReplicaSet")
    )
    assert revisions == [3, 4]


def test_name_collision_bumps_collision_count() -> None:
    world = World()
    d = world.create("Deployment", deployment())
    taken = new_replicaset(d, 1, 1)["metadata"]["name"]
    plan = reconcile_deployment(d, [], START, foreign_names={taken})
    assert not [a for a in plan.actions if isinstance(a, Create)]
    [status] = [a.obj["status"] for a in plan.actions if isinstance(a, ReplaceStatus)]
    assert status["collisionCount"] == 1
    d["status"] = status
    retry = reconcile_deployment(d, [], START, foreign_names={taken})
    [created] = [a for a in retry.actions if isinstance(a, Create)]
    assert created.obj["metadata"]["name"] != taken


def test_replicaset_deletes_least_valuable_pods_first() -> None:
    world = World(ready_delay=1.0)
    rs_obj = world.create(
        "ReplicaSet",
        {
            "metadata": {"name": "rs"},
            "spec": {
                "replicas": 3,
                "selector": {"matchLabels": {"a": "b"}},
                "template": {
                    "metadata": {"labels": {"a": "b"}},
                    "spec": {"containers": [{"name": "c", "image": "x"}]},
                },
            },
        },
    )
    world.settle(2)
    world.now += timedelta(seconds=1)
    rs_obj = world.update("ReplicaSet", "rs", lambda o: o["spec"].update(replicas=4))
    world.apply(reconcile_replicaset(rs_obj, world.owned("Pod", rs_obj), world.now))
    newest = [
        p for p in world.of_kind("Pod") if p["metadata"]["creationTimestamp"] == rfc3339(world.now)
    ]
    assert len(newest) == 1
    rs_obj = world.update("ReplicaSet", "rs", lambda o: o["spec"].update(replicas=3))
    plan = reconcile_replicaset(rs_obj, world.owned("Pod", rs_obj), world.now)
    [delete] = [a for a in plan.actions if isinstance(a, Delete)]
    assert delete.name == newest[0]["metadata"]["name"]


def test_replicaset_min_ready_seconds_delays_availability() -> None:
    world = World(ready_delay=0.5)
    world.create(
        "ReplicaSet",
        {
            "metadata": {"name": "rs"},
            "spec": {
                "replicas": 2,
                "minReadySeconds": 5,
                "selector": {"matchLabels": {"a": "b"}},
                "template": {
                    "metadata": {"labels": {"a": "b"}},
                    "spec": {"containers": [{"name": "c", "image": "x"}]},
                },
            },
        },
    )
    world.settle(2)
    status = world.get("ReplicaSet", "rs")["status"]
    assert (status["readyReplicas"], status.get("availableReplicas", 0)) == (2, 0)
    rs_obj = world.get("ReplicaSet", "rs")
    plan = reconcile_replicaset(rs_obj, world.owned("Pod", rs_obj), world.now)
    assert plan.requeue_after is not None
    assert plan.requeue_after <= 5.5
    world.settle(6)
    assert world.get("ReplicaSet", "rs")["status"]["availableReplicas"] == 2


class _CheckedWorld(World):
    """A world whose controllers must leave the objects they are given alone: they
    copy only what they change and share the rest with the cache."""

    def plan_for(self, kind: str, obj: Obj) -> Any:
        before = json.dumps(self.objects_snapshot())
        plan = super().plan_for(kind, obj)
        assert json.dumps(self.objects_snapshot()) == before, f"{kind} sync changed its inputs"
        return plan

    def objects_snapshot(self) -> list[Obj]:
        return [o for kind in ("Deployment", "ReplicaSet", "Pod") for o in self.of_kind(kind)]


def test_syncs_never_change_the_objects_they_read() -> None:
    world = _CheckedWorld(ready_delay=0.5)
    world.create("Deployment", deployment(replicas=2))
    world.settle(3)
    world.update("Deployment", "web", set_image("nginx:2"))
    world.settle(10)
    world.update("Deployment", "web", set_image("nginx:1"))
    world.settle(10)
    assert world.get("Deployment", "web")["status"]["updatedReplicas"] == 2
