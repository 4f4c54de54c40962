"""The controllers' in-process writes share nothing with the caller or the store.

A ``/status`` write sends only the object's identity and a copy of its status (the
state reads nothing else of it); these tests hold it to what a full copy of the object
gave: the caller's object is left alone, later changes to it or to the returned object
reach neither the store nor each other, and a status write still checks the
resourceVersion, changes nothing but status and records its managedFields.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes_asyncio import client

from fleet.sim import SimFleet
from fleet.sim.controllers.kube import RESOURCES, ApiError
from fleet.sim.local_access import LocalAccess
from fleet.sim.server import SimCluster

pytestmark = pytest.mark.anyio


@pytest.fixture
async def access(tmp_path: Path) -> AsyncIterator[tuple[LocalAccess, SimCluster]]:
    async with SimFleet.start(tmp_path, count=1, controllers=False) as fleet:
        api_client = client.ApiClient()
        try:
            cluster = fleet.clusters["sim-1"]
            yield LocalAccess(api_client, cluster, "test-controllers"), cluster
        finally:
            await api_client.close()


def config_map() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "cm", "namespace": "default", "labels": {"a": "1"}},
        "data": {"k": "v"},
    }


def pod() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": "default", "labels": {"app": "p"}},
        "spec": {"containers": [{"name": "c", "image": "nginx:1.27"}], "nodeName": "n"},
    }


def stored(cluster: SimCluster, plural: str, name: str) -> dict[str, Any]:
    obj = cluster.get_object("", plural, "default", name)
    assert obj is not None
    return obj


@pytest.mark.parametrize("status", [False, True])
async def test_a_write_leaves_the_callers_object_alone_and_shares_nothing(
    access: tuple[LocalAccess, SimCluster], status: bool
) -> None:
    local, cluster = access
    created = await local.create(RESOURCES["Pod"], pod(), "kubelet")
    sent = copy.deepcopy(created)
    sent["status"] = {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}
    sent["metadata"]["labels"]["extra"] = "x"
    before = copy.deepcopy(sent)
    result = await local.replace(RESOURCES["Pod"], sent, "kubelet", status=status)
    assert sent == before  # the caller's object, managedFields included, is untouched
    kept = stored(cluster, "pods", "p")
    assert result == kept
    # Changing the caller's object or the result afterwards changes nothing else.
    sent["status"]["conditions"][0]["status"] = "False"
    sent["status"]["phase"] = "Failed"
    sent["spec"]["containers"][0]["image"] = "changed"
    assert result == kept
    result["status"]["phase"] = "Unknown"
    result["metadata"]["labels"]["app"] = "changed too"
    result["spec"]["containers"][0]["image"] = "changed too"
    assert stored(cluster, "pods", "p") == kept
    assert sent["status"] == {
        "phase": "Failed",
        "conditions": [{"type": "Ready", "status": "False"}],
    }
    if status:
        assert kept["status"]["phase"] == "Running"
        assert "extra" not in kept["metadata"]["labels"]  # a status write changes only status
        owners = {
            (e["manager"], e.get("subresource", "")) for e in kept["metadata"]["managedFields"]
        }
        assert ("kubelet", "status") in owners
    else:
        assert kept["status"]["phase"] == "Pending"  # a main-resource write keeps status
        assert kept["metadata"]["labels"]["extra"] == "x"


async def test_a_status_write_with_a_stale_resource_version_is_refused(
    access: tuple[LocalAccess, SimCluster],
) -> None:
    local, cluster = access
    created = await local.create(RESOURCES["Pod"], pod(), "kubelet")
    first = copy.deepcopy(created)
    first["status"] = {"phase": "Running"}
    await local.replace(RESOURCES["Pod"], first, "kubelet", status=True)
    stale = copy.deepcopy(created)
    stale["status"] = {"phase": "Failed"}
    with pytest.raises(ApiError) as refused:
        await local.replace(RESOURCES["Pod"], stale, "kubelet", status=True)
    assert refused.value.status == 409
    assert stored(cluster, "pods", "p")["status"]["phase"] == "Running"


async def test_a_status_write_without_status_removes_it_and_nothing_else(
    access: tuple[LocalAccess, SimCluster],
) -> None:
    local, cluster = access
    created = await local.create(RESOURCES["Pod"], pod(), "kubelet")
    assert created["status"]["phase"] == "Pending"
    body = copy.deepcopy(created)
    del body["status"]
    body["metadata"]["labels"] = {"app": "changed"}
    result = await local.replace(RESOURCES["Pod"], body, "kubelet", status=True)
    assert "status" not in result
    kept = stored(cluster, "pods", "p")
    assert "status" not in kept
    assert kept["metadata"]["labels"] == {"app": "p"}
