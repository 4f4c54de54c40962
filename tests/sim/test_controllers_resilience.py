"""The controllers' watches and workers survive what API servers do to clients."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from kubernetes_asyncio import client

from fleet.sim import SimFleet
from fleet.sim.controllers import controllers_running
from fleet.sim.controllers.informers import Informer
from fleet.sim.controllers.kube import RESOURCES, KubeAccess
from fleet.sim.controllers.objects import Obj
from fleet.sim.controllers.store import Store

pytestmark = pytest.mark.anyio
NS = "default"


@pytest.fixture
async def fleet(tmp_path: Path) -> AsyncIterator[SimFleet]:
    async with SimFleet.start(tmp_path, count=1, controllers=False, watch_window=5) as sim:
        yield sim


def config_map(name: str) -> Obj:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": NS}}


def service(name: str) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"type": "ClusterIP", "ports": [{"port": 80}]},
    }


async def wait_until(check: Any, within: float = 10.0) -> None:
    for _ in range(int(within / 0.05)):
        if check():
            return
        await anyio.sleep(0.05)
    raise AssertionError(f"not seen within {within}s")


async def test_informer_lists_again_after_410_and_reports_what_it_missed(fleet: SimFleet) -> None:
    writer = await fleet.api_client(fleet.names[0])
    reader = await fleet.api_client(fleet.names[0])
    core = client.CoreV1Api(writer)
    seen: list[tuple[str | None, str | None]] = []

    def changed(kind: str, old: Obj | None, new: Obj | None) -> None:
        seen.append(
            (old["metadata"]["name"] if old else None, new["metadata"]["name"] if new else None)
        )

    try:
        await core.create_namespaced_service(NS, service("keep"))
        await core.create_namespaced_service(NS, service("drop"))
        store = Store(anyio.current_time)
        informer = Informer(KubeAccess(reader), RESOURCES["Service"], NS, store, changed)
        async with anyio.create_task_group() as tg:
            await tg.start(informer.run)
            assert sorted(o["metadata"]["name"] for o in store.all()) == ["drop", "keep"]
            tg.cancel_scope.cancel()
        # While nobody watches: more changes than the server's watch window keeps.
        await core.delete_namespaced_service("drop", NS)
        for i in range(8):
            await core.create_namespaced_config_map(NS, config_map(f"noise-{i}"))
        await core.create_namespaced_service(NS, service("late"))
        seen.clear()
        async with anyio.create_task_group() as tg:
            tg.start_soon(informer.run)  # resumes from its old resourceVersion: 410
            await wait_until(lambda: store.get(NS, "late") is not None)
            tg.cancel_scope.cancel()
        assert store.get(NS, "drop") is None
        assert ("drop", None) in seen
        assert (None, "late") in seen
    finally:
        await writer.close()
        await reader.close()


async def test_informer_resumes_after_the_server_was_down(fleet: SimFleet) -> None:
    cluster = fleet[fleet.names[0]]
    writer = await fleet.api_client(fleet.names[0])
    reader = await fleet.api_client(fleet.names[0])
    core = client.CoreV1Api(writer)
    store = Store(anyio.current_time)
    try:
        informer = Informer(KubeAccess(reader), RESOURCES["Service"], NS, store, lambda *_: None)
        async with anyio.create_task_group() as tg:
            await tg.start(informer.run)
            cluster.faults.down()
            await anyio.sleep(0.5)  # the watch is cut, reconnects are refused
            cluster.faults.up()
            await core.create_namespaced_service(NS, service("after"))
            await wait_until(lambda: store.get(NS, "after") is not None)
            tg.cancel_scope.cancel()
    finally:
        await writer.close()
        await reader.close()


async def test_deployment_rolls_out_despite_server_errors(fleet: SimFleet) -> None:
    cluster = fleet[fleet.names[0]]
    user = await fleet.api_client(fleet.names[0])
    controllers = await fleet.api_client(fleet.names[0])
    apps = client.AppsV1Api(user)
    body = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": NS},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "app", "image": "nginx"}]},
            },
        },
    }
    try:
        async with controllers_running(controllers, ready_delay=0.1):
            await apps.create_namespaced_deployment(NS, body)
            cluster.faults.error_rate = 0.3
            cluster.faults.error_code = 503
            with anyio.fail_after(20):
                while True:
                    await anyio.sleep(0.2)
                    cluster.faults.error_rate = 0.0  # let the test's own read through
                    d = await apps.read_namespaced_deployment("web", NS)
                    cluster.faults.error_rate = 0.3
                    if d.status and d.status.available_replicas == 3:
                        break
            cluster.faults.clear()
        pods = await client.CoreV1Api(user).list_namespaced_pod(NS, label_selector="app=web")
        assert len(pods.items) == 3  # retries did not create extra pods
    finally:
        await user.close()
        await controllers.close()
