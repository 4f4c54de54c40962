"""The public entry points: one set of controllers per cluster, and a namespace scope."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest
from kubernetes_asyncio import client

from fleet.sim import SimFleet
from fleet.sim.controllers import controllers_running, run_fleet_controllers

pytestmark = pytest.mark.anyio


def deployment(namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": namespace},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "app", "image": "nginx"}]},
            },
        },
    }


async def available(apps: client.AppsV1Api, namespace: str) -> bool:
    d = await apps.read_namespaced_deployment("web", namespace)
    return bool(d.status and d.status.available_replicas == 1)


async def test_fleet_controllers_serve_every_cluster(tmp_path: Path) -> None:
    async with SimFleet.start(tmp_path, count=2, controllers=False) as fleet:
        users = [await fleet.api_client(name) for name in fleet.names]
        workers = [await fleet.api_client(name) for name in fleet.names]
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(lambda: run_fleet_controllers(workers, ready_delay=0.1))
                for api in users:
                    await client.AppsV1Api(api).create_namespaced_deployment(
                        "default", deployment("default")
                    )
                for _ in range(200):
                    states = [await available(client.AppsV1Api(api), "default") for api in users]
                    if all(states):
                        break
                    await anyio.sleep(0.05)
                else:
                    raise AssertionError(
                        f"not every cluster's Deployment became available: {states}"
                    )
                tg.cancel_scope.cancel()
        finally:
            for api in users + workers:
                await api.close()


async def test_namespace_scope_leaves_other_namespaces_alone(tmp_path: Path) -> None:
    async with SimFleet.start(tmp_path, count=1, controllers=False) as fleet:
        user = await fleet.api_client(fleet.names[0])
        worker = await fleet.api_client(fleet.names[0])
        core, apps = client.CoreV1Api(user), client.AppsV1Api(user)
        try:
            for ns in ("mine", "theirs"):
                await core.create_namespace({"metadata": {"name": ns}})
            async with controllers_running(worker, ready_delay=0.1, namespace="mine"):
                await apps.create_namespaced_deployment("theirs", deployment("theirs"))
                await apps.create_namespaced_deployment("mine", deployment("mine"))
                for _ in range(200):
                    if await available(apps, "mine"):
                        break
                    await anyio.sleep(0.05)
                else:
                    raise AssertionError(
                        "the Deployment in the watched namespace never became available"
                    )
                await anyio.sleep(0.3)
                assert (await apps.list_namespaced_replica_set("theirs")).items == []
                untouched = await apps.read_namespaced_deployment("web", "theirs")
                assert untouched.status is None or untouched.status.observed_generation is None
        finally:
            await user.close()
            await worker.close()
