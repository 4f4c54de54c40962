"""``ClusterClient.watch`` on the lean pool, and through aiohttp for a cluster behind a proxy.

Exact bytes come from a plain TCP listener (``test_http1``'s) that answers discovery and
then the watch as each case needs; TLS and a real CONNECT proxy from a simulated API
server. Every test runs on asyncio's loop and on uvloop.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from anyio.abc import SocketAttribute, SocketStream

from fleet.adapters.kube import client as client_module
from fleet.adapters.kube.client import ClusterClient, Limits
from fleet.adapters.kube.connection import ClusterEndpoint
from fleet.adapters.kube.errors import KubeError
from fleet.adapters.kube.wire import encode
from fleet.sim import SimFleet
from tests.adapters.kube.test_http1 import (  # noqa: F401 (anyio_backend: both loops)
    Peer,
    Reader,
    anyio_backend,
    ok,
    serving,
)
from tests.adapters.kube.test_http1_stream import CHUNKED, LAST_CHUNK, chunk

pytestmark = pytest.mark.anyio

DISCOVERY = encode(
    {
        "kind": "APIResourceList",
        "groupVersion": "v1",
        "resources": [{"name": "configmaps", "kind": "ConfigMap", "namespaced": True}],
    }
)
WatchAnswer = Callable[[SocketStream, Reader], Awaitable[None]]
Calls = list[tuple[str, int]]


def event(kind: str, name: str, version: int) -> bytes:
    meta = {"name": name, "namespace": "default", "resourceVersion": str(version)}
    return encode({"type": kind, "object": {"kind": "ConfigMap", "metadata": meta}}) + b"\n"


@asynccontextmanager
async def api_server(
    answer: WatchAnswer, tmp_path: Path
) -> AsyncIterator[tuple[ClusterClient, Peer, Calls]]:
    """A cluster whose discovery is answered and whose watches get ``answer``'s bytes."""

    async def handle(stream: SocketStream, reader: Reader, peer: Peer) -> None:
        while (request := await reader.request()) is not None:
            peer.requests.append(request)
            if b"watch=true" in request.split(b"\r\n")[0]:
                await answer(stream, reader)
                return
            await stream.send(ok(DISCOVERY))

    token = tmp_path / "token"
    token.write_text("t0ken\n")
    calls: Calls = []
    async with serving(handle) as (origin, peer):
        endpoint = ClusterEndpoint("raw", server=f"http://{origin.authority}", token_file=token)
        client = await ClusterClient.connect(
            endpoint,
            limits=Limits(request_timeout=5),
            observer=lambda cluster, verb, status, seconds: calls.append((verb, status)),
        )
        async with client:
            assert client._pool is not None
            yield client, peer, calls


async def follow(
    client: ClusterClient, seen: list[tuple[str, str]] | None = None
) -> list[tuple[str, str]]:
    """The (type, name) of each event, also appended to ``seen`` as they come."""
    seen = [] if seen is None else seen
    async for kind, obj in client.watch(
        "v1", "ConfigMap", resource_version="5", label_selector="fleet.dev/app", timeout_seconds=7
    ):
        seen.append((kind, obj["metadata"]["name"]))
    return seen


async def test_events_come_by_the_lean_pool_on_the_idle_connection(tmp_path: Path) -> None:
    async def events(stream: SocketStream, reader: Reader) -> None:
        modified = event("MODIFIED", "b", 8)
        await stream.send(CHUNKED + chunk(event("ADDED", "a", 6) + event("BOOKMARK", "", 7)))
        await stream.send(chunk(modified[:10]) + chunk(modified[10:]))
        await stream.send(LAST_CHUNK)
        await reader.request()

    async with api_server(events, tmp_path) as (client, peer, calls):
        assert await follow(client) == [("ADDED", "a"), ("BOOKMARK", ""), ("MODIFIED", "b")]
        assert client._pool is not None
        assert (client._pool.open_connections, client._pool.open_streams) == (1, 0)
    assert calls == [("get", 200), ("watch", 200)]
    assert peer.connections == 1, "the watch took discovery's idle connection, and left it"
    head = peer.requests[1].lower()
    assert head.startswith(
        b"get /api/v1/configmaps?watch=true&allowwatchbookmarks=true&resourceversion=5"
        b"&timeoutseconds=7&labelselector=fleet.dev%2fapp http/1.1\r\n"
    )
    assert b"\r\nauthorization: bearer t0ken\r\n" in head
    assert b"accept-encoding" not in head, "a watch is not gzipped"


