"""Every fault, switched from Python and from the admin endpoint, seen by the real client."""

from __future__ import annotations

import json
import time

import aiohttp
import anyio
import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client import ApiException

from tests.sim.conftest import Sim

pytestmark = pytest.mark.anyio


async def test_latency_is_added_to_every_request(sim: Sim) -> None:
    sim.cluster.faults.latency = 0.3
    start = time.monotonic()
    await sim.core.list_namespace()
    assert time.monotonic() - start >= 0.3
    sim.cluster.faults.latency = 0
    start = time.monotonic()
    await sim.core.list_namespace()
    assert time.monotonic() - start < 0.3


@pytest.mark.parametrize(
    ("code", "reason"),
    [(500, "InternalError"), (503, "ServiceUnavailable"), (429, "TooManyRequests")],
)
async def test_error_rate_answers_with_the_chosen_code(sim: Sim, code: int, reason: str) -> None:
    sim.cluster.faults.error_rate = 1.0
    sim.cluster.faults.error_code = code
    sim.cluster.faults.retry_after = 2
    with pytest.raises(ApiException) as caught:
        await sim.core.create_namespaced_config_map("default", {"metadata": {"name": "a"}})
    assert caught.value.status == code
    assert json.loads(caught.value.body)["reason"] == reason
    if code == 429:
        assert caught.value.headers["Retry-After"] == "2"
    assert sim.cluster.get_object("", "configmaps", "default", "a") is None
    sim.cluster.faults.error_rate = 0
    await sim.core.create_namespaced_config_map("default", {"metadata": {"name": "a"}})


async def test_partial_error_rate_fails_some_requests(sim: Sim) -> None:
    sim.cluster.faults.error_rate = 0.5
    outcomes = []
    for _ in range(40):
        try:
            await sim.core.list_namespace()
            outcomes.append(True)
        except ApiException:
            outcomes.append(False)
    assert 0 < outcomes.count(False) < 40


async def test_dropped_connections_fail_without_an_answer(sim: Sim) -> None:
    sim.cluster.faults.drop_connections = True
    with pytest.raises((aiohttp.ClientError, ConnectionError)):
        await sim.core.list_namespace()
    sim.cluster.faults.drop_connections = False
    assert (await sim.core.list_namespace()).items


async def test_down_refuses_connections_and_up_serves_again_on_the_same_port(sim: Sim) -> None:
    port = sim.cluster.port
    sim.cluster.faults.down()
    with pytest.raises(aiohttp.ClientConnectorError):
        await sim.core.list_namespace()
    async with await sim.fleet.internal_api_client("sim-1") as internal:
        with pytest.raises(aiohttp.ClientConnectorError):
            await client.CoreV1Api(internal).list_namespace()
    sim.cluster.faults.up()
    with anyio.fail_after(5):
        namespaces = await sim.core.list_namespace()
    assert namespaces.items
    assert sim.cluster.port == port
    async with await sim.fleet.internal_api_client("sim-1") as internal:
        assert (await client.CoreV1Api(internal).list_namespace()).items


async def test_down_cuts_an_open_watch(sim: Sim) -> None:
    from kubernetes_asyncio import watch

    stream = watch.Watch().stream(sim.core.list_namespace, timeout_seconds=10)
    with anyio.fail_after(5):
        async with stream:
            first = await stream.__anext__()
            assert first["type"] == "ADDED"
            for _ in range(3):
                await stream.__anext__()
            sim.cluster.faults.down()
            with pytest.raises(
                (aiohttp.ClientError, ConnectionError, StopAsyncIteration, ApiException)
            ):
                await stream.__anext__()
    sim.cluster.faults.up()


async def test_admin_endpoint_switches_faults(sim: Sim) -> None:
    admin = json.loads((sim.fleet.directory / "admin.json").read_text())
    headers = {"Authorization": f"Bearer {admin['token']}"}
    async with aiohttp.ClientSession(headers=headers) as session:
        async with session.get(f"{admin['url']}/clusters") as response:
            listed = await response.json()
        assert [c["name"] for c in listed] == ["sim-1"]
        url = f"{admin['url']}/clusters/sim-1/faults"
        async with session.patch(url, json={"error_rate": 1, "error_code": 503}) as response:
            assert response.status == 200
        assert sim.cluster.faults.error_rate == 1
        assert sim.cluster.faults.error_code == 503
        async with session.patch(url, json={"error_code": 404}) as response:
            assert response.status == 400
        async with session.post(f"{admin['url']}/clusters/sim-1/down") as response:
            assert (await response.json())["down"] is True
        assert sim.cluster.faults.is_down
        async with session.post(f"{admin['url']}/clusters/sim-1/up") as response:
            assert response.status == 200
        async with session.get(f"{admin['url']}/clusters/nope/faults") as response:
            assert response.status == 404
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{admin['url']}/clusters") as response,
    ):
        assert response.status == 401
    sim.cluster.faults.clear()
    assert (await sim.core.list_namespace()).items


async def test_faults_limited_to_paths_spare_the_others(sim: Sim) -> None:
    faults = sim.cluster.faults
    faults.update({"paths": ["/api/v1/namespaces/default/configmaps"], "error_rate": 1})
    faults.error_code = 503
    with pytest.raises(ApiException) as caught:
        await sim.core.list_namespaced_config_map("default")
    assert caught.value.status == 503
    assert (await sim.core.list_namespace()).items  # another path: served
    faults.paths = ()
    with pytest.raises(ApiException):
        await sim.core.list_namespace()
    with pytest.raises(ValueError, match="paths"):
        faults.update({"paths": "/api"})
    assert faults.to_dict()["paths"] == []
    faults.clear()
