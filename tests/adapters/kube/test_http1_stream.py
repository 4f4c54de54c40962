"""Streamed answers (watches) on the lean pool, against real sockets that write exact bytes.

The servers are those of ``test_http1``: plain TCP listeners whose handler writes the
chunks of each case, so a line split across chunks, many lines in one chunk, a cut, a
flood or silence reach the pool as they would from an API server. Every test runs on
asyncio's own loop and on uvloop.
"""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Callable
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
    drops_the_second,
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
        assert (pool.open_connections, pool.open_streams) == (1, 0)  # kept, idle
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


async def test_a_watch_holds_its_connection_alone_and_leaves_it_idle_when_it_ends() -> None:
    """A watch takes the idle connection; a request while it lasts opens another; once
    the server ends the watch, its connection serves the next watch and request."""
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
        assert peer.connections == 1, "the watch did not take the idle connection"
        assert (pool.open_connections, pool.open_streams) == (0, 1)
        await get(pool)
        assert peer.connections == 2, "the request went on the watch's connection"
        assert (pool.open_connections, pool.open_streams) == (1, 1)
        release.set()
        assert await read_all(feed) == [b"event"]
        assert (pool.open_connections, pool.open_streams) == (2, 0)
        assert await read_all(await open_watch(pool)) == [b"event"]
        await get(pool)
        await get(pool)
        assert (pool.open_connections, pool.open_streams) == (2, 0)
        pool.close()
    assert peer.connections == 2
    assert peer.ended == 2
    assert sum(b"watch=true" in request for request in peer.requests) == 2


async def test_watches_one_after_another_and_requests_share_one_connection() -> None:
    """As a watcher renews its watch at each timeoutSeconds: one connection, no new
    handshake per renewal; an error answer read whole (a 410) leaves it clean too."""
    gone = b'{"kind":"Status","code":410}'

    async def renewals(stream: SocketStream, reader: Reader, peer: Peer) -> None:
        while (request := await reader.request()) is not None:
            peer.requests.append(request)
            if b"resourceVersion=old" in request:
                await stream.send(
                    b"HTTP/1.1 410 Gone\r\nContent-Length: %d\r\n\r\n%s" % (len(gone), gone)
                )
            elif b"watch=true" in request:
                n = len(peer.requests)
                await stream.send(CHUNKED + chunk(b"%d\n" % n) + chunk(b"last\n") + LAST_CHUNK)
            else:
                await stream.send(ok(b"{}"))

    async with serving(renewals) as (origin, peer):
        pool = LeanPool(origin)
        seen = [await read_all(await open_watch(pool)) for _ in range(3)]
        head = pool.head("GET", "/api/v1/configmaps", "watch=true&resourceVersion=old", {})
        feed = await pool.stream(head, idle_timeout=5, connect_within=5, max_line=1 << 20)
        assert (feed.status, feed.body) == (410, gone)
        feed.close()
        assert (await get(pool)).status == 200
        seen.append(await read_all(await open_watch(pool)))
        assert (pool.open_connections, pool.open_streams) == (1, 0)
        pool.close()
    assert seen == [[b"1", b"last"], [b"2", b"last"], [b"3", b"last"], [b"6", b"last"]]
    assert peer.connections == 1


async def _timed_out(pool: LeanPool) -> None:
    with pytest.raises(TimeoutError):
        await read_all(await open_watch(pool, idle=0.3))


async def _closed_early(pool: LeanPool) -> None:
    feed = await open_watch(pool)
    assert await feed.__anext__() == b"one"
    feed.close()  # a watcher stopped, or its task cancelled, with the answer still going


async def _cancelled(pool: LeanPool) -> None:
    feed = await open_watch(pool)
    with anyio.move_on_after(0.2):
        await read_all(feed)


async def _read_whole(pool: LeanPool) -> None:
    await read_all(await open_watch(pool))


async def _cut(pool: LeanPool) -> None:
    with pytest.raises(AnswerCut):
        await read_all(await open_watch(pool))


async def _until_close(pool: LeanPool) -> None:
    await _read_whole(pool)  # then the server hangs up


async def _paused(pool: LeanPool) -> None:
    # The lines and the end come in one read: the bound is passed, reading paused, as
    # the answer ends.
    assert len(await read_all(await open_watch(pool, pause_above=16))) == 3


async def _too_long(pool: LeanPool) -> None:
    with pytest.raises(UnreadableAnswer):
        await open_watch(pool, max_line=10)