async def test_an_error_event_with_410_is_gone_after_the_events_before_it(
    tmp_path: Path,
) -> None:
    expired = {"kind": "Status", "code": 410, "reason": "Expired", "message": "too old"}

    async def expire(stream: SocketStream, reader: Reader) -> None:
        error = encode({"type": "ERROR", "object": expired}) + b"\n"
        await stream.send(CHUNKED + chunk(event("ADDED", "a", 6) + error) + LAST_CHUNK)
        await reader.request()

    seen: list[tuple[str, str]] = []
    async with api_server(expire, tmp_path) as (client, _, _):
        with pytest.raises(KubeError) as caught:
            await follow(client, seen)
    assert seen == [("ADDED", "a")]
    assert (caught.value.status, caught.value.reason, caught.value.message) == (
        410,
        "Expired",
        "too old",
    )


async def test_an_answer_that_is_not_2xx_is_the_clusters_error(tmp_path: Path) -> None:
    status = encode({"kind": "Status", "code": 410, "reason": "Expired", "message": "too old"})

    async def gone(stream: SocketStream, reader: Reader) -> None:
        await stream.send(
            b"HTTP/1.1 410 Gone\r\nContent-Length: %d\r\n\r\n%s" % (len(status), status)
        )
        await reader.request()

    async with api_server(gone, tmp_path) as (client, _, calls):
        with pytest.raises(KubeError) as caught:
            await follow(client)
        assert client._pool is not None
        assert client._pool.open_streams == 0
    assert (caught.value.status, caught.value.reason) == (410, "Expired")
    assert calls == [("get", 200), ("watch", 410)]


async def test_a_watch_cut_mid_stream_is_unreachable(tmp_path: Path) -> None:
    async def cut(stream: SocketStream, reader: Reader) -> None:
        await stream.send(CHUNKED + chunk(event("ADDED", "a", 6) + b'{"type": "MOD'))

    async with api_server(cut, tmp_path) as (client, _, _):
        with pytest.raises(KubeError) as caught:
            await follow(client)
    assert caught.value.unreachable
    assert caught.value.sentence == "unreachable: the connection was cut in the middle of an answer"


async def test_an_event_past_the_read_buffer_is_unreachable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(client_module, "READ_BUFFER", 1000)

    async def huge(stream: SocketStream, reader: Reader) -> None:
        await stream.send(CHUNKED + chunk(b'{"type": "ADDED", "object": {"x": "' + b"x" * 2000))
        await reader.request()

    async with api_server(huge, tmp_path) as (client, _, _):
        with pytest.raises(KubeError) as caught:
            await follow(client)
    assert caught.value.unreachable
    assert "longer than 1000 bytes" in caught.value.sentence


async def test_a_cancelled_watch_closes_its_connection_at_once(tmp_path: Path) -> None:
    async def endless(stream: SocketStream, reader: Reader) -> None:
        await stream.send(CHUNKED + chunk(event("ADDED", "a", 6)))
        await reader.request()  # returns when the client hangs up

    async with api_server(endless, tmp_path) as (client, peer, _):
        seen: list[tuple[str, str]] = []
        with anyio.move_on_after(0.5):
            async for kind, obj in client.watch("v1", "ConfigMap", resource_version="5"):
                seen.append((kind, obj["metadata"]["name"]))
        assert seen == [("ADDED", "a")]
        with anyio.fail_after(1):
            await peer.hung_up.wait()  # the watch's connection (discovery's is still kept)
        assert peer.ended == 1
        assert client._pool is not None
        assert client._pool.open_streams == 0


