"""Who is calling the API, and whether a route lets them.

A request names itself with ``Authorization: Bearer <token>``. The token is hashed with
SHA-256 and the digest compared, in constant time, with each configured token's digest
(the settings hold a file to read it from, or the digest itself), so no token value is
kept beyond the request and none is ever logged or stored: the audit log names tokens.

The rule (docs/security.md):

- ``/healthz`` and ``/readyz`` are open; push webhooks carry their forge's signature.
- With any token configured, every other route needs a token with the route's scope,
  on any address (loopback and unix sockets too).
- With no token configured (allowed only on loopback or a unix socket) reads are open
  to whoever can reach the address and every change is refused.

:func:`decide` is the rule as a pure function, so it is table-tested on its own.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Literal

from fleet.config.api_tokens import ApiToken

log = logging.getLogger(__name__)

#: What a route asks of its caller. ``public``: nothing; ``signed``: a webhook signature
#: (checked by the handler); the others: a token with that scope.
RouteScope = Literal["public", "signed", "metrics", "read", "sync", "admin"]


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller a request was made by: a named token, or nobody in particular."""

    name: str
    granted: frozenset[str]
    #: App names or globs the caller is limited to; None: every app.
    apps: tuple[str, ...] | None = None

    def may(self, scope: str) -> bool:
        return scope in self.granted

    def may_touch(self, app: str) -> bool:
        return self.apps is None or any(fnmatchcase(app, glob) for glob in self.apps)


#: A caller without a token where reads are open (no tokens configured, loopback only).
LOCAL_ANONYMOUS = Principal("anonymous", frozenset({"metrics", "read"}))
#: A caller without a (valid) token where tokens are needed.
NOBODY = Principal("anonymous", frozenset())


@dataclass(frozen=True, slots=True)
class Refusal:
    status: int
    message: str
    #: Seconds for a Retry-After header (429 answers).
    retry_after: str | None = None


def decide(
    scope: RouteScope,
    principal: Principal | None,
    tokens_configured: bool,
    token_given: bool,
    loopback: bool,
) -> Refusal | None:
    """Whether a request may go on; ``principal`` is None when no valid token came."""
    if scope in ("public", "signed"):
        return None
    if principal is not None:
        if not principal.may(scope):
            return Refusal(403, f"token {principal.name} does not have the {scope} scope")
        return None
    if not tokens_configured:
        if scope in ("sync", "admin"):
            return Refusal(403, "changes are disabled: no API token is configured")
        if loopback:
            return None  # reads are open to local callers while no token is set
        return Refusal(401, "a bearer token is required: the API is not on loopback")
    if token_given:
        return Refusal(401, "the bearer token is not valid")
    return Refusal(401, "a bearer token is required (Authorization: Bearer TOKEN)")


def bearer(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer`` header; "" for another or empty scheme."""
    if header is None:
        return None
    scheme, _, token = header.strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


class TokenRegistry:
    """The configured tokens; finds the one a request presented."""

    def __init__(self, tokens: Sequence[ApiToken]) -> None:
        self.tokens = tuple(tokens)

    @property
    def configured(self) -> bool:
        return bool(self.tokens)

    def identify(self, token: str) -> Principal | None:
        """The token's principal, or None; every entry is compared, in constant time."""
        if not token:
            return None
        return self.identify_digest(digest(token))

    def identify_digest(self, given: bytes) -> Principal | None:
        """The principal of the token whose SHA-256 digest is ``given`` (a dashboard
        session keeps the digest, not the token: fleet.adapters.http.sessions)."""
        found: ApiToken | None = None
        for entry in self.tokens:
            expected = self._expected(entry)
            if expected is not None and hmac.compare_digest(given, expected) and found is None:
                found = entry
        if found is None:
            return None
        apps = tuple(found.apps) if found.apps is not None else None
        return Principal(found.name, found.granted, apps)

    def problems(self) -> list[str]:
        """Token files that cannot be read or are empty (checked at startup)."""
        found = []
        for entry in self.tokens:
            if entry.token_file is None:
                continue
            try:
                value = entry.token_file.read_text().strip()
            except OSError as error:
                found.append(
                    f"API token {entry.name}: cannot read {entry.token_file}: {error.strerror}"
                )
                continue
            if not value:
                found.append(f"API token {entry.name}: {entry.token_file} is empty")
        return found

    @staticmethod
    def _expected(entry: ApiToken) -> bytes | None:
        if entry.sha256 is not None:
            return bytes.fromhex(entry.sha256)
        assert entry.token_file is not None
        try:
            value = entry.token_file.read_text().strip()
        except OSError as error:
            log.error("cannot read API token %s from %s: %s", entry.name, entry.token_file, error)
            return None
        return digest(value) if value else None
