"""Node objects for the pretend nodes the simulator's status controllers place pods on.

The controllers (:mod:`fleet.sim.controllers`) run pods on ``fleet-sim-node-1`` .. ``-N``
whether or not Node objects exist, because on a bare API server none do. A simulated
cluster whose controllers run is a cluster with kubelets, so the simulator registers a
Node per pretend node in the cluster's state, as each kubelet would on start-up: with
the labels, conditions, addresses, capacity and ``nodeInfo`` that ``kubectl get nodes``,
schedulers' clients and the e2e fixture read. They are written by the simulator itself,
not by the controllers through the API: Nodes that the controllers registered would
stay on a bare API server after they stopped and make it look like a cluster with
kubelets (the e2e fixture would then start no controllers for it).

The Nodes are static: Ready from their creation, never a heartbeat (no resourceVersion
churn for watchers), removed only with the cluster.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fleet.sim import discovery
from fleet.sim.cluster import ClusterState
from fleet.sim.controllers.kubelet import node_ip
from fleet.sim.meta import now as timestamp
from fleet.sim.options import WriteOptions

Obj = dict[str, Any]

#: The field manager of a Node's registration, as on a real cluster.
KUBELET = "kubelet"
CONTAINER_RUNTIME = "containerd://1.7.24"
OS_IMAGE = "fleet-sim (pretend node)"
KERNEL_VERSION = "6.1.0-fleet-sim"
#: What every pretend node offers (a small real worker: 4 CPUs, 16 GiB, 110 pods).
CAPACITY = {"cpu": "4", "memory": "16384Mi", "pods": "110", "ephemeral-storage": "100Gi"}
ALLOCATABLE = {"cpu": "3800m", "memory": "15360Mi", "pods": "110", "ephemeral-storage": "95Gi"}

#: (type, status, reason, message) as a healthy kubelet reports them.
_CONDITIONS = (
    (
        "MemoryPressure",
        "False",
        "KubeletHasSufficientMemory",
        "kubelet has sufficient memory available",
    ),
    ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
    ("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
    ("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
)


def _platform() -> tuple[str, str]:
    """(os, arch) of the server, from what ``/version`` reports (``linux/amd64``)."""
    os_name, _, arch = str(discovery.version()["platform"]).partition("/")
    return os_name, arch


def node_object(name: str, stamp: str) -> Obj:
    """The Node a kubelet on pretend node ``name`` registers, Ready as of ``stamp``."""
    os_name, arch = _platform()
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": os_name,
                "kubernetes.io/arch": arch,
                "beta.kubernetes.io/os": os_name,
                "beta.kubernetes.io/arch": arch,
            },
            "annotations": {"node.alpha.kubernetes.io/ttl": "0"},
        },
        "spec": {},
        "status": {
            "conditions": [
                {
                    "type": kind,
                    "status": status,
                    "reason": reason,
                    "message": message,
                    "lastHeartbeatTime": stamp,
                    "lastTransitionTime": stamp,
                }
                for kind, status, reason, message in _CONDITIONS
            ],
            "addresses": [
                {"type": "InternalIP", "address": node_ip(name)},
                {"type": "Hostname", "address": name},
            ],
            "capacity": dict(CAPACITY),
            "allocatable": dict(ALLOCATABLE),
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "machineID": "",
                "systemUUID": "",
                "bootID": "",
                "kernelVersion": KERNEL_VERSION,
                "osImage": OS_IMAGE,
                "containerRuntimeVersion": CONTAINER_RUNTIME,
                "kubeletVersion": discovery.GIT_VERSION,
                "kubeProxyVersion": discovery.GIT_VERSION,
                "operatingSystem": os_name,
                "architecture": arch,
            },
        },
    }


def register_nodes(state: ClusterState, names: Iterable[str]) -> list[str]:
    """Create the Node of each pretend node in ``state`` (watches see them as any
    create); a Node of that name already there is left as it is. Returns the names
    created."""
    rt = state.type("", "nodes")
    created = []
    for name in names:
        if state.store.get(rt.group_resource, "", name) is not None:
            continue
        body = node_object(name, timestamp())
        state.create(rt, "v1", "", body, WriteOptions(field_manager=KUBELET))
        created.append(name)
    return created
