"""Streamed answers (watches) on the lean pool, against real sockets that write exact bytes.

The servers are those of ``test_http1``: plain TCP listeners whose handler writes the
chunks of each case, so a line split across chunks, many lines in one chunk, a cut, a
flood or silence reach the pool as they would from an API server. Every test runs on
asyncio's own loop and on uvloop.
"""

from __future__ import annotations

import ssl
from pathlib import Path

import anyio
import pytest
from anyio.abc import SocketStream

from fleet.adapters.kube.http1 import (
    AnswerCut,
    ClosedWithoutAnswer,
    ConnectionBroken,
    LeanPool,
    LineFeed,
    Origin,
    UnreadableAnswer,
)
from fleet.sim.fleet import SimFleet
from tests.adapters.kube.test_http1 import (  # noqa: F401 (anyio_backend: both loops)
    Peer,
    Reader,
    anyio_backend,
    get,
    ok,
    serving,
)

pytestmark = pytest.mark.anyio

CHUNKED = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
LAST_CHUNK = b"0\r\n\r\n"


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


async def open_watch(
    pool: LeanPool, *, idle: float = 5.0, max_line: int = 1 << 21, pause_above: int = 1 << 20
) -> LineFeed:
    head = pool.head("GET", "/api/v1/configmaps", "watch=true", {"Accept": "application/json"})
    return await pool.stream(
        head, idle_timeout=idle, connect_within=5.0, max_line=max_line, pause_above=pause_above
    )


async def collect(feed: LineFeed, seen: list[bytes]) -> None:
    async for line in feed:
        seen.append(line)


async def read_all(feed: LineFeed) -> list[bytes]:
    try:
        return [line async for line in feed]
    finally:
        feed.close()


async def test_lines_are_put_together_across_chunks_and_cut_out_of_one() -> None:
    async def events(stream: SocketStream, reader: Reader, peer: Peer) -> None:
        peer.requests.append(await reader.request() or b"")
        await stream.send(CHUNKED)
        await stream.send(chunk(b'{"n": 1}\n{"n"'))  # a line and the start of one
        await stream.send(chunk(b": 2"))
        await stream.send(chunk(b"}\n") + chunk(b'{"n": 3}\n{"n": 4}\n{"n": 5}\n'))
        body = chunk(b'{"n": 6}\n' + b'{"n": 7}')  # the last line without a newline
        for byte in body + LAST_CHUNK:
            await stream.send(bytes([byte]))
        await reader.request()  # until the client closes

    async with serving(events) as (origin, peer):
        pool = LeanPool(origin)
        feed = await open_watch(pool)
        assert (feed.status, feed.headers["content-type"]) == (200, "application/json")
        lines = await read_all(feed)
        with anyio.fail_after(5):
            await peer.hung_up.wait()  # the stream's connection is closed, never kept
        pool.close()
    assert lines == [b'{"n": %d}' % n for n in range(1, 8)]
    assert peer.requests[0].startswith(b"GET /api/v1/configmaps?watch=true HTTP/1.1\r\n")
    assert b"Content-Length" not in peer.requests[0]


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(CHUNKED + chunk(b"a\nb\n") + LAST_CHUNK, id="last-chunk"),
        pytest.param(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\na\nb\n", id="length"),
        pytest.param(b"HTTP/1.1 200 OK\r\n\r\na\nb\n", id="until-close"),
        pytest.param(
            CHUNKED + chunk(b"a\nb\n") + LAST_CHUNK + b"HTTP/1.1 500 No\r\n\r\nc\n",
            id="bytes-after-the-end",
        ),
    ],
)
async def test_the_end_of_the_answer_ends_the_lines(answer: bytes) -> None:
    """The server ends a watch at its timeoutSeconds: the iteration ends, no error."""

    async def end(stream: SocketStream, reader: Reader, peer: Peer) -> None:
        await reader.request()
        await stream.send(answer)
        if answer.startswith(b"HTTP/1.1 200 OK\r\n\r\n"):
            return  # the body ends with the connection
        await reader.request()

    async with serving(end) as (origin, _):
        pool = LeanPool(origin)
        feed = await open_watch(pool)
        assert await read_all(feed) == [b"a", b"b"]
        assert feed.status == 200
        assert pool.open_streams == 0
        pool.close()


