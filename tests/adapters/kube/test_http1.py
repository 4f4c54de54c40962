"""The lean HTTP/1.1 pool, against real sockets on loopback that answer byte by byte.

Each server here is a plain TCP listener whose handler writes exactly the bytes of the
case (lengths, chunks, a close half way, garbage), so every way an answer can arrive or
fail is met as the pool would meet it from an API server or a proxy in front of one.
Every test runs on asyncio's own loop and on uvloop (the daemon's), whose transports
differ.
"""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import pytest
from anyio.abc import SocketAttribute, SocketStream

from fleet.adapters.kube import http1
from fleet.adapters.kube.http1 import (
    AnswerCut,
    ClosedWithoutAnswer,
    LeanPool,
    Origin,
    UnreadableAnswer,
)
from fleet.sim.fleet import SimFleet


@pytest.fixture(
    params=[
        pytest.param(("asyncio", {"use_uvloop": False}), id="asyncio"),
        pytest.param(("asyncio", {"use_uvloop": True}), id="uvloop"),
    ]
)
def anyio_backend(request: pytest.FixtureRequest) -> Any:
    return request.param


@dataclass
class Peer:
    """What the server saw: connections accepted, requests read, connections ended."""

    connections: int = 0
    requests: list[bytes] = field(default_factory=list)
    ended: int = 0
    #: Set when a connection ends.
    hung_up: anyio.Event = field(default_factory=anyio.Event)


Handler = Callable[[SocketStream, "Reader", Peer], Awaitable[None]]


class Reader:
    """Reads whole requests (head and Content-Length body) off one connection."""

    def __init__(self, stream: SocketStream) -> None:
        self._stream = stream
        self._buffer = b""

    async def request(self) -> bytes | None:
        while b"\r\n\r\n" not in self._buffer:
            try:
                self._buffer += await self._stream.receive()
            except (anyio.EndOfStream, anyio.BrokenResourceError):
                return None
        head, _, rest = self._buffer.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        while len(rest) < length:
            rest += await self._stream.receive()
        self._buffer = rest[length:]
        return head + b"\r\n\r\n" + rest[:length]


@asynccontextmanager
async def serving(handler: Handler) -> AsyncIterator[tuple[Origin, Peer]]:
    peer = Peer()
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(SocketAttribute.local_port)

    async def serve(stream: SocketStream) -> None:
        peer.connections += 1
        async with stream:
            try:
                await handler(stream, Reader(stream), peer)
            except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                pass
            finally:
                peer.ended += 1
                peer.hung_up.set()

    async with anyio.create_task_group() as group:
        group.start_soon(listener.serve, serve)
        yield Origin.of(f"http://127.0.0.1:{port}"), peer
        group.cancel_scope.cancel()


def ok(body: bytes, *extra: bytes) -> bytes:
    headers = b"".join(line + b"\r\n" for line in extra)
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n%s" % (len(body), headers, body)


async def answer_every_request(stream: SocketStream, reader: Reader, peer: Peer) -> None:
    while (request := await reader.request()) is not None:
        peer.requests.append(request)
        await stream.send(ok(b'{"n": %d}' % len(peer.requests)))


async def get(pool: LeanPool, path: str = "/api/v1", *, within: float = 5.0) -> http1.Answer:
    head = pool.head("GET", path, "", {"Accept": "application/json"})
    return await pool.request(head, None, within=within, connect_within=within, idempotent=True)


@pytest.mark.anyio
async def test_requests_one_after_another_share_one_connection() -> None:
    async with serving(answer_every_request) as (origin, peer):
        pool = LeanPool(origin)
        answers = [await get(pool) for _ in range(5)]
        pool.close()
    assert [a.body for a in answers] == [b'{"n": %d}' % n for n in range(1, 6)]
    assert all(a.status == 200 for a in answers)
    assert peer.connections == 1
    assert peer.requests[0].startswith(b"GET /api/v1 HTTP/1.1\r\nHost: 127.0.0.1:")


@pytest.mark.anyio
async def test_a_body_is_sent_with_its_length_and_a_bodiless_write_with_zero() -> None:
    async with serving(answer_every_request) as (origin, peer):
        pool = LeanPool(origin)
        head = pool.head("PATCH", "/x", "dryRun=All", {"Content-Type": "application/json"})
        await pool.request(head, b'{"a": 1}', within=5, connect_within=5, idempotent=True)
        head = pool.head("DELETE", "/x", "", {})
        await pool.request(head, b"", within=5, connect_within=5, idempotent=True)
        pool.close()
    assert peer.requests[0].startswith(b"PATCH /x?dryRun=All HTTP/1.1\r\n")
    assert peer.requests[0].endswith(b'Content-Length: 8\r\n\r\n{"a": 1}')
    assert peer.requests[1].endswith(b"Content-Length: 0\r\n\r\n")


