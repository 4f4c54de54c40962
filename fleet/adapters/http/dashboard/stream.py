"""``/ui/stream``: Server-Sent Events telling open pages that something changed.

A page does not get data from here, only a nudge (``event: change``); it then fetches
itself again, so what it shows always comes from the same read model as the first
render. A nudge is sent when an event is recorded (drift, a sync starting or ending, a
cluster lost) or when any app's status changes (a sync step, health turning), which is
checked every half second against a fingerprint of the status rows - so a change is on
an open page well within two seconds. A comment every 15 s keeps proxies from closing
a quiet stream.

A token limited to apps is nudged by its apps only: the fingerprint is over their rows
and an event counts when it names one of them (or no app), so a stream says nothing of
when another app changes.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import anyio
from aiohttp import web
from aiohttp.client_exceptions import ClientConnectionResetError

from fleet.adapters.http.access import Principal
from fleet.adapters.http.browser import secure
from fleet.adapters.http.routes import PRINCIPAL

if TYPE_CHECKING:
    from fleet.adapters.http.daemon_api import DaemonApi

_HEX = re.compile(r"[0-9a-f]{64}")
#: How often the status is compared while no event comes.
POLL_SECONDS = 0.5
KEEPALIVE_SECONDS = 15.0
#: Status fields whose change a page shows.
WATCHED = (
    "app",
    "cluster",
    "sync",
    "health",
    "operation",
    "step",
    "revision",
    "target_revision",
    "reachable",
    "suspended",
    "pinned_revision",
    "message",
    "last_sync_id",
    "last_result",
    "hold",
)


def fingerprint(rows: Iterable[dict[str, Any]]) -> str:
    """A digest of what the pages show of the status rows (``repr`` of the watched
    values: exact for the JSON the status API gives, and quick for 6000 rows)."""
    text = "\n".join(repr(tuple(map(row.get, WATCHED))) for row in rows)
    return hashlib.sha256(text.encode()).hexdigest()


class SharedFingerprint:
    """The status fingerprint, computed at most once per poll for every open stream:
    ten open pages of a 6000-row fleet must not build the status ten times a poll."""

    def __init__(self, api: DaemonApi) -> None:
        self.api = api
        self._at = -1.0
        self._rows: list[dict[str, Any]] = []
        #: By the app limits of a caller (None: every app), for this poll's rows.
        self._values: dict[tuple[str, ...] | None, str] = {}
        self._lock = anyio.Lock()
        #: Set when the server shuts down: open streams end cleanly, not cut mid-chunk.
        self.closing = False
        self.open_streams = 0
        self._ended = anyio.Event()

    async def close_streams(self, timeout: float = 1.5) -> None:  # noqa: ASYNC109
        """Tell every open stream to say ``bye`` and end; wait (at most ``timeout``)
        until they have, so the server stops after their last chunk, not before it."""
        self.closing = True
        with anyio.move_on_after(timeout):
            while self.open_streams:
                await self._ended.wait()
                self._ended = anyio.Event()

    def stream_ended(self) -> None:
        self.open_streams -= 1
        self._ended.set()

    async def current(self, principal: Principal | None = None) -> str:
        """The fingerprint of the rows ``principal`` may see (all of them when None)."""
        async with self._lock:
            if anyio.current_time() - self._at >= POLL_SECONDS * 0.8:
                self._rows = await self.api.status()
                self._values = {}
                self._at = anyio.current_time()
            scope = principal.apps if principal is not None else None
            if scope not in self._values:
                rows = self._rows
                if principal is not None and scope is not None:
                    rows = [r for r in rows if principal.may_touch(str(r.get("app")))]
                self._values[scope] = fingerprint(rows)
            return self._values[scope]


#: The last message of a stream the server ends (it is shutting down): the page shows
#: disconnected and connects again a little later.
BYE = b"event: bye\ndata: {}\n\n"


def message(reasons: list[str]) -> bytes:
    return f"event: change\ndata: {json.dumps({'reasons': reasons})}\n\n".encode()


async def stream(
    api: DaemonApi, shared: SharedFingerprint, request: web.Request
) -> web.StreamResponse:
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-store",
            "X-Accel-Buffering": "no",
        }
    )
    secure(response)
    await response.prepare(request)
    principal = request.get(PRINCIPAL)
    shared.open_streams += 1
    try:
        await response.write(b"retry: 2000\nevent: hello\ndata: {}\n\n")
        last, cursor = await _since(api, shared, request, principal)
        quiet = 0.0
        while not shared.closing:
            woke = False
            with anyio.move_on_after(POLL_SECONDS):
                await api.wait_for_events(cursor)
                woke = True
            reasons = []
            if woke:
                newest = await api.last_event_id()
                if newest > cursor:
                    cursor, seen = await _newer(api, cursor, newest, principal)
                    if seen:
                        reasons.append("event")
                else:
                    await anyio.sleep(POLL_SECONDS / 5)  # never spin on a spurious wake
            now = await shared.current(principal)
            if now != last:
                last = now
                reasons.append("status")
            if reasons:
                await response.write(message(reasons))
                quiet = 0.0
            else:
                quiet += POLL_SECONDS
                if quiet >= KEEPALIVE_SECONDS:
                    await response.write(b": still here\n\n")
                    quiet = 0.0
        await response.write(BYE)
        await response.write_eof()
    except (ConnectionResetError, ClientConnectionResetError):
        pass  # the page went away
    except Exception:
        if not shared.closing:
            raise
        # What the stream reads may already be closing with the daemon: still end well.
        with contextlib.suppress(ConnectionResetError, ClientConnectionResetError):
            await response.write(BYE)
            await response.write_eof()
    finally:
        shared.stream_ended()
    return response


async def _newer(
    api: DaemonApi, cursor: int, newest: int, principal: Principal | None
) -> tuple[int, bool]:
    """The new cursor, and whether an event after ``cursor`` is one the caller may see
    (for a token limited to apps: naming one of its apps, or no app)."""
    if principal is None or principal.apps is None:
        return newest, True
    batch = await api.events(cursor, None, None, 500)
    seen = any(not e.get("app") or principal.may_touch(str(e["app"])) for e in batch)
    return max([cursor, *(int(e["id"]) for e in batch)]), seen


async def _since(
    api: DaemonApi, shared: SharedFingerprint, request: web.Request, principal: Principal | None
) -> tuple[str, int]:
    """What the page showed (``?fp=&ev=``, from its render), else what is current."""
    given, event = request.query.get("fp", ""), request.query.get("ev", "")
    last = given if _HEX.fullmatch(given) else await shared.current(principal)
    if event.isdigit() and len(event) < 19:
        return last, int(event)
    return last, await api.last_event_id()
