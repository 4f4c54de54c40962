"""Signing in, and keeping the dashboard's forms from being posted by another site.

Signing in opens a server-side session (fleet.adapters.http.sessions) and gives the
browser a cookie holding only its random id (HttpOnly so no script can read it,
SameSite=Strict so no other site's request carries it, Secure over TLS); the route
guard reads it on dashboard routes only. The bearer token is never in the cookie.
Every form POST must then pass two checks (:func:`check_post`), either of which stops a
cross-site request on its own:

- the request comes from this origin: ``Origin`` (when sent) names this host, and
  ``Sec-Fetch-Site`` (when sent) is ``same-origin`` or ``none``;
- it carries the session's CSRF token in the ``csrf`` field: an HMAC of the session id
  under a key made at startup, so it is bound to the session, needs no storage, and is
  worthless without the cookie (which a script cannot read).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from urllib.parse import urlsplit

from aiohttp import web

from fleet.adapters.http.browser import SESSION_COOKIE
from fleet.adapters.http.sessions import ABSOLUTE_SECONDS

#: The cookie that binds a CSRF token when no one has signed in (the login form's own).
ANONYMOUS_COOKIE = "fleet_csrf"
#: Longest token the login form accepts.
MAX_TOKEN = 4096


class CrossSiteRefused(Exception):
    """A POST that did not come from a dashboard page of this origin (answered 403)."""


class CsrfKey:
    """The key CSRF tokens are derived with; a new one each start (forms are re-read)."""

    def __init__(self, key: bytes | None = None) -> None:
        self.key = key or secrets.token_bytes(32)

    def token_for(self, binding: str) -> str:
        return hmac.new(self.key, binding.encode(), hashlib.sha256).hexdigest()

    def token(self, request: web.Request) -> str:
        """The CSRF token of this request's session ("" when it has none yet)."""
        binding = _binding(request.cookies)
        return self.token_for(binding) if binding else ""

    def valid(self, request: web.Request, given: str) -> bool:
        expected = self.token(request)
        return bool(expected) and hmac.compare_digest(expected, given)


def _binding(cookies: Mapping[str, str]) -> str:
    session = cookies.get(SESSION_COOKIE)
    if session:
        return "s:" + session
    anonymous = cookies.get(ANONYMOUS_COOKIE)
    return "a:" + anonymous if anonymous else ""


def new_anonymous_binding(request: web.Request) -> str:
    """A value for the cookie a login form's CSRF token binds to, when the visitor has
    neither a session nor such a cookie yet ("" when none is needed)."""
    return "" if _binding(request.cookies) else secrets.token_urlsafe(24)


def set_anonymous_cookie(request: web.Request, response: web.StreamResponse, value: str) -> None:
    _set(request, response, ANONYMOUS_COOKIE, value, None)


def same_origin(request: web.Request) -> bool:
    """Whether the browser says this request comes from a page of this origin."""
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None and site not in ("same-origin", "none"):
        return False
    origin = request.headers.get("Origin")
    if origin is None:
        return True  # an old browser; the CSRF token still has to match
    if origin == "null":
        return False
    parts = urlsplit(origin)
    return parts.netloc.lower() == request.host.lower() and parts.scheme == scheme(request)


def scheme(request: web.Request) -> str:
    """The scheme the browser used: a TLS proxy in front says so in X-Forwarded-Proto (a
    header no cross-site form can set; it can only make the checks stricter)."""
    forwarded = request.headers.get("X-Forwarded-Proto", "").strip().lower()
    return forwarded if forwarded in ("http", "https") else request.scheme


def check_post(request: web.Request, form: Mapping[str, str], key: CsrfKey) -> None:
    """Raise CrossSiteRefused unless the POST passes both checks (module docstring)."""
    if not same_origin(request):
        raise CrossSiteRefused("refused: this form was posted from another site")
    if not key.valid(request, str(form.get("csrf", ""))):
        raise CrossSiteRefused("refused: the form's CSRF token is missing or out of date")


def sign_in(request: web.Request, response: web.StreamResponse, session_id: str) -> None:
    """Give the browser the session's id (never the token) for as long as it may last."""
    _set(request, response, SESSION_COOKIE, session_id, ABSOLUTE_SECONDS)
    response.del_cookie(ANONYMOUS_COOKIE, path="/")


def sign_out(response: web.StreamResponse) -> None:
    response.del_cookie(SESSION_COOKIE, path="/")


def _set(
    request: web.Request,
    response: web.StreamResponse,
    name: str,
    value: str,
    max_age: int | None,
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="Strict",
        secure=scheme(request) == "https",
    )