@pytest.mark.anyio
async def test_a_chunked_answer_arriving_byte_by_byte_is_put_together() -> None:
    async def chunked(stream: SocketStream, reader: Reader, peer: Peer) -> None:
        await reader.request()
        answer = (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nRetry-After: 3\r\n\r\n"
            b"5\r\nhello\r\n7\r\n, world\r\n0\r\n\r\n"
        )
        for byte in answer:
            await stream.send(bytes([byte]))
        await reader.request()

    async with serving(chunked) as (origin, _):
        pool = LeanPool(origin)
        answer = await get(pool)
        pool.close()
    assert answer.body == b"hello, world"
    assert answer.headers["retry-after"] == "3"


@pytest.mark.anyio
async def test_an_answer_without_a_length_ends_with_the_connection_which_is_not_reused() -> None:
    async def until_close(stream: SocketStream, reader: Reader, peer: Peer) -> None:
        await reader.request()
        await stream.send(b"HTTP/1.1 200 OK\r\n\r\nall of it")

    async with serving(until_close) as (origin, peer):
        pool = LeanPool(origin)
        first = await get(pool)
        second = await get(pool)
        pool.close()
    assert first.body == second.body == b"all of it"
    assert peer.connections == 2


@pytest.mark.anyio
async def test_connection_close_is_honoured() -> None:
    async def close_after(stream: SocketStream, reader: Reader, peer: Peer) -> None:
        await reader.request()
        await stream.send(ok(b"{}", b"Connection: close"))
        await anyio.sleep(0.5)  # the server keeps its end open: the client must not reuse

    async with serving(close_after) as (origin, peer):
        pool = LeanPool(origin)
        await get(pool)
        assert pool.open_connections == 0
        await get(pool)
        pool.close()
    assert peer.connections == 2


def drops_the_second(answer: Callable[[bytes], bytes]) -> Handler:
    """A server that answers a connection's first request and drops it, unanswered, as
    the second arrives (``peer.requests`` has that one as ``dropped ...``)."""

    async def handler(stream: SocketStream, reader: Reader, peer: Peer) -> None:
        request = await reader.request()
        if request is None:
            return
        peer.requests.append(request)
        await stream.send(answer(request))
        dropped = await reader.request()
        if dropped is not None:
            peer.requests.append(b"dropped " + dropped)

    return handler


@pytest.mark.anyio
async def test_a_reused_connection_the_server_dropped_is_replaced_for_a_get_not_a_post() -> None:
    """The server drops a kept connection as the next request arrives, unanswered: a GET
    goes again on a new connection; a POST (a create, not idempotent) is not re-sent."""

    async with serving(drops_the_second(lambda request: ok(b"{}"))) as (origin, peer):
        pool = LeanPool(origin)
        await get(pool)
        answer = await get(pool, "/again")
        assert answer.status == 200
        assert peer.connections == 2
        head = pool.head("POST", "/create", "", {})
        with pytest.raises(ClosedWithoutAnswer):
            await pool.request(head, b"{}", within=5, connect_within=5, idempotent=False)
        pool.close()
    assert peer.connections == 2
    sent = [r.split(b" HTTP/1.1")[0] for r in peer.requests]
    assert sent.count(b"dropped POST /create") == 1
    assert b"POST /create" not in sent


@pytest.mark.anyio
async def test_no_answer_in_time_is_a_timeout_and_the_connection_is_dropped() -> None:
    async def silent(stream: SocketStream, reader: Reader, peer: Peer) -> None:
        await reader.request()
        await reader.request()  # returns when the client gives up and closes

    async with serving(silent) as (origin, peer):
        pool = LeanPool(origin)
        head = pool.head("GET", "/api/v1", "", {})
        started = anyio.current_time()
        with pytest.raises(TimeoutError):
            await pool.request(head, None, within=0.3, connect_within=5, idempotent=True)
        took = anyio.current_time() - started
        assert pool.open_connections == 0
        with anyio.fail_after(5):
            await peer.hung_up.wait()
        pool.close()
    # The event loop's timers have millisecond resolution, so a 0.3 s deadline may
    # fire a hair early; the upper bound is generous because CI machines are busy.
    assert 0.29 <= took < 4.0


@pytest.mark.anyio
async def test_a_cancelled_request_never_leaves_its_connection_for_the_next() -> None:
    async def slow_first(stream: SocketStream, reader: Reader, peer: Peer) -> None:
        while (request := await reader.request()) is not None:
            peer.requests.append(request)
            if len(peer.requests) == 1:
                await anyio.sleep(0.5)
            await stream.send(ok(b'{"n": %d}' % len(peer.requests)))

    async with serving(slow_first) as (origin, peer):
        pool = LeanPool(origin)
        with anyio.move_on_after(0.1):
            await get(pool)
        answer = await get(pool)
        pool.close()
    # The late answer to the first request ({"n": 1}) is never read as the second's.
    assert answer.body == b'{"n": 2}'
    assert peer.connections == 2


