"""The ``clusters`` fixture: handles that reach each cluster through kubernetes_asyncio."""

from __future__ import annotations

import anyio
import pytest
from kubernetes_asyncio import client

from tests.e2e.conftest import ClusterHandle

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
