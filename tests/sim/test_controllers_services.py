"""LoadBalancer ingress and PVC binding: pure tables."""

from __future__ import annotations

from fleet.sim.controllers.actions import Create, Replace, ReplaceStatus
from fleet.sim.controllers.objects import Obj
from fleet.sim.controllers.services import allocate_ip, reconcile_service
from fleet.sim.controllers.volumes import reconcile_claim
from tests.sim.controller_world import World


def service(kind: str = "LoadBalancer", **spec: str) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "s", "namespace": "ns", "resourceVersion": "3"},
        "spec": {"type": kind, "ports": [{"port": 80}], **spec},
    }


def test_load_balancer_gets_the_lowest_free_address() -> None:
    plan = reconcile_service(service(), {"198.51.100.1", "198.51.100.3"})
    [action] = plan.actions
    assert isinstance(action, ReplaceStatus)
    assert action.obj["status"]["loadBalancer"] == {
        "ingress": [{"ip": "198.51.100.2", "ipMode": "VIP"}]
    }


def test_requested_address_is_honoured_and_assigned_once() -> None:
    svc = service(loadBalancerIP="198.51.100.77")
    [action] = reconcile_service(svc, set()).actions
    assert isinstance(action, ReplaceStatus)
    svc["status"] = action.obj["status"]
    assert svc["status"]["loadBalancer"]["ingress"][0]["ip"] == "198.51.100.77"
    assert reconcile_service(svc, set()).actions == []


def test_cluster_ip_service_has_no_ingress() -> None:
    assert reconcile_service(service("ClusterIP"), set()).actions == []
    was_balanced = service("ClusterIP")
    was_balanced["status"] = {"loadBalancer": {"ingress": [{"ip": "198.51.100.1"}]}}
    [action] = reconcile_service(was_balanced, set()).actions
    assert isinstance(action, ReplaceStatus)
    assert action.obj["status"]["loadBalancer"] == {}


def test_pool_exhaustion_leaves_the_service_pending() -> None:
    used = {f"198.51.100.{i}" for i in range(1, 255)}
    assert allocate_ip(used) is None
    assert reconcile_service(service(), used).actions == []


def test_distinct_services_get_distinct_addresses() -> None:
    world = World()
    for name in ("a", "b", "c"):
        world.create("Service", {"metadata": {"name": name}, "spec": {"type": "LoadBalancer"}})
    world.settle(0)
    ips = [s["status"]["loadBalancer"]["ingress"][0]["ip"] for s in world.of_kind("Service")]
    assert sorted(ips) == ["198.51.100.1", "198.51.100.2", "198.51.100.3"]


def claim() -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "data", "namespace": "ns", "uid": "c-1", "resourceVersion": "4"},
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": "5Gi"}},
            "storageClassName": "standard",
        },
    }


def test_claim_is_provisioned_then_bound() -> None:
    pvc = claim()
    first = reconcile_claim(pvc).actions
    assert [type(a) for a in first] == [Create, Replace]
    volume, bound = first
    assert isinstance(volume, Create)
    assert isinstance(bound, Replace)
    assert volume.obj["metadata"]["name"] == "pvc-c-1"
    assert volume.obj["spec"]["capacity"] == {"storage": "5Gi"}
    assert volume.obj["spec"]["claimRef"]["uid"] == "c-1"
    assert volume.obj["spec"]["storageClassName"] == "standard"
    assert volume.status == {"phase": "Bound"}
    assert bound.obj["spec"]["volumeName"] == "pvc-c-1"
    assert bound.obj["metadata"]["annotations"]["pv.kubernetes.io/bind-completed"] == "yes"

    second = reconcile_claim(bound.obj).actions
    [status] = second
    assert isinstance(status, ReplaceStatus)
    assert status.obj["status"] == {
        "phase": "Bound",
        "accessModes": ["ReadWriteOnce"],
        "capacity": {"storage": "5Gi"},
    }
    assert reconcile_claim(status.obj).actions == []
