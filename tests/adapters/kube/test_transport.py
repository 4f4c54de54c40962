"""The session under each cluster's client: proxy decided once, watches never starve requests."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest
from anyio.abc import SocketAttribute, SocketStream

from fleet.adapters.kube.client import ClusterClient, Limits
from fleet.adapters.kube.connection import ClusterEndpoint
from fleet.adapters.kube.errors import KubeError
from fleet.adapters.kube.transport import proxy_for
from fleet.model.refs import ObjectRef
from fleet.sim import SimFleet

REF = ObjectRef("", "ConfigMap", "default", "missing")
KINDS = [
    ("v1", "ConfigMap"),
    ("v1", "Secret"),
    ("v1", "Service"),
    ("v1", "ServiceAccount"),
    ("apps/v1", "Deployment"),
    ("apps/v1", "StatefulSet"),
    ("apps/v1", "DaemonSet"),
    ("batch/v1", "Job"),
    ("rbac.authorization.k8s.io/v1", "Role"),
    ("rbac.authorization.k8s.io/v1", "RoleBinding"),
    ("networking.k8s.io/v1", "NetworkPolicy"),
    ("policy/v1", "PodDisruptionBudget"),
]

PROXIES = [
    # (environment, server, proxy from the kubeconfig, expected)
    ({}, "https://10.0.0.1:6443", None, None),
    ({"HTTPS_PROXY": "http://proxy:3128"}, "https://10.0.0.1:6443", None, "http://proxy:3128"),
    (
        {"HTTPS_PROXY": "http://proxy:3128", "NO_PROXY": "10.0.0.1"},
        "https://10.0.0.1:6443",
        None,
        None,
    ),
    (
        {"HTTPS_PROXY": "http://proxy:3128", "NO_PROXY": ".corp"},
        "https://api.corp:6443",
        None,
        None,
    ),
    ({"HTTP_PROXY": "http://proxy:3128"}, "https://10.0.0.1:6443", None, None),
    (
        {"HTTPS_PROXY": "http://proxy:3128"},
        "https://10.0.0.1:6443",
        "http://kubeconfig:8080",
        "http://kubeconfig:8080",
    ),
]


@pytest.mark.parametrize(("environment", "server", "configured", "expected"), PROXIES)
def test_the_proxy_for_a_cluster(
    monkeypatch: pytest.MonkeyPatch,
    environment: dict[str, str],
    server: str,
    configured: str | None,
    expected: str | None,
) -> None:
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    assert proxy_for(server, configured) == expected


@pytest.fixture
async def sim(tmp_path: Path) -> AsyncIterator[SimFleet]:
    async with SimFleet.start(tmp_path / "sim", names=["one"], controllers=False) as fleet:
        yield fleet


def _endpoint(sim: SimFleet) -> ClusterEndpoint:
    return ClusterEndpoint("one", kubeconfig=sim.kubeconfig_path, context="one")


@pytest.mark.anyio
async def test_watches_of_many_kinds_leave_room_for_requests(sim: SimFleet, tmp_path: Path) -> None:
    limits = Limits(connections=2, request_timeout=5)
    async with await ClusterClient.connect(_endpoint(sim), limits=limits) as client:

        async def follow(api_version: str, kind: str) -> None:
            async for _ in client.watch(api_version, kind, resource_version="0"):
                pass

        async with anyio.create_task_group() as watches:
            for api_version, kind in KINDS:
                watches.start_soon(follow, api_version, kind)
            await anyio.sleep(0.5)
            with anyio.fail_after(5):
                assert await client.get("v1", REF) is None
            watches.cancel_scope.cancel()


@pytest.mark.anyio
async def test_requests_in_flight_are_capped_per_cluster(sim: SimFleet, tmp_path: Path) -> None:
    async with await ClusterClient.connect(_endpoint(sim), limits=Limits(connections=2)) as client:
        await client.get("v1", REF)  # discovery, before the clock starts
        sim.clusters["one"].faults.latency = 0.2
        started = anyio.current_time()
        async with anyio.create_task_group() as requests:
            for _ in range(6):
                requests.start_soon(client.get, "v1", REF)
        # six requests of 0.2 s, two at a time: three rounds.
        assert anyio.current_time() - started >= 0.55


@pytest.mark.anyio
async def test_the_proxy_is_decided_when_the_client_is_built(
    sim: SimFleet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("NO_PROXY", "no_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")  # nothing listens: refused
    async with await ClusterClient.connect(
        _endpoint(sim), limits=Limits(request_timeout=5)
    ) as proxied:
        with pytest.raises(KubeError) as caught:
            await proxied.get("v1", REF)
        assert caught.value.unreachable
    monkeypatch.delenv("HTTPS_PROXY")
    async with await ClusterClient.connect(_endpoint(sim)) as direct:
        monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")  # too late to matter
        assert await direct.get("v1", REF) is None


@pytest.mark.anyio
async def test_a_cluster_behind_a_proxy_is_reached_through_it_and_others_by_the_lean_pool(
    sim: SimFleet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real CONNECT proxy on loopback: a proxied cluster's requests (aiohttp's session)
    go through its tunnel; without a proxy they go by the lean pool, not the tunnel."""
    tunnels: list[bytes] = []

    async def tunnel(client: SocketStream) -> None:
        async with client:
            head = b""
            while b"\r\n\r\n" not in head:
                head += await client.receive()
            target = head.split(b" ")[1]
            tunnels.append(target)
            host, _, port = target.decode().rpartition(":")
            async with await anyio.connect_tcp(host, int(port)) as upstream:
                await client.send(b"HTTP/1.1 200 Connection established\r\n\r\n")

                async def pipe(source: SocketStream, sink: SocketStream) -> None:
                    with contextlib.suppress(anyio.EndOfStream, anyio.BrokenResourceError):
                        async for chunk in source:
                            await sink.send(chunk)
                    with contextlib.suppress(anyio.BrokenResourceError):
                        await sink.send_eof()

                async with anyio.create_task_group() as pipes:
                    pipes.start_soon(pipe, client, upstream)
                    pipes.start_soon(pipe, upstream, client)

    for name in ("NO_PROXY", "no_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(SocketAttribute.local_port)
    async with anyio.create_task_group() as proxy:
        proxy.start_soon(listener.serve, tunnel)
        monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{port}")
        async with await ClusterClient.connect(_endpoint(sim)) as proxied:
            assert proxied._pool is None
            assert await proxied.get("v1", REF) is None
        assert tunnels, "the proxied cluster's requests went through the proxy"
        monkeypatch.delenv("HTTPS_PROXY")
        seen = len(tunnels)
        async with await ClusterClient.connect(_endpoint(sim)) as direct:
            assert direct._pool is not None
            assert await direct.get("v1", REF) is None
        assert len(tunnels) == seen
        proxy.cancel_scope.cancel()


@pytest.mark.anyio
async def test_a_server_url_the_pool_cannot_use_still_builds_a_client_whose_requests_fail(
    tmp_path: Path,
) -> None:
    """A typo in a cluster's server URL is that cluster's error at its first request,
    never an exception while the daemon builds its clients."""
    token = tmp_path / "token"
    token.write_text("t\n")
    endpoint = ClusterEndpoint("typo", server="htps://10.0.0.1:6443", token_file=token)
    async with await ClusterClient.connect(endpoint, limits=Limits(request_timeout=5)) as client:
        assert client._pool is None
        with pytest.raises(KubeError) as caught:
            await client.get("v1", REF)
    assert caught.value.unreachable
