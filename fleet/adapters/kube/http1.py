"""Plain HTTP/1.1 requests to one API server, with as little Python per request as can be.

A sync sends dozens of small, alike requests per cluster (dry-runs, applies, gets).
Through aiohttp's ``ClientSession`` each cost the daemon about 400 us of CPU: request
and response objects, multidicts, a URL object, timers, tracing signals and a task per
read. The bytes need a quarter of that. So ordinary requests go over this pool: the
request head is written directly, the answer is parsed as it arrives by httptools
(llhttp, Node.js's parser, C), on the event loop's own TLS transport, and a connection
is kept for the next request as aiohttp would keep it.

Watches are here too, each holding a connection while it lasts (``LeanPool.stream``, read
as lines by ``linefeed``). Through aiohttp a watch cost a response object, a stream reader with
its buffer and timers, and a readline per event: in a profile of a 100-cluster update
the watch path was ~7.6 % of the daemon's CPU, and a daemon with 1,000 clusters holds
one watch per kind, ~4,000 connections, for minutes. On this pool a watch costs a parser
and a queue of lines, and its events are cut out of the chunks as they arrive: on uvloop
over TLS, about a fifth less client CPU per event and 51 KiB instead of 58 KiB per open
watch (most of what is left is the TLS connection itself).

A watch takes an idle connection when there is one whose reads stayed small (see
``WATCH_READS_UP_TO``), and one whose answer ended cleanly (the server's
``timeoutSeconds``) is kept for the next request or watch, as aiohttp kept it: a daemon
with 1,000 clusters renews ~17 watches a second, and each new connection costs a TCP and
TLS handshake on both sides (1.4-1.9 ms of client CPU on OpenSSL 3.0).

What aiohttp keeps: clusters reached through a proxy. What this pool does not do,
because an API server does not need it: redirects (a 3xx is an error answer), cookies,
HTTP/2, pipelining, 100-continue.

A connection closed by the server while idle is noticed when it closes; a request or a
watch that meets one closing just as it is sent is sent again once on a fresh
connection, unless it is a POST (a create is not idempotent; the caller's retry decides).
Bytes that come on an idle connection, asked by nobody, close it.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar, cast
from urllib.parse import quote, urlsplit

import httptools

from fleet.adapters.kube.answers import (
    Answer,
    AnswerCut,
    ClosedWithoutAnswer,
    ConnectionBroken,
    UnreadableAnswer,
)
from fleet.adapters.kube.linefeed import PAUSE_ABOVE, LineFeed

__all__ = [
    "Answer",
    "AnswerCut",
    "ClosedWithoutAnswer",
    "ConnectionBroken",
    "LeanPool",
    "LineFeed",
    "Origin",
    "UnreadableAnswer",
]

#: Largest answer body after gzip is undone; a larger one is an error, not a stall.
MAX_INFLATED = 1 << 30
#: A watch goes onto an idle connection only if no read on it brought more than this
#: (one TLS record's worth). uvloop reads a TLS connection's bytes into a buffer of its
#: own (256 KiB) and OpenSSL's memory BIO, and both stay as large as the largest read
#: they took: at 1,000 clusters, idle, the 4,000 watches' connections, each of which had
#: carried a list's answer just before its watch (a re-list takes the connection the last
#: watch left), held 144 MiB of read buffer and 137 MiB of BIO between them.
WATCH_READS_UP_TO = 16 * 1024
#: Characters a request path keeps as they are (RFC 3986 ``pchar`` and ``/``).
_PATH_SAFE = "/:@!$&'()*+,;=~"

_Protocol = TypeVar("_Protocol", bound=asyncio.Protocol)


@dataclass(frozen=True, slots=True)
class Origin:
    """Where the API server is: from a cluster's ``server`` URL."""

    host: str
    port: int
    tls: bool
    #: The Host header: ``host:port`` as the URL wrote it.
    authority: str
    #: A path before the API's own (``https://rancher.example/k8s/clusters/c-1``).
    prefix: str

    @classmethod
    def of(cls, url: str) -> Origin:
        parts = urlsplit(url)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ValueError(f"not an http(s) URL with a host: {url!r}")
        tls = parts.scheme == "https"
        port = parts.port or (443 if tls else 80)
        authority = parts.netloc.rpartition("@")[2]  # never credentials in a Host header
        return cls(parts.hostname, port, tls, authority, parts.path.rstrip("/"))