async def test_a_watch_on_a_simulated_cluster_over_tls(tmp_path: Path) -> None:
    async with SimFleet.start(tmp_path / "sim", names=["one"], controllers=False) as sim:
        calls: Calls = []
        endpoint = ClusterEndpoint("one", kubeconfig=sim.kubeconfig_path, context="one")
        async with await ClusterClient.connect(
            endpoint, observer=lambda cluster, verb, status, seconds: calls.append((verb, status))
        ) as client:
            assert client._pool is not None
            _, version = await client.list_objects("v1", "ConfigMap")
            config = {"apiVersion": "v1", "kind": "ConfigMap"}
            await client.apply({**config, "metadata": {"name": "a", "namespace": "default"}})
            streams = []
            seen = []
            with anyio.fail_after(10):
                async for kind, obj in client.watch(
                    "v1", "ConfigMap", resource_version=version, timeout_seconds=1
                ):
                    streams.append(client._pool.open_streams)
                    seen.append((kind, obj["metadata"]["name"]))
            assert ("ADDED", "a") in seen
            assert set(streams) == {1}
            assert client._pool.open_streams == 0
    assert calls == [("get", 200), ("list", 200), ("patch", 201), ("watch", 200)]


async def test_a_cluster_behind_a_proxy_still_watches_through_aiohttp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real CONNECT proxy on loopback: the proxied cluster's watch (its only traffic,
    the object it sees written by another client) goes through it, by aiohttp's session."""
    tunnels: list[bytes] = []

    async def tunnel(downstream: SocketStream) -> None:
        async with downstream:
            head = b""
            while b"\r\n\r\n" not in head:
                head += await downstream.receive()
            target = head.split(b" ")[1]
            tunnels.append(target)
            host, _, port = target.decode().rpartition(":")
            async with await anyio.connect_tcp(host, int(port)) as upstream:
                await downstream.send(b"HTTP/1.1 200 Connection established\r\n\r\n")

                async def pipe(source: SocketStream, sink: SocketStream) -> None:
                    with contextlib.suppress(anyio.EndOfStream, anyio.BrokenResourceError):
                        async for data in source:
                            await sink.send(data)
                    with contextlib.suppress(anyio.BrokenResourceError):
                        await sink.send_eof()

                async with anyio.create_task_group() as pipes:
                    pipes.start_soon(pipe, downstream, upstream)
                    pipes.start_soon(pipe, upstream, downstream)

    for name in ("NO_PROXY", "no_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    async with SimFleet.start(tmp_path / "sim", names=["one"], controllers=False) as sim:
        endpoint = ClusterEndpoint("one", kubeconfig=sim.kubeconfig_path, context="one")
        async with await ClusterClient.connect(endpoint) as direct:
            _, version = await direct.list_objects("v1", "ConfigMap")
            body: dict[str, Any] = {"apiVersion": "v1", "kind": "ConfigMap"}
            await direct.apply({**body, "metadata": {"name": "a", "namespace": "default"}})
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
        port = listener.extra(SocketAttribute.local_port)
        async with anyio.create_task_group() as proxy:
            proxy.start_soon(listener.serve, tunnel)
            monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{port}")
            calls: Calls = []
            async with await ClusterClient.connect(
                endpoint,
                observer=lambda cluster, verb, status, seconds: calls.append((verb, status)),
            ) as proxied:
                assert proxied._pool is None
                seen = []
                with anyio.fail_after(10):
                    async for kind, obj in proxied.watch(
                        "v1", "ConfigMap", resource_version=version, timeout_seconds=1
                    ):
                        seen.append((kind, obj["metadata"]["name"]))
            proxy.cancel_scope.cancel()
    assert ("ADDED", "a") in seen
    assert tunnels, "the watch went through the proxy"
    assert calls == [("get", 200), ("watch", 200)]
