"""The simulator's controllers write in-process, yet meet the cluster's faults and
counters as their HTTP requests did."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from fleet.sim import SimFleet
from fleet.sim.options import WriteOptions
from fleet.sim.server import SimCluster

pytestmark = pytest.mark.anyio
CONTROLLERS = "fleet-sim-controllers"


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[SimCluster]:
    async with SimFleet.start(tmp_path, count=1, ready_delay=0.05) as fleet:
        yield fleet.clusters["sim-1"]


def deployment(name: str) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]},
            },
        },
    }


def create(cluster: SimCluster, name: str) -> None:
    rt = cluster.state.registry.kind("apps", "Deployment")
    assert rt is not None
    cluster.state.create(rt, "v1", "default", deployment(name), WriteOptions(field_manager="t"))


async def rolled_out(cluster: SimCluster, name: str, within: float = 10.0) -> dict[str, Any]:
    with anyio.fail_after(within):
        while True:
            obj = cluster.get_object("apps", "deployments", "default", name)
            if obj and (obj.get("status") or {}).get("readyReplicas") == 2:
                return obj
            await anyio.sleep(0.05)


async def test_writes_are_counted_under_the_controllers_name(cluster: SimCluster) -> None:
    before = cluster.requests.to_dict().get(CONTROLLERS, {})
    create(cluster, "web")
    await rolled_out(cluster, "web")
    after = cluster.requests.to_dict()[CONTROLLERS]
    assert after.get("create", 0) - before.get("create", 0) >= 3  # a ReplicaSet, 2 Pods
    assert after.get("update", 0) - before.get("update", 0) >= 3  # their status
    replicasets = cluster.list_objects("apps", "replicasets", "default")
    managers = {m["manager"] for m in replicasets[0]["metadata"]["managedFields"]}
    assert "kube-controller-manager" in managers


async def test_server_errors_hold_the_controllers_back_until_cleared(cluster: SimCluster) -> None:
    cluster.faults.error_rate = 1.0
    cluster.faults.error_code = 503
    create(cluster, "held")
    await anyio.sleep(1.0)
    assert cluster.list_objects("apps", "replicasets", "default") == []
    cluster.faults.clear()
    await rolled_out(cluster, "held", within=15.0)


async def test_latency_applies_to_their_writes(cluster: SimCluster) -> None:
    cluster.faults.latency = 0.4
    started = anyio.current_time()
    create(cluster, "slow")
    await rolled_out(cluster, "slow", within=20.0)
    # ReplicaSet, then Pods, then statuses: several writes in sequence, each delayed.
    assert anyio.current_time() - started > 1.2


async def test_path_limited_faults_meet_only_their_writes(cluster: SimCluster) -> None:
    """Pod writes fail; the ReplicaSet's create (another path) still goes through."""
    cluster.faults.paths = ("/api/v1/namespaces/default/pods",)
    cluster.faults.error_rate = 1.0
    create(cluster, "half")
    with anyio.fail_after(10):
        while True:
            if cluster.list_objects("apps", "replicasets", "default"):
                break
            await anyio.sleep(0.05)
    await anyio.sleep(0.5)
    assert cluster.list_objects("", "pods", "default") == []
    cluster.faults.clear()
    await rolled_out(cluster, "half", within=15.0)