class _Exchange(asyncio.Protocol):
    """One connection: sends a request, collects its answer, and waits for the next."""

    def __init__(self, pool: LeanPool) -> None:
        self._pool = pool
        self._parser: httptools.HttpResponseParser | None = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = 0.0
        self.heard = False
        #: The most bytes one read brought: how much of its TLS buffers stays resident.
        self.largest_read = 0
        self._waiter: asyncio.Future[Answer] | None = None
        self._headers: dict[str, str] = {}
        self._chunks: list[bytes] = []
        self._head_read = False

    # -- asyncio.Protocol --------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's TLS transport is not an asyncio.Transport subclass, but acts as one.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        waiter = self._waiter
        parser = self._parser
        if waiter is None or waiter.done() or parser is None:
            # Nothing asked (an idle connection): its next answer could not be told apart.
            self.abort()
            return
        self.heard = True
        if len(data) > self.largest_read:
            self.largest_read = len(data)
        try:
            parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(UnreadableAnswer("the server asked to switch protocols"))
        except httptools.HttpParserError as error:
            self._fail(UnreadableAnswer(str(error)))

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._pool.forget(self)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            if exc is None and self._read_to_close():
                # An answer with neither a length nor chunks ends with the connection.
                self._chunks.append(b"")
                self.on_message_complete()
            else:
                broken = AnswerCut if self.heard else ClosedWithoutAnswer
                message = f"connection closed: {exc}" if exc else "connection closed"
                waiter.set_exception(broken(message))
        self._let_go()

    def _let_go(self) -> None:
        """Drop the transport and the parser, which refers back to this exchange: without
        that cycle a closed connection, its TLS state and uvloop's 256 KiB read buffer
        are freed when it closes, not at the next full collection."""
        self.transport = None
        self._parser = None

    def _read_to_close(self) -> bool:
        headers = self._headers
        return (
            self._head_read
            and "content-length" not in headers
            and "chunked" not in headers.get("transfer-encoding", "").lower()
        )

    # -- httptools callbacks -------------------------------------------------------------

    def on_message_begin(self) -> None:
        waiter = self._waiter
        if waiter is not None and waiter.done():
            # Bytes after the answer, in the same read: the connection is not clean.
            self.closed = True
        self._headers = {}
        self._chunks = []
        self._head_read = False

    def on_headers_complete(self) -> None:
        self._head_read = True

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_body(self, body: bytes) -> None:
        self._chunks.append(body)

    def on_message_complete(self) -> None:
        waiter = self._waiter
        if waiter is None or waiter.done():
            self._fail(UnreadableAnswer("an answer nobody asked for"))
            return
        body = b"".join(self._chunks)
        self._chunks = []
        if self._headers.get("content-encoding", "").lower() == "gzip":
            try:
                body = _gunzip(body)
            except (zlib.error, ConnectionBroken) as error:
                waiter.set_exception(UnreadableAnswer(f"bad gzip body: {error}"))
                self.closed = True
                return
        parser = self._parser
        assert parser is not None  # it is the parser that calls
        if not parser.should_keep_alive():
            self.closed = True
        waiter.set_result(Answer(parser.get_status_code(), self._headers, body))

    # -- use -------------------------------------------------------------------------------

    def send(self, data: bytes) -> asyncio.Future[Answer]:
        assert self.transport is not None
        self.heard = False
        waiter: asyncio.Future[Answer] = self._pool.loop.create_future()
        self._waiter = waiter
        self.transport.write(data)
        return waiter

    def is_closing(self) -> bool:
        return self.transport is None or self.transport.is_closing()

    def _fail(self, error: Exception) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(error)
        self.abort()

    def abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()


def _gunzip(body: bytes) -> bytes:
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    plain = inflater.decompress(body, MAX_INFLATED)
    if inflater.unconsumed_tail:
        raise UnreadableAnswer(f"the body inflates past {MAX_INFLATED} bytes")
    return plain + inflater.flush()


