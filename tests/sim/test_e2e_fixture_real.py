"""The e2e ``clusters`` fixture in its real-cluster mode, pointed at a bare API server.

A simulated fleet started without controllers stands in for real clusters with no
nodes: the fixture must take the contexts named in FLEET_TEST_CONTEXTS from
FLEET_TEST_KUBECONFIG, expose no faults, and run fleet's status controllers itself.
"""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest
from kubernetes_asyncio import client

from fleet.sim.fleet import SimFleet
from tests.e2e.conftest import cluster_handles

pytestmark = pytest.mark.anyio


async def test_real_mode_uses_the_named_contexts_and_runs_controllers_on_nodeless_clusters(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with SimFleet.start(tmp_path / "bare", names=["a", "b", "c"], controllers=False) as bare:
        monkeypatch.setenv("FLEET_TEST_KUBECONFIG", str(bare.kubeconfig_path))
        monkeypatch.setenv("FLEET_TEST_CONTEXTS", "c,a")
        async with cluster_handles(tmp_path / "work", count=2) as handles:
            assert [h.context for h in handles] == ["c", "a"]
            assert all(h.faults is None for h in handles)
            with pytest.raises(pytest.skip.Exception):
                handles[0].require_faults()
            async with await handles[0].api_client() as api:
                labels = {"app": "x"}
                body = {
                    "metadata": {"name": "x"},
                    "spec": {
                        "replicas": 1,
                        "selector": {"matchLabels": labels},
                        "template": {
                            "metadata": {"labels": labels},
                            "spec": {"containers": [{"name": "c", "image": "busybox:1"}]},
                        },
                    },
                }
                apps = client.AppsV1Api(api)
                await apps.create_namespaced_deployment("default", body)
                with anyio.fail_after(20):
                    while True:
                        live = await apps.read_namespaced_deployment("x", "default")
                        if live.status is not None and live.status.available_replicas == 1:
                            break
                        await anyio.sleep(0.1)
        assert bare.clusters["b"].list_objects("apps", "deployments") == []


async def test_an_unknown_context_is_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with SimFleet.start(tmp_path / "bare", names=["a"], controllers=False) as bare:
        monkeypatch.setenv("FLEET_TEST_KUBECONFIG", str(bare.kubeconfig_path))
        monkeypatch.setenv("FLEET_TEST_CONTEXTS", "nope")
        with pytest.raises(pytest.UsageError, match="nope"):
            async with cluster_handles(tmp_path / "work", count=1):
                pass