async def test_a_cut_mid_stream_raises_after_the_lines_that_came() -> None:
    async def cut(stream: SocketStream, reader: Reader, peer: Peer) -> None:
        await reader.request()
        await stream.send(CHUNKED + chunk(b'{"n": 1}\n{"n": 2}\n{"n'))

    async def closed(stream: SocketStream, reader: Reader, peer: Peer) -> None:
        await reader.request()

    async with serving(cut) as (origin, _):
        pool = LeanPool(origin)
        feed = await open_watch(pool)
        seen: list[bytes] = []
        with pytest.raises(AnswerCut):
            await collect(feed, seen)
        feed.close()
        assert seen == [b'{"n": 1}', b'{"n": 2}']
        pool.close()
    async with serving(closed) as (origin, _):
        pool = LeanPool(origin)
        with pytest.raises(ClosedWithoutAnswer):
            await open_watch(pool)
        assert pool.open_streams == 0
        pool.close()


async def test_an_answer_that_is_not_2xx_is_read_whole_with_its_status() -> None:
    status = b'{"kind":"Status","code":410,"reason":"Expired",\n"message":"too old"}'

    async def gone(stream: SocketStream, reader: Reader, peer: Peer) -> None:
        await reader.request()
        await stream.send(
            b"HTTP/1.1 410 Gone\r\nTransfer-Encoding: chunked\r\nRetry-After: 1\r\n\r\n"
            + chunk(status[:20])
            + chunk(status[20:])
            + LAST_CHUNK
        )
        await reader.request()

    async with serving(gone) as (origin, _):
        pool = LeanPool(origin)
        feed = await open_watch(pool)
        assert (feed.status, feed.body, feed.headers["retry-after"]) == (410, status, "1")
        assert await read_all(feed) == []
        pool.close()


async def test_a_line_over_the_limit_is_an_error_not_a_stall() -> None:
    async def long_line(stream: SocketStream, reader: Reader, peer: Peer) -> None:
        await reader.request()
        await stream.send(CHUNKED + chunk(b"short\n" + b"x" * 600))
        await stream.send(chunk(b"x" * 600))  # the line is now past 1,000 bytes
        await reader.request()  # until the client hangs up

    async def long_in_one(stream: SocketStream, reader: Reader, peer: Peer) -> None:
        await reader.request()
        await stream.send(CHUNKED + chunk(b"short\n" + b"y" * 1500 + b"\nnext\n"))
        await reader.request()

    async def long_tail(stream: SocketStream, reader: Reader, peer: Peer) -> None:
        await reader.request()
        await stream.send(CHUNKED + chunk(b"short\n" + b"z" * 1500) + LAST_CHUNK)
        await reader.request()

    for handler in (long_line, long_in_one, long_tail):
        async with serving(handler) as (origin, peer):
            pool = LeanPool(origin)
            feed = await open_watch(pool, max_line=1000)
            seen: list[bytes] = []
            with pytest.raises(UnreadableAnswer, match="longer than 1000 bytes"):
                await collect(feed, seen)
            assert seen == [b"short"]
            with anyio.fail_after(5):
                await peer.hung_up.wait()  # the connection is dropped at once
            pool.close()


async def test_a_slow_reader_pauses_the_connection_and_holds_a_bounded_amount() -> None:
    """A flood of 4 MiB of events with the reader asleep: the feed holds about its bound
    (plus one read off the socket), not the flood; every line still comes, in order."""
    bound = 64 * 1024
    lines = [b'{"n": %d, "pad": "%s"}' % (n, b"p" * 1000) for n in range(4000)]

    async def flood(stream: SocketStream, reader: Reader, peer: Peer) -> None:
        await reader.request()
        await stream.send(CHUNKED)
        for start in range(0, len(lines), 40):
            await stream.send(chunk(b"".join(line + b"\n" for line in lines[start : start + 40])))
        await stream.send(LAST_CHUNK)
        await reader.request()

    async with serving(flood) as (origin, _):
        pool = LeanPool(origin)
        feed = await open_watch(pool, pause_above=bound)
        await anyio.sleep(0.5)  # the server writes as fast as it may, nobody reads
        held = feed.buffered  # without the pause, the 4 MiB that reached the socket
        seen: list[bytes] = []
        most = 0
        async for line in feed:
            seen.append(line)
            most = max(most, feed.buffered)
            if len(seen) % 500 == 0:
                await anyio.sleep(0.05)  # still slower than the server
        feed.close()
        pool.close()
    assert seen == lines
    one_read = 256 * 1024  # what both loops read off a socket at once, at most
    assert bound < held <= bound + one_read
    assert most <= bound + one_read


