"""Dashboard sign-ins, kept in the daemon's memory: the browser holds only a random id.

Signing in with an API token opens a session: a random id (``secrets.token_urlsafe``)
mapped, in memory, to the token's name and the SHA-256 digest the token registry
compares with (never the token). The dashboard's cookie carries the id alone, so a
browser's cookie jar on disk holds nothing that works against the JSON API, and nothing
that outlives the daemon: sessions end when it restarts. Each request looks the digest
up in the registry again, so the principal's scopes and app limits are the settings'
current ones, and a token removed or rotated ends its sessions at the next request.

A session ends after :data:`IDLE_SECONDS` without a request, :data:`ABSOLUTE_SECONDS`
after it was opened, or on sign-out; at most :data:`MAX_SESSIONS` are kept (the oldest
goes first).
"""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from fleet.adapters.http.access import Principal, TokenRegistry

#: A session unused this long ends.
IDLE_SECONDS = 2 * 3600
#: A session ends this long after sign-in, used or not.
ABSOLUTE_SECONDS = 12 * 3600
#: Sessions kept at most (each sign-in with a valid token opens one).
MAX_SESSIONS = 10_000
#: Longest session id accepted from a cookie (ours are 43 characters).
MAX_ID = 64


@dataclass(slots=True)
class Session:
    token_name: str
    #: SHA-256 of the token, as the registry compares it; the token itself is not kept.
    token_digest: bytes
    opened: float
    seen: float


class SessionStore:
    """The open sessions; ``clock`` is monotonic seconds (a test moves it)."""

    def __init__(
        self,
        idle: float = IDLE_SECONDS,
        absolute: float = ABSOLUTE_SECONDS,
        limit: int = MAX_SESSIONS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.idle = idle
        self.absolute = absolute
        self.limit = limit
        self.clock = clock
        self._open: OrderedDict[str, Session] = OrderedDict()

    def __len__(self) -> int:
        return len(self._open)

    def open(self, principal: Principal, token_digest: bytes) -> str:
        """A new session for the token that ``token_digest`` is the digest of."""
        session_id = secrets.token_urlsafe(32)
        now = self.clock()
        self._open[session_id] = Session(principal.name, token_digest, now, now)
        while len(self._open) > self.limit:
            self._open.popitem(last=False)
        return session_id

    def principal(self, session_id: str, registry: TokenRegistry) -> Principal | None:
        """Who the session is, as the registry knows the token now; None (and the
        session ends) once it expired or its token is no longer configured."""
        if not session_id or len(session_id) > MAX_ID:
            return None
        session = self._open.get(session_id)
        if session is None:
            return None
        now = self.clock()
        if now - session.seen > self.idle or now - session.opened > self.absolute:
            del self._open[session_id]
            return None
        principal = registry.identify_digest(session.token_digest)
        if principal is None or principal.name != session.token_name:
            del self._open[session_id]
            return None
        session.seen = now
        return principal

    def close(self, session_id: str) -> None:
        self._open.pop(session_id, None)