class LeanPool:
    """Keep-alive connections to one API server, one request at a time on each.

    The caller bounds how many requests are in flight (``ClusterClient``'s slots), so the
    pool needs no limit of its own. The ``keep_idle`` most recently used idle connections
    are kept ``keepalive`` seconds for the next burst; the others, opened for a burst of
    parallel requests, only ``spare_idle`` seconds, since each holds a TLS buffer (up to
    256 KiB under uvloop) and a daemon with 1,000 clusters would hold thousands of them
    between syncs. One timer per pool, not one per connection.
    """

    def __init__(
        self,
        origin: Origin,
        *,
        ssl_context: Any = None,
        server_hostname: str | None = None,
        keepalive: float = 60.0,
        keep_idle: int = 2,
        spare_idle: float = 10.0,
    ) -> None:
        self.origin = origin
        self._ssl = ssl_context if origin.tls else None
        self._server_hostname = server_hostname if origin.tls else None
        self._keepalive = keepalive
        self._keep_idle = keep_idle
        self._spare_idle = spare_idle
        self._idle: list[_Exchange] = []
        self._busy: set[_Exchange] = set()
        #: Streamed answers (watches) holding a connection, which no request shares.
        self._feeds: set[LineFeed] = set()
        self._sweep: asyncio.Handle | None = None
        #: When the sweep is due, kept here: for a time already past (a loaded loop)
        #: uvloop's ``call_at`` returns a plain Handle, which has no ``when()``.
        self._sweep_at = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return self._loop

    @property
    def open_connections(self) -> int:
        """Connections for requests, idle or busy (streams not counted): a connection a
        watch holds is a stream's, and counts here again once its answer ended and it is
        idle."""
        return len(self._idle) + len(self._busy)

    @property
    def open_streams(self) -> int:
        """Streamed answers (watches) holding a connection."""
        return len(self._feeds)

    def head(self, method: str, path: str, query: str, headers: Mapping[str, str]) -> bytes:
        """The request line and headers, Content-Length excluded; refuses header injection."""
        target = self.origin.prefix + quote(path, safe=_PATH_SAFE)
        if query:
            target += "?" + query
        lines = [f"{method} {target} HTTP/1.1", f"Host: {self.origin.authority}"]
        for name, value in headers.items():
            if "\n" in value or "\r" in value or "\n" in name or "\r" in name:
                raise ValueError(f"header {name!r} holds a line break")
            lines.append(f"{name}: {value}")
        return ("\r\n".join(lines) + "\r\n").encode("latin-1")

    async def request(
        self,
        head: bytes,
        body: bytes | None,
        *,
        within: float,
        connect_within: float,
        idempotent: bool,
    ) -> Answer:
        """Send one request and read its whole answer within ``within`` seconds.

        ``body`` None sends no Content-Length (a GET). Raises ConnectionBroken, OSError
        or TimeoutError when there is no whole answer.
        """
        loop = self.loop
        deadline = loop.time() + within
        if body is None:
            payload = head + b"\r\n"
        else:
            payload = b"%sContent-Length: %d\r\n\r\n%s" % (head, len(body), body)
        exchange, reused = self._take_idle(loop.time()), True
        if exchange is None:
            exchange, reused = await self._connect(min(connect_within, within), self._new), False
        try:
            return await self._exchange(exchange, payload, deadline)
        except ConnectionBroken:
            # The server closed an idle connection as the request went out: it never
            # read it, so it may go again, once, on a new connection.
            if not (reused and idempotent and not exchange.heard):
                raise
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise TimeoutError("no answer in time")
        exchange = await self._connect(min(connect_within, remaining), self._new)
        return await self._exchange(exchange, payload, deadline)

    async def _exchange(self, exchange: _Exchange, payload: bytes, deadline: float) -> Answer:
        self._busy.add(exchange)
        waiter = exchange.send(payload)
        timer = self.loop.call_at(deadline, _time_out, waiter)
        done = False
        try:
            answer = await waiter
            done = True
            return answer
        finally:
            timer.cancel()
            self._busy.discard(exchange)
            if done and not exchange.closed:
                self._keep(exchange)
            else:
                # Cancelled, timed out or broken half-way: the connection's state is
                # unknown, so it is never used again.
                exchange.abort()

    async def stream(
        self,
        head: bytes,
        *,
        idle_timeout: float,
        connect_within: float,
        max_line: int,
        pause_above: int = PAUSE_ABOVE,
    ) -> LineFeed:
        """Send a GET whose answer is streamed (a watch); it holds its connection alone.

        The connection is an idle one whose reads stayed within ``WATCH_READS_UP_TO`` if
        there is one (sent again once on a new one if the server closed it unheard, as
        ``request`` does), else a new one. Returns once the
        head has come (an answer that is not 2xx read whole into ``body``); iterate the
        feed for the body's lines. A server silent for ``idle_timeout`` seconds (the head
        included) is a TimeoutError. The caller closes the feed: a connection whose
        answer ended cleanly is already idle again by then, any other closes with it.
        """
        loop = self.loop

        def feed() -> LineFeed:
            return LineFeed(
                loop,
                max_line=max_line,
                pause_above=pause_above,
                on_closed=self._feeds.discard,
                hand_back=self._take_back,
            )

        exchange = self._take_idle(loop.time(), WATCH_READS_UP_TO)
        if exchange is not None:
            try:
                return await self._start(self._lend(exchange, feed()), head, idle_timeout)
            except ClosedWithoutAnswer:
                pass  # closed by the server as the watch went out: it never read it
        connected = await self._connect(min(connect_within, idle_timeout), feed)
        return await self._start(connected, head, idle_timeout)

    async def _start(self, feed: LineFeed, head: bytes, idle_timeout: float) -> LineFeed:
        self._feeds.add(feed)
        try:
            feed.start(head + b"\r\n", idle_timeout)
            await feed.read_head()
        except BaseException:
            feed.close()
            raise
        return feed

    @staticmethod
    def _lend(exchange: _Exchange, feed: LineFeed) -> LineFeed:
        """Move an idle connection to a feed; the exchange is done with it."""
        transport = exchange.transport
        assert transport is not None
        exchange.closed = True
        exchange._let_go()
        transport.set_protocol(feed)
        feed.connection_made(transport)
        return feed

    def _take_back(self, transport: asyncio.Transport, largest_read: int) -> None:
        """A feed's answer ended cleanly: its connection waits, idle, for the next."""
        exchange = _Exchange(self)
        exchange.largest_read = largest_read
        transport.set_protocol(exchange)
        exchange.connection_made(transport)
        self._keep(exchange)

    def _new(self) -> _Exchange:
        return _Exchange(self)

    async def _connect(self, seconds: float, protocol: Callable[[], _Protocol]) -> _Protocol:
        loop = self.loop
        origin = self.origin
        async with asyncio.timeout(seconds):
            _, connected = await loop.create_connection(
                protocol,
                origin.host,
                origin.port,
                ssl=self._ssl,
                server_hostname=self._server_hostname,
            )
        return connected

    def _take_idle(self, now: float, reads_up_to: int | None = None) -> _Exchange | None:
        """The most recently used idle connection still fresh, and whose largest read was
        at most ``reads_up_to`` bytes (if given); stale ones met on the way are closed."""
        idle = self._idle
        for position in range(len(idle) - 1, -1, -1):
            exchange = idle[position]
            fresh = now - exchange.idle_since < self._keepalive
            if not fresh or exchange.closed or exchange.is_closing():
                del idle[position]
                exchange.abort()
            elif reads_up_to is None or exchange.largest_read <= reads_up_to:
                del idle[position]
                return exchange
        return None

    def _keep(self, exchange: _Exchange) -> None:
        exchange.idle_since = self.loop.time()
        self._idle.append(exchange)
        # The newcomer pushes older ones down the order: their limits may now be shorter.
        self._wake_by(min(e.idle_since + self._limit(p) for p, e in enumerate(self._idle)))

    def _limit(self, position: int) -> float:
        """How long the idle connection at ``position`` (0: the least recently used) may
        wait: the ``keep_idle`` most recently used the whole keepalive, the rest a moment."""
        if len(self._idle) - position <= self._keep_idle:
            return self._keepalive
        return min(self._spare_idle, self._keepalive)

    def _wake_by(self, when: float) -> None:
        sweep = self._sweep
        if sweep is not None and self._sweep_at <= when:
            return
        if sweep is not None:
            sweep.cancel()
        self._sweep_at = when
        self._sweep = self.loop.call_at(when, self._expire)

    def _expire(self) -> None:
        """Close connections idle past their limit; wake again for the next one due.

        The idle list is in the order connections were last used (a request takes the
        last), so the first are the least recently used.
        """
        self._sweep = None
        now = self.loop.time()
        closing = [
            exchange
            for position, exchange in enumerate(self._idle)
            if now - exchange.idle_since >= self._limit(position)
        ]
        for exchange in closing:
            self._idle.remove(exchange)
            exchange.abort()
        if self._idle:
            self._wake_by(min(e.idle_since + self._limit(p) for p, e in enumerate(self._idle)))

    def forget(self, exchange: _Exchange) -> None:
        """A connection closed: drop it from the idle list (the busy set drops it later)."""
        if exchange in self._idle:
            self._idle.remove(exchange)

    def close(self) -> None:
        """Close every connection; requests in flight fail with ConnectionBroken."""
        if self._sweep is not None:
            self._sweep.cancel()
            self._sweep = None
        for exchange in [*self._idle, *self._busy]:
            exchange.abort()
        self._idle.clear()
        for feed in list(self._feeds):
            feed.close(ConnectionBroken("the cluster's connections were closed"))
        self._feeds.clear()


def _time_out(waiter: asyncio.Future[Answer]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError("no answer in time"))
