"""A streamed answer (a watch's), read as lines as they arrive on a connection it holds.

An API server sends a watch as one chunked answer that lasts until ``timeoutSeconds``,
one JSON event per line; a line may span chunks and a chunk may hold many lines. The
body is cut into lines as httptools hands it over, and the reader takes them from a
queue. What is held is bounded: complete lines waiting for a slow reader up to
``pause_above`` bytes, after which the transport stops reading (TCP then holds the
server back) until half of them have been taken, plus the line being put together, up
to ``max_line`` bytes (longer is an error, not a stall).

The connection is the feed's alone while the answer lasts. When the answer ends cleanly
(its last chunk read, the server keeping the connection alive, not a byte after it, no
error, reading not paused), the feed gives the transport to ``hand_back`` at once, and
keeps only the lines not yet taken; otherwise the connection is dropped, as it is when
the reader closes the feed before the end.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import cast

import httptools

from fleet.adapters.kube.answers import AnswerCut, ClosedWithoutAnswer, UnreadableAnswer

#: Bytes of complete lines held for a reader before the connection stops reading.
PAUSE_ABOVE = 1 << 20


class LineFeed(asyncio.Protocol):
    """One streamed GET: its status and headers, then, for a 2xx, its body line by line.

    Iterate it for the lines (without their ``\\n``); iteration ends with the answer,
    or raises ConnectionBroken (cut, unreadable, a line too long) or TimeoutError (the
    server silent for ``idle_timeout``) once the lines that came before have been taken.
    An answer that is not 2xx is read whole into ``body`` instead. ``close`` drops the
    connection at once, unless the answer already ended and it went to ``hand_back``.
    """

    __slots__ = (
        "_after_end",
        "_as_lines",
        "_ended",
        "_error",
        "_hand_back",
        "_head_read",
        "_heard",
        "_heard_at",
        "_idle_timeout",
        "_lines",
        "_loop",
        "_max_line",
        "_on_closed",
        "_parser",
        "_partial",
        "_partial_size",
        "_pause_above",
        "_paused",
        "_reusable",
        "_timer",
        "_transport",
        "_waiter",
        "body",
        "buffered",
        "headers",
        "largest_read",
        "status",
    )

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        *,
        max_line: int,
        pause_above: int = PAUSE_ABOVE,
        on_closed: Callable[[LineFeed], None] | None = None,
        hand_back: Callable[[asyncio.Transport, int], None] | None = None,
    ) -> None:
        self._loop = loop
        self._max_line = max_line
        self._pause_above = pause_above
        #: Called once the feed holds its connection no more (closed or handed back).
        self._on_closed = on_closed
        #: Takes the connection of an answer that ended cleanly, for another exchange
        #: (with ``largest_read``).
        self._hand_back = hand_back
        #: None once the feed is done: the parser refers back to it (see ``_stop``).
        self._parser: httptools.HttpResponseParser | None = httptools.HttpResponseParser(self)
        self._transport: asyncio.Transport | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._heard = False
        #: When bytes last came (the loop's time); the idle timer looks at it when it fires.
        self._heard_at = 0.0
        self._idle_timeout = 0.0
        self._head_read = False
        self._as_lines = False
        self._ended = False
        #: The server keeps the connection alive after this answer (known at its end).
        self._reusable = False
        #: Bytes came after the end of the answer: the connection is not clean.
        self._after_end = False
        self._error: Exception | None = None
        self._paused = False
        self._lines: deque[bytes] = deque()
        #: Pieces of the line not yet ended by a newline.
        self._partial: list[bytes] = []
        self._partial_size = 0
        self.status = 0
        #: Header names in lower case; a repeated header keeps its last value.
        self.headers: dict[str, str] = {}
        #: The whole body of an answer that is not 2xx (a Status, usually).
        self.body = b""
        #: Bytes of complete lines waiting for the reader.
        self.buffered = 0
        #: The most bytes one read brought (see ``LeanPool.stream``).
        self.largest_read = 0

    # -- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's TLS transport is not an asyncio.Transport subclass, but acts as one.
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        parser = self._parser
        if parser is None:  # done with (read to its end, or dropped)
            return
        self._heard = True
        self._heard_at = self._loop.time()
        if len(data) > self.largest_read:
            self.largest_read = len(data)
        try:
            parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(UnreadableAnswer("the server asked to switch protocols"))
        except httptools.HttpParserError as error:
            self._fail(UnreadableAnswer(str(error)))
        if self._ended:
            # Only now is it known whether bytes followed the end in this read.
            self._finish()

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        if self._on_closed is not None:
            self._on_closed(self)
        if self._ended or self._error is not None:
            return
        if exc is None and self._head_read and self._ends_with_connection():
            self.on_message_complete()
            self._stop()
            return
        if not self._heard:
            self._fail(ClosedWithoutAnswer("connection closed"))
        else:
            self._fail(AnswerCut(f"connection closed: {exc}" if exc else "connection closed"))

    def _ends_with_connection(self) -> bool:
        """An answer with neither a length nor chunks ends when the connection does."""
        headers = self.headers
        return (
            "content-length" not in headers
            and "chunked" not in headers.get("transfer-encoding", "").lower()
        )

    # -- httptools callbacks -----------------------------------------------------------------

    # Bytes after the end of the answer (in the same read) are a message of their own to
    # httptools: the guards keep them out of this one's headers and lines.

    def on_message_begin(self) -> None:
        if self._ended:
            self._after_end = True

    def on_header(self, name: bytes, value: bytes) -> None:
        if self._ended:
            return
        self.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        if self._ended:
            return
        parser = self._parser
        assert parser is not None  # it is the parser that calls
        self.status = status = parser.get_status_code()
        self._head_read = True
        self._as_lines = 200 <= status < 300
        encoding = self.headers.get("content-encoding", "identity").lower()
        if self._as_lines and encoding != "identity":
            self._fail(UnreadableAnswer(f"a streamed answer in {encoding}, which was not asked"))
        self._wake()

    def on_body(self, body: bytes) -> None:
        if self._error is not None or self._ended:
            return
        max_line = self._max_line
        partial = self._partial
        if not self._as_lines:  # an answer that is not 2xx: kept whole, up to a line's size
            partial.append(body)
            self._partial_size += len(body)
            if self._partial_size > max_line:
                self._fail(UnreadableAnswer(f"an error answer longer than {max_line} bytes"))
            return
        pieces = body.split(b"\n")
        rest = pieces.pop()
        if not pieces:  # no newline: the line goes on
            partial.append(rest)
            self._partial_size += len(rest)
            if self._partial_size > max_line:
                self._fail(UnreadableAnswer(f"a line longer than {max_line} bytes"))
            return
        if partial:
            partial.append(pieces[0])
            pieces[0] = b"".join(partial)
            partial.clear()
        # Only the first line can be longer than what came in at once.
        if len(pieces[0]) > max_line or len(body) > max_line:
            longer = [n for n, piece in enumerate(pieces) if len(piece) > max_line]
            if longer:  # the lines before it are whole, and read
                self._take(pieces[: longer[0]])
                self._fail(UnreadableAnswer(f"a line longer than {max_line} bytes"))
                return
        self._take(pieces)
        self._partial_size = len(rest)
        if rest:
            partial.append(rest)
            if len(rest) > max_line:
                self._fail(UnreadableAnswer(f"a line longer than {max_line} bytes"))

    def _take(self, lines: list[bytes]) -> None:
        """Queue complete lines for the reader; stop reading above the bound."""
        self._lines.extend(lines)
        self.buffered += sum(map(len, lines))
        if self.buffered > self._pause_above and not self._paused:
            transport = self._transport
            if transport is not None:
                self._paused = True
                transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        if self._error is not None or self._ended:
            return
        rest = b"".join(self._partial)
        self._partial.clear()
        self._partial_size = 0
        if not self._as_lines:
            self.body = rest
        elif rest:  # the last line, without a newline
            self._lines.append(rest)
            self.buffered += len(rest)
        self._ended = True
        parser = self._parser
        self._reusable = parser is not None and parser.should_keep_alive()
        self._wake()

    # -- use -----------------------------------------------------------------------------------

    def start(self, request: bytes, idle_timeout: float) -> None:
        """Send the request; a server silent for ``idle_timeout`` seconds is given up on.

        Silence, not a total: as aiohttp's read timeout, the server may lag in ending a
        watch (see ``fleet.runtime.watchers.watch_deadline``), and waiting on a slow
        reader (reading paused) is not the server's silence.
        """
        assert self._transport is not None
        self._idle_timeout = idle_timeout
        self._heard_at = now = self._loop.time()
        self._timer = self._loop.call_at(now + idle_timeout, self._check_silence)
        self._transport.write(request)

    async def read_head(self) -> None:
        """Wait for the status and headers; an answer that is not 2xx is read whole."""
        while not (self._head_read and (self._as_lines or self._ended)):
            if self._error is not None:
                raise self._error
            await self._wait()

    def __aiter__(self) -> LineFeed:
        return self

    async def __anext__(self) -> bytes:
        lines = self._lines
        while not lines:
            if self._error is not None:
                raise self._error
            if self._ended:
                raise StopAsyncIteration
            await self._wait()
        line = lines.popleft()
        self.buffered -= len(line)
        if self._paused and self.buffered <= self._pause_above // 2:
            self._paused = False
            self._heard_at = self._loop.time()
            if self._transport is not None:
                self._transport.resume_reading()
        return line

    def close(self, error: Exception | None = None) -> None:
        """Drop the connection now; a reader still waiting gets ``error`` (if given)."""
        if error is not None:
            self._fail(error)
        self._stop()

    # -- inside ----------------------------------------------------------------------------------

    async def _wait(self) -> None:
        waiter = self._loop.create_future()
        self._waiter = waiter
        await waiter
        self._waiter = None

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _check_silence(self) -> None:
        """One timer per feed, moved on only when it fires (not at every chunk)."""
        now = self._loop.time()
        if self._paused:
            self._heard_at = now
        due = self._heard_at + self._idle_timeout
        if now < due:
            self._timer = self._loop.call_at(due, self._check_silence)
            return
        self._timer = None
        self._fail(TimeoutError(f"the API server was silent for {self._idle_timeout:g}s"))

    def _fail(self, error: Exception) -> None:
        if self._error is None and not self._ended:
            self._error = error
            self._wake()
        self._stop()

    def _finish(self) -> None:
        """The answer has ended: its connection goes back if it is clean, else it is dropped."""
        transport = self._transport
        hand_back = self._hand_back
        if (
            transport is None
            or hand_back is None
            or not self._reusable
            or self._after_end
            or self._error is not None
            or self._paused
            or transport.is_closing()
        ):
            self._stop()
            return
        self._transport = None  # from here on, never touched by this feed
        self._stop()
        hand_back(transport, self.largest_read)

    def _stop(self) -> None:
        """No more to read: drop the connection (never used again), the timer, and the
        parser, whose callbacks refer back to this feed: without that cycle a dropped
        watch's connection, its TLS state and read buffer are freed as it closes, not at
        the next full collection."""
        self._parser = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._on_closed is not None:
            self._on_closed(self)
        transport = self._transport
        if transport is not None and not transport.is_closing():
            transport.abort()