@pytest.mark.anyio
async def test_an_answer_cut_half_way_and_garbage_are_errors_of_their_own() -> None:
    async def cut(stream: SocketStream, reader: Reader, peer: Peer) -> None:
        await reader.request()
        await stream.send(b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"kind"')

    async def garbage(stream: SocketStream, reader: Reader, peer: Peer) -> None:
        await reader.request()
        await stream.send(b"SSH-2.0-OpenSSH_9.2\r\n\r\n")
        await anyio.sleep(1)

    async with serving(cut) as (origin, _):
        pool = LeanPool(origin)
        with pytest.raises(AnswerCut):
            await get(pool)
        pool.close()
    async with serving(garbage) as (origin, _):
        pool = LeanPool(origin)
        with pytest.raises(UnreadableAnswer):
            await get(pool)
        pool.close()


@pytest.mark.anyio
async def test_a_gzip_answer_is_inflated_within_a_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    plain = b'{"items": [' + b'{"a": 1},' * 2000 + b"{}]}"
    packed = gzip.compress(plain)

    async def zipped(stream: SocketStream, reader: Reader, peer: Peer) -> None:
        while await reader.request() is not None:
            await stream.send(ok(packed, b"Content-Encoding: gzip"))

    async with serving(zipped) as (origin, _):
        pool = LeanPool(origin)
        assert (await get(pool)).body == plain
        monkeypatch.setattr(http1, "MAX_INFLATED", len(plain) // 2)
        with pytest.raises(UnreadableAnswer, match="inflates past"):
            await get(pool)
        pool.close()


@pytest.mark.anyio
async def test_idle_connections_are_closed_after_the_keepalive() -> None:
    async with serving(answer_every_request) as (origin, peer):
        pool = LeanPool(origin, keepalive=0.2)
        await get(pool)
        assert pool.open_connections == 1
        with anyio.fail_after(5):
            await peer.hung_up.wait()
        assert pool.open_connections == 0
        await get(pool)
        pool.close()
    assert peer.connections == 2


@pytest.mark.anyio
async def test_a_name_cannot_write_into_the_request_head() -> None:
    """Object names come from Git: a hostile one is percent-encoded, never a new line."""
    async with serving(answer_every_request) as (origin, peer):
        pool = LeanPool(origin)
        await get(pool, "/api/v1/namespaces/a b\r\nX-Evil: 1/configmaps/system:c")
        pool.close()
        with pytest.raises(ValueError, match="line break"):
            pool.head("GET", "/", "", {"Authorization": "Bearer t\r\nX-Evil: 1"})
    line = peer.requests[0].split(b"\r\n")[0]
    assert line == b"GET /api/v1/namespaces/a%20b%0D%0AX-Evil:%201/configmaps/system:c HTTP/1.1"
    assert b"X-Evil" not in peer.requests[0].split(b"\r\n", 1)[1]


@pytest.mark.anyio
async def test_tls_to_a_simulated_api_server_verifies_and_reuses(tmp_path: Path) -> None:
    import ssl

    async with SimFleet.start(tmp_path / "sim", names=["one"], controllers=False) as fleet:
        cluster = fleet.clusters["one"]
        context = ssl.create_default_context(cafile=str(cluster.ca_file))
        pool = LeanPool(Origin.of(cluster.url), ssl_context=context)
        head = pool.head("GET", "/version", "", {"Authorization": f"Bearer {cluster.token}"})
        answers = [
            await pool.request(head, None, within=5, connect_within=5, idempotent=True)
            for _ in range(3)
        ]
        assert pool.open_connections == 1
        pool.close()
        untrusting = LeanPool(Origin.of(cluster.url), ssl_context=ssl.create_default_context())
        with pytest.raises(ssl.SSLCertVerificationError):
            await untrusting.request(head, None, within=5, connect_within=5, idempotent=True)
    assert {a.status for a in answers} == {200}
    assert b"gitVersion" in answers[0].body


@pytest.mark.parametrize(
    ("url", "host", "port", "tls", "authority", "prefix"),
    [
        ("https://10.0.0.1:6443", "10.0.0.1", 6443, True, "10.0.0.1:6443", ""),
        ("https://api.example.com", "api.example.com", 443, True, "api.example.com", ""),
        ("http://127.0.0.1:8001/", "127.0.0.1", 8001, False, "127.0.0.1:8001", ""),
        ("https://[::1]:6443", "::1", 6443, True, "[::1]:6443", ""),
        ("https://user:secret@10.0.0.1:6443", "10.0.0.1", 6443, True, "10.0.0.1:6443", ""),
        (
            "https://rancher.example/k8s/clusters/c-1/",
            "rancher.example",
            443,
            True,
            "rancher.example",
            "/k8s/clusters/c-1",
        ),
    ],
)
def test_the_origin_of_a_server_url(
    url: str, host: str, port: int, tls: bool, authority: str, prefix: str
) -> None:
    assert Origin.of(url) == Origin(host, port, tls, authority, prefix)


@pytest.mark.parametrize("url", ["unix:///run/k8s.sock", "https://", "ftp://h/"])
def test_a_server_url_the_pool_cannot_reach_is_refused(url: str) -> None:
    with pytest.raises(ValueError, match="not an http"):
        Origin.of(url)


@pytest.mark.anyio
async def test_connections_opened_for_a_burst_are_closed_soon_and_the_last_used_kept() -> None:
    """Three requests at once open three connections; once idle, only the most recently
    used one is kept for the keepalive, the spares close after their short limit."""

    async def slow(stream: SocketStream, reader: Reader, peer: Peer) -> None:
        while (request := await reader.request()) is not None:
            peer.requests.append(request)
            await anyio.sleep(0.05)
            await stream.send(ok(b"{}"))

    async with serving(slow) as (origin, peer):
        pool = LeanPool(origin, keepalive=30.0, keep_idle=1, spare_idle=0.2)
        async with anyio.create_task_group() as burst:
            for _ in range(3):
                burst.start_soon(get, pool)
        assert pool.open_connections == 3
        with anyio.fail_after(5):
            while peer.ended < 2:
                await peer.hung_up.wait()
                peer.hung_up = anyio.Event()
        assert pool.open_connections == 1
        await anyio.sleep(0.4)  # well past the spare limit: the kept one stays
        assert pool.open_connections == 1
        await get(pool)
        pool.close()
    assert peer.connections == 3, "the next request went on the kept connection"


@pytest.mark.anyio
async def test_answers_landing_together_with_a_spare_limit_already_past_all_succeed() -> None:
    """Three answers arrive in one loop turn; as each connection goes idle, the oldest
    one's spare limit (0 s) is already past. uvloop schedules a time already past as a
    plain callback (no ``when()``): keeping the third connection must not trip on it."""
    everyone_asked = anyio.Event()

    async def together(stream: SocketStream, reader: Reader, peer: Peer) -> None:
        while (request := await reader.request()) is not None:
            peer.requests.append(request)
            if len(peer.requests) == 3:
                everyone_asked.set()
            await everyone_asked.wait()
            await stream.send(ok(b"{}"))

    async with serving(together) as (origin, peer):
        pool = LeanPool(origin, keepalive=30.0, keep_idle=1, spare_idle=0.0)
        answers: list[http1.Answer] = []

        async def ask() -> None:
            answers.append(await get(pool))

        async with anyio.create_task_group() as burst:
            for _ in range(3):
                burst.start_soon(ask)
        assert [a.status for a in answers] == [200, 200, 200]
        with anyio.fail_after(5):
            while peer.ended < 2:
                await peer.hung_up.wait()
                peer.hung_up = anyio.Event()
        assert pool.open_connections == 1
        await get(pool)
        pool.close()
    assert peer.connections == 3, "the kept connection served the fourth request"


@pytest.mark.anyio
@pytest.mark.parametrize("same_read", [True, False], ids=["same-read", "later"])
async def test_bytes_nobody_asked_for_close_an_idle_connection(same_read: bool) -> None:
    """Bytes after an answer, with it or later on the idle connection, start an answer
    nobody asked for: kept, they would be read as the start of the next request's."""
    stale = b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\nstale"
    later = anyio.Event()

    async def stray(stream: SocketStream, reader: Reader, peer: Peer) -> None:
        while (request := await reader.request()) is not None:
            peer.requests.append(request)
            answer = ok(b'{"n": %d}' % len(peer.requests))
            if len(peer.requests) > 1:
                await stream.send(answer)
            elif same_read:
                await stream.send(answer + stale)
            else:
                await stream.send(answer)
                await later.wait()
                await stream.send(stale)

    async with serving(stray) as (origin, peer):
        pool = LeanPool(origin)
        first = await get(pool)
        later.set()
        with anyio.fail_after(5):
            await peer.hung_up.wait()
        assert pool.open_connections == 0
        second = await get(pool)
        pool.close()
    assert (first.body, second.body) == (b'{"n": 1}', b'{"n": 2}')
    assert peer.connections == 2