async def test_a_silent_server_times_out_but_a_slow_steady_one_does_not() -> None:
    async def silent(stream: SocketStream, reader: Reader, peer: Peer) -> None:
        await reader.request()
        await stream.send(CHUNKED + chunk(b"one\n"))
        await reader.request()  # nothing more, until the client gives up

    async def steady(stream: SocketStream, reader: Reader, peer: Peer) -> None:
        await reader.request()
        await stream.send(CHUNKED)
        for n in range(8):
            await anyio.sleep(0.1)
            await stream.send(chunk(b"%d\n" % n))
        await stream.send(LAST_CHUNK)
        await reader.request()

    async with serving(silent) as (origin, peer):
        pool = LeanPool(origin)
        feed = await open_watch(pool, idle=0.3)
        started = anyio.current_time()
        with pytest.raises(TimeoutError, match=r"silent for 0\.3s"):
            await read_all(feed)
        took = anyio.current_time() - started
        with anyio.fail_after(5):
            await peer.hung_up.wait()
        pool.close()
    assert 0.2 <= took < 3.0
    async with serving(steady) as (origin, _):
        pool = LeanPool(origin)
        # 0.8 s in all, never 0.3 s without a byte: silence is what times out, not length.
        assert len(await read_all(await open_watch(pool, idle=0.3))) == 8
        pool.close()


async def test_cancelled_while_waiting_the_connection_is_closed_at_once() -> None:
    async def slow_head(stream: SocketStream, reader: Reader, peer: Peer) -> None:
        await reader.request()
        await reader.request()  # returns when the client hangs up

    async with serving(slow_head) as (origin, peer):
        pool = LeanPool(origin)
        with anyio.move_on_after(0.2):
            await open_watch(pool)
        with anyio.fail_after(2):
            await peer.hung_up.wait()
        assert pool.open_streams == 0
        pool.close()


async def test_a_stream_never_shares_a_connection_with_requests() -> None:
    """A watch holds its connection for minutes: it is not taken from the idle ones, not
    counted among them, and not left for the next request when it ends."""
    release = anyio.Event()

    async def both(stream: SocketStream, reader: Reader, peer: Peer) -> None:
        while (request := await reader.request()) is not None:
            peer.requests.append(request)
            if b"watch=true" in request:
                await stream.send(CHUNKED + chunk(b"event\n"))
                await release.wait()
                await stream.send(LAST_CHUNK)
            else:
                await stream.send(ok(b"{}"))

    async with serving(both) as (origin, peer):
        pool = LeanPool(origin)
        await get(pool)  # one idle connection
        feed = await open_watch(pool)
        assert peer.connections == 2, "the watch did not take the idle connection"
        assert (pool.open_connections, pool.open_streams) == (1, 1)
        await get(pool)
        assert peer.connections == 2, "the request did not take the watch's connection"
        release.set()
        assert await read_all(feed) == [b"event"]
        assert (pool.open_connections, pool.open_streams) == (1, 0)
        await get(pool)
        pool.close()
    assert peer.connections == 2
    assert sum(b"watch=true" in request for request in peer.requests) == 1


async def test_closing_the_pool_fails_an_open_stream() -> None:
    async def endless(stream: SocketStream, reader: Reader, peer: Peer) -> None:
        await reader.request()
        await stream.send(CHUNKED + chunk(b"first\n"))
        await reader.request()

    async with serving(endless) as (origin, peer):
        pool = LeanPool(origin)
        feed = await open_watch(pool)
        assert await feed.__anext__() == b"first"
        pool.close()
        with pytest.raises(ConnectionBroken, match="closed"):
            await feed.__anext__()
        with anyio.fail_after(5):
            await peer.hung_up.wait()
        assert pool.open_streams == 0


async def test_a_watch_over_tls_from_a_simulated_api_server(tmp_path: Path) -> None:
    async with SimFleet.start(tmp_path / "sim", names=["one"], controllers=False) as fleet:
        cluster = fleet.clusters["one"]
        context = ssl.create_default_context(cafile=str(cluster.ca_file))
        pool = LeanPool(Origin.of(cluster.url), ssl_context=context)
        head = pool.head(
            "GET",
            "/api/v1/namespaces",
            "watch=true&timeoutSeconds=1",
            {"Authorization": f"Bearer {cluster.token}", "Accept": "application/json"},
        )
        feed = await pool.stream(head, idle_timeout=10, connect_within=5, max_line=1 << 21)
        assert feed.status == 200
        with anyio.fail_after(10):
            lines = await read_all(feed)
        pool.close()
    names = {line.split(b'"name":"')[1].split(b'"')[0] for line in lines if b"ADDED" in line}
    assert {b"default", b"kube-system"} <= names