@pytest.mark.parametrize(
    ("answer", "use"),
    [
        pytest.param(CHUNKED + chunk(b"one\n"), _timed_out, id="timed-out"),
        pytest.param(CHUNKED + chunk(b"one\ntwo\n"), _closed_early, id="closed-early"),
        pytest.param(CHUNKED + chunk(b"one\n"), _cancelled, id="cancelled"),
        pytest.param(CHUNKED + chunk(b"one\nt"), _cut, id="cut"),
        pytest.param(
            CHUNKED + chunk(b"one\n") + LAST_CHUNK + b"HTTP/1.1 200 OK\r\n",
            _read_whole,
            id="bytes-after-the-end",
        ),
        pytest.param(
            CHUNKED.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n")
            + chunk(b"one\n")
            + LAST_CHUNK,
            _read_whole,
            id="connection-close",
        ),
        pytest.param(b"HTTP/1.1 200 OK\r\n\r\none\n", _until_close, id="until-close"),
        pytest.param(
            CHUNKED + chunk(b"one-one-one-one-one\ntwo-two-two-two-two\nthree\n") + LAST_CHUNK,
            _paused,
            id="paused-at-the-end",
        ),
        pytest.param(
            b"HTTP/1.1 500 No\r\nContent-Length: 40\r\n\r\n" + b"x" * 40,
            _too_long,
            id="error-answer-too-long",
        ),
    ],
)
async def test_a_connection_whose_answer_did_not_end_cleanly_is_never_kept(
    answer: bytes, use: Callable[[LeanPool], Awaitable[None]]
) -> None:
    """Timed out, closed or cancelled early, cut, trailing bytes, the server closing, the
    reader slower than the server at the end, an error answer not read whole: the
    connection is dropped, and the next request goes on a new one."""
    last_connection = 0

    async def once(stream: SocketStream, reader: Reader, peer: Peer) -> None:
        nonlocal last_connection
        last_connection += 1
        first = last_connection == 1
        while (request := await reader.request()) is not None:
            peer.requests.append(request)
            if not first:
                await stream.send(ok(b"{}"))
                continue
            await stream.send(answer)
            if use in (_cut, _until_close):
                return  # the server hangs up

    async with serving(once) as (origin, peer):
        pool = LeanPool(origin)
        await use(pool)
        with anyio.fail_after(5):
            await peer.hung_up.wait()
        assert (pool.open_connections, pool.open_streams) == (0, 0)
        assert (await get(pool)).status == 200
        pool.close()
    assert peer.connections == 2
    assert len(peer.requests) == 2


async def test_a_kept_connection_the_server_closed_as_the_watch_went_out_is_replaced() -> None:
    """The server drops its idle connection as the watch arrives, unanswered: the watch
    goes again, once, on a new connection."""

    def answer(request: bytes) -> bytes:
        if b"watch=true" in request:
            return CHUNKED + chunk(b"event\n") + LAST_CHUNK
        return ok(b"{}")

    async with serving(drops_the_second(answer)) as (origin, peer):
        pool = LeanPool(origin)
        await get(pool)
        assert await read_all(await open_watch(pool)) == [b"event"]
        assert peer.connections == 2
        assert (pool.open_connections, pool.open_streams) == (1, 0)
        pool.close()
    sent = [request.split(b"?")[0].split(b" HTTP/1.1")[0] for request in peer.requests]
    assert sent == [b"GET /api/v1", b"dropped GET /api/v1/configmaps", b"GET /api/v1/configmaps"]


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
    """Two watches one after the other, then a request, over one TLS connection: the
    connection moves from the pool to a watch and back on each loop's TLS transport."""
    async with SimFleet.start(tmp_path / "sim", names=["one"], controllers=False) as fleet:
        cluster = fleet.clusters["one"]
        context = ssl.create_default_context(cafile=str(cluster.ca_file))
        pool = LeanPool(Origin.of(cluster.url), ssl_context=context)
        auth = {"Authorization": f"Bearer {cluster.token}", "Accept": "application/json"}
        head = pool.head("GET", "/api/v1/namespaces", "watch=true&timeoutSeconds=1", auth)
        watches = []
        for _ in range(2):
            feed = await pool.stream(head, idle_timeout=10, connect_within=5, max_line=1 << 21)
            assert feed.status == 200
            with anyio.fail_after(10):
                watches.append(await read_all(feed))
            assert (pool.open_connections, pool.open_streams) == (1, 0)
        version = pool.head("GET", "/version", "", auth)
        answer = await pool.request(version, None, within=5, connect_within=5, idempotent=True)
        pool.close()
    assert answer.status == 200
    assert context.session_stats()["connect"] == 1, "a TLS handshake per watch"
    for lines in watches:
        added = [line for line in lines if b"ADDED" in line]
        names = {line.split(b'"name":"')[1].split(b'"')[0] for line in added}
        assert {b"default", b"kube-system"} <= names


@pytest.mark.parametrize(
    ("before", "watch_connections"),
    [
        pytest.param(b"/small", 1, id="a-small-answer-the-watch-takes-it"),
        pytest.param(b"/list", 2, id="a-list-answer-the-watch-opens-its-own"),
        pytest.param(b"watch=true&big", 2, id="a-watch-with-a-large-event-the-next-opens-its-own"),
    ],
)
async def test_a_watch_takes_only_a_connection_whose_reads_stayed_small(
    before: bytes, watch_connections: int
) -> None:
    """uvloop's TLS read buffer and OpenSSL's BIO stay as large as the largest read, and a
    watch holds its connection for minutes: one that carried a list's answer stays in
    the pool for requests instead."""
    large = b"x" * (256 * 1024)

    async def answers(stream: SocketStream, reader: Reader, peer: Peer) -> None:
        while (request := await reader.request()) is not None:
            peer.requests.append(request)
            if b"watch=true&big" in request:
                await stream.send(CHUNKED + chunk(large + b"\n") + LAST_CHUNK)
            elif b"watch=true" in request:
                await stream.send(CHUNKED + chunk(b"event\n") + LAST_CHUNK)
            else:
                await stream.send(ok(large if request.startswith(b"GET /list") else b"{}"))

    async with serving(answers) as (origin, peer):
        pool = LeanPool(origin)
        if before.startswith(b"watch"):
            head = pool.head("GET", "/api/v1/configmaps", before.decode(), {})
            feed = await pool.stream(head, idle_timeout=5, connect_within=5, max_line=1 << 20)
            assert len((await read_all(feed))[0]) == len(large)
        else:
            await get(pool, before.decode())
        assert (pool.open_connections, peer.connections) == (1, 1)
        assert await read_all(await open_watch(pool)) == [b"event"]
        assert peer.connections == watch_connections
        await get(pool, "/small")  # a request takes any idle connection
        assert peer.connections == watch_connections
        pool.close()
