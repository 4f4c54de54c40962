"""The ``clusters`` fixture: handles that reach each cluster through kubernetes_asyncio."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest
from kubernetes_asyncio import client

from fleet.sim.fleet import SimFleet
from tests.e2e.conftest import ClusterHandle, cluster_handles

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]


async def test_each_handle_reaches_its_own_cluster(clusters: list[ClusterHandle]) -> None:
    assert len({h.context for h in clusters}) == len(clusters)
    for handle in clusters:
        async with await handle.api_client() as api:
            namespaces = await client.CoreV1Api(api).list_namespace()
            assert "default" in [n.metadata.name for n in namespaces.items]
            dynamic = await handle.dynamic_client(api)
            deployments = await dynamic.resources.get(api_version="apps/v1", kind="Deployment")
            assert deployments.namespaced


async def test_status_controllers_run_behind_the_fixture(clusters: list[ClusterHandle]) -> None:
    handle = clusters[0]
    labels = {"app": "fixture-check"}
    body = {
        "metadata": {"name": "fixture-check"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "c", "image": "nginx:1.27"}]},
            },
        },
    }
    async with await handle.api_client() as api:
        apps = client.AppsV1Api(api)
        await apps.create_namespaced_deployment("default", body)
        try:
            with anyio.fail_after(20):
                while True:
                    live = await apps.read_namespaced_deployment_status("fixture-check", "default")
                    if live.status is not None and (live.status.available_replicas or 0) >= 1:
                        break
                    await anyio.sleep(0.1)
        finally:
            await apps.delete_namespaced_deployment("fixture-check", "default")


async def test_faults_are_reachable_on_simulated_clusters(clusters: list[ClusterHandle]) -> None:
    faults = clusters[0].require_faults()
    faults.latency = 0.01
    assert clusters[0].faults is faults


async def test_simulated_clusters_running_their_own_controllers_get_no_second_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Given as real clusters (``fleet sim up`` through FLEET_TEST_KUBECONFIG), simulated
    clusters with controllers report their pretend nodes, so the fixture starts none of
    its own: their list and watch requests would show in the simulator's counters under
    kubernetes_asyncio's client name, beside the fixture's one probe for nodes."""
    async with SimFleet.start(tmp_path / "sims", names=["r1", "r2"], ready_delay=0.2) as sims:
        monkeypatch.setenv("FLEET_TEST_KUBECONFIG", str(sims.kubeconfig_path))
        monkeypatch.setenv("FLEET_TEST_CONTEXTS", "r1,r2")
        async with cluster_handles(tmp_path / "work", count=2) as handles:
            assert [h.sim for h in handles] == [None, None]
            # A second set would be entered only once its informers had listed every kind.
            for name in ("r1", "r2"):
                fixture_requests = sims[name].requests.to_dict().get("OpenAPI-Generator", {})
                assert fixture_requests == {"list": 1}, (name, fixture_requests)
            # The simulator's own controllers still move status behind the fixture.
            async with await handles[0].api_client() as api:
                await client.AppsV1Api(api).create_namespaced_deployment(
                    "default",
                    {
                        "metadata": {"name": "solo"},
                        "spec": {
                            "replicas": 1,
                            "selector": {"matchLabels": {"app": "solo"}},
                            "template": {
                                "metadata": {"labels": {"app": "solo"}},
                                "spec": {"containers": [{"name": "c", "image": "nginx:1.27"}]},
                            },
                        },
                    },
                )
                with anyio.fail_after(20):
                    while True:
                        phases = [
                            (p.get("status") or {}).get("phase")
                            for p in sims["r1"].list_objects("", "pods", "default")
                        ]
                        if phases and set(phases) == {"Running"}:
                            break
                        await anyio.sleep(0.1)
                nodes = (await client.CoreV1Api(api).list_node()).items
            pods = sims["r1"].list_objects("", "pods", "default")
            assert {p["spec"]["nodeName"] for p in pods} <= {n.metadata.name for n in nodes}
            # One ReplicaSet, one pod: no second controller made its own.
            assert len(sims["r1"].list_objects("apps", "replicasets", "default")) == 1
            assert len(pods) == 1
