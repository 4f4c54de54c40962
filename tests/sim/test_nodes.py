"""Node objects of a simulated cluster: there when its status controllers run, not without.

Read through kubernetes_asyncio (and kubectl) as any client would: the Nodes must agree
with the pods the controllers place (``nodeName``, ``hostIP``) and with ``/version``.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import anyio
import pytest
from kubernetes_asyncio import client, watch

from fleet.sim import SimFleet
from fleet.sim.cluster import ClusterState
from fleet.sim.nodes import node_object, register_nodes
from fleet.sim.registry import Registry
from fleet.sim.tables import table
from tests.sim.conftest import Sim

pytestmark = pytest.mark.anyio

KUBECTL = shutil.which("kubectl")
READY_DELAY = 0.2


def deployment(name: str, replicas: int) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "c", "image": "nginx:1.27"}]},
            },
        },
    }


async def running_pods(api: client.ApiClient, app: str, count: int) -> list[Any]:
    core = client.CoreV1Api(api)
    with anyio.fail_after(15):
        while True:
            pods = (await core.list_namespaced_pod("default", label_selector=f"app={app}")).items
            running = [p for p in pods if p.status and p.status.phase == "Running"]
            if len(running) == count:
                return running
            await anyio.sleep(0.05)


async def test_a_cluster_with_controllers_lists_a_ready_node_for_each_pretend_node(
    tmp_path: Path,
) -> None:
    async with (
        SimFleet.start(tmp_path, names=["n"], ready_delay=READY_DELAY, nodes=2) as fleet,
        await fleet.api_client("n") as api,
    ):
        await client.AppsV1Api(api).create_namespaced_deployment("default", deployment("web", 4))
        pods = await running_pods(api, "web", 4)
        nodes = {n.metadata.name: n for n in (await client.CoreV1Api(api).list_node()).items}
        version = (await client.VersionApi(api).get_code()).git_version

    assert sorted(nodes) == ["fleet-sim-node-1", "fleet-sim-node-2"]
    # Every pod sits on a listed Node, both Nodes are used, and each pod's hostIP is its
    # Node's InternalIP.
    assert {p.spec.node_name for p in pods} == set(nodes)
    for pod in pods:
        addresses = {a.type: a.address for a in nodes[pod.spec.node_name].status.addresses}
        assert addresses["InternalIP"] == pod.status.host_ip
        assert addresses["Hostname"] == pod.spec.node_name
    for name, node in nodes.items():
        assert node.metadata.uid
        assert node.metadata.creation_timestamp is not None
        labels = node.metadata.labels
        assert labels["kubernetes.io/hostname"] == name
        assert labels["kubernetes.io/os"] == "linux"
        assert labels["kubernetes.io/arch"] == node.status.node_info.architecture == "amd64"
        conditions = {c.type: c.status for c in node.status.conditions}
        assert conditions == {
            "Ready": "True",
            "MemoryPressure": "False",
            "DiskPressure": "False",
            "PIDPressure": "False",
        }
        assert {"cpu", "memory", "pods"} <= set(node.status.capacity)
        assert {"cpu", "memory", "pods"} <= set(node.status.allocatable)
        info = node.status.node_info
        assert info.kubelet_version == version
        assert info.operating_system == "linux"
        assert info.os_image
        assert info.container_runtime_version.startswith("containerd://")
        assert not node.spec.unschedulable


async def test_a_cluster_without_controllers_has_no_node(sim: Sim) -> None:
    assert (await sim.core.list_node()).items == []


async def test_a_watch_sees_the_nodes_created_like_any_object(tmp_path: Path) -> None:
    async with (
        SimFleet.start(tmp_path, names=["n"], ready_delay=READY_DELAY) as fleet,
        await fleet.api_client("n") as api,
    ):
        core = client.CoreV1Api(api)
        # The built-in namespaces are created before anything else: a watch from their
        # resourceVersion replays what came after, the Node included.
        namespaces = await core.list_namespace()
        first = min(int(n.metadata.resource_version) for n in namespaces.items)
        stream = watch.Watch().stream(
            core.list_node, resource_version=str(first), timeout_seconds=2
        )
        seen = []
        with anyio.fail_after(10):
            async with stream:
                async for event in stream:
                    seen.append((event["type"], event["object"].metadata.name))
                    break
    assert seen == [("ADDED", "fleet-sim-node-1")]


def test_registering_twice_creates_nothing_and_keeps_a_node_already_there() -> None:
    state = ClusterState("c")
    assert register_nodes(state, ["fleet-sim-node-1", "fleet-sim-node-2"]) == [
        "fleet-sim-node-1",
        "fleet-sim-node-2",
    ]
    before = state.store.rv
    assert register_nodes(state, ["fleet-sim-node-1", "fleet-sim-node-2"]) == []
    assert state.store.rv == before
    node = state.store.get(("", "nodes"), "", "fleet-sim-node-1")
    assert node is not None
    managers = [m["manager"] for m in node.obj()["metadata"]["managedFields"]]
    assert managers == ["kubelet"]


async def test_nodes_below_one_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="nodes must be at least 1"):
        async with SimFleet.start(tmp_path, names=["n"], nodes=0):
            pass


def _node(name: str, ready: str | None, **extra: Any) -> dict[str, Any]:
    obj = node_object(name, "2026-01-01T00:00:00Z")
    conditions = [c for c in obj["status"]["conditions"] if c["type"] != "Ready"]
    if ready is not None:
        conditions.append({"type": "Ready", "status": ready})
    obj["status"]["conditions"] = conditions
    obj["metadata"]["labels"].update(extra.pop("labels", {}))
    obj["spec"].update(extra)
    return obj


@pytest.mark.parametrize(
    ("node", "status", "roles"),
    [
        (_node("a", "True"), "Ready", "<none>"),
        (_node("b", "False"), "NotReady", "<none>"),
        (_node("c", "Unknown"), "NotReady", "<none>"),
        (_node("d", None), "Unknown", "<none>"),
        (_node("e", "True", unschedulable=True), "Ready,SchedulingDisabled", "<none>"),
        (
            _node(
                "f",
                "True",
                labels={
                    "node-role.kubernetes.io/worker": "",
                    "node-role.kubernetes.io/control-plane": "",
                },
            ),
            "Ready",
            "control-plane,worker",
        ),
        (_node("g", "True", labels={"kubernetes.io/role": "edge"}), "Ready", "edge"),
    ],
)
def test_node_table_columns(node: dict[str, Any], status: str, roles: str) -> None:
    rt = Registry().kind("", "Node")
    assert rt is not None
    document = table(rt, [node], {})
    shown = [(c["name"], c["priority"]) for c in document["columnDefinitions"]]
    assert shown == [
        ("Name", 0),
        ("Status", 0),
        ("Roles", 0),
        ("Age", 0),
        ("Version", 0),
        ("Internal-IP", 1),
        ("External-IP", 1),
        ("OS-Image", 1),
        ("Kernel-Version", 1),
        ("Container-Runtime", 1),
    ]
    cells = document["rows"][0]["cells"]
    assert cells[:3] == [node["metadata"]["name"], status, roles]
    info = node["status"]["nodeInfo"]
    assert cells[4] == info["kubeletVersion"]
    assert cells[5:] == [
        node["status"]["addresses"][0]["address"],
        "<none>",
        info["osImage"],
        info["kernelVersion"],
        info["containerRuntimeVersion"],
    ]


@pytest.mark.kubectl
@pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed on this machine")
async def test_kubectl_get_nodes_shows_them_ready(tmp_path: Path) -> None:
    assert KUBECTL is not None
    async with SimFleet.start(tmp_path / "sim", names=["n"], nodes=2) as fleet:
        outputs = []
        for wide in ([], ["-o", "wide"]):
            command = ["--kubeconfig", str(fleet.kubeconfig_path), "--context", "n", "get", "nodes"]
            result = await anyio.run_process(
                [KUBECTL, *command, *wide], env={"HOME": str(tmp_path)}, check=False
            )
            assert result.returncode == 0, result.stderr.decode()
            outputs.append([line.split() for line in result.stdout.decode().splitlines()])
    usual, wide_lines = outputs
    assert usual[0] == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    rows = {row[0]: row for row in usual[1:]}
    assert sorted(rows) == ["fleet-sim-node-1", "fleet-sim-node-2"]
    for row in rows.values():
        assert row[1:3] == ["Ready", "<none>"]
        assert row[4] == "v1.32.0-fleet-sim"
    assert wide_lines[0][5:7] == ["INTERNAL-IP", "EXTERNAL-IP"]
    assert {row[0]: row[5] for row in wide_lines[1:]} == {
        "fleet-sim-node-1": "172.18.0.2",
        "fleet-sim-node-2": "172.18.0.3",
    }
