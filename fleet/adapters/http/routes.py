"""The API's route table: each route declares, in one place, what it asks of a caller.

A :class:`Route` names its method, path, handler and scope (``public``, ``signed``,
``metrics``, ``read``, ``sync``, ``admin``). ``app_param`` names the path part holding
the app it touches, and ``app_query`` says the ``app`` query parameter does (both are
checked against a token limited to apps, which may make only writes that name an app);
``dry_run_limited`` puts it under the per-caller rate limit of requests that dry-run on
clusters (diff, plan); every route that is not a GET is audited. One middleware enforces
all of it, and refuses a route added to the router without a declaration, so a new route
cannot be open by accident. To add one::

    Route("POST", "/api/v1/apps/{app}/suspend", suspend, "sync", app_param="app")
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.web_urldispatcher import AbstractRoute, SystemRoute

from fleet.adapters.http.access import (
    LOCAL_ANONYMOUS,
    Principal,
    Refusal,
    RouteScope,
    TokenRegistry,
    bearer,
    decide,
)
from fleet.adapters.http.browser import SESSION_COOKIE, refusal_answer
from fleet.adapters.http.ratelimit import RateLimiter, retry_after
from fleet.adapters.http.replay import ReplayGuard
from fleet.adapters.http.sessions import SessionStore
from fleet.adapters.store import AsyncHistoryStore
from fleet.adapters.store.audit import AuditEntry
from fleet.config import ConfigError, ConfigIssue, Settings
from fleet.config.api_tokens import ApiToken, legacy_token

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
#: Request keys the middleware sets and handlers may read or add to.
PRINCIPAL = web.RequestKey("fleet_principal", Principal)
AUDIT_DETAILS = web.RequestKey("fleet_audit_details", dict)
#: Request bodies larger than this are not copied into the audit log.
_AUDITED_BODY_BYTES = 4096


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    path: str
    handler: Handler
    scope: RouteScope
    #: The path part naming the app the request touches, if any.
    app_param: str | None = None
    #: The ``app`` query parameter names the app; a token limited to apps must give it.
    app_query: bool = False
    #: Counted against the caller's dry-run rate limit (diff, plan).
    dry_run_limited: bool = False
    #: Counted against the dry-run rate limit when this query parameter is given (the
    #: app page with ``?diff=CLUSTER``).
    dry_run_query: str | None = None
    #: A dashboard route (browser.py): the session cookie may stand for the token, and a
    #: refusal is a redirect to /login or a text answer with the dashboard's headers.
    browser: bool = False

    @property
    def audited(self) -> bool:
        return self.method not in ("GET", "HEAD")


@dataclass
class ApiAccess:
    """Everything the middleware checks a request against."""

    registry: TokenRegistry
    #: Bound to loopback or a unix socket (reads may be open when no token is set).
    loopback: bool = True
    limiter: RateLimiter = field(default_factory=lambda: RateLimiter(12.0, 6))
    replay: ReplayGuard = field(default_factory=lambda: ReplayGuard(600.0))
    #: The dashboard's sign-ins (sessions.py): its cookie names one of them.
    sessions: SessionStore = field(default_factory=SessionStore)

    @classmethod
    def with_tokens(cls, tokens: Sequence[ApiToken], **kwargs: Any) -> ApiAccess:
        return cls(TokenRegistry(tokens), **kwargs)

    @classmethod
    def single_token(cls, token_file: Path | None) -> ApiAccess:
        """The older form: one token file with every scope, on loopback."""
        return cls.with_tokens([legacy_token(token_file)] if token_file else [])

    @classmethod
    def from_settings(cls, settings: Settings) -> ApiAccess:
        """The daemon's access rules; a token file that is unreadable or empty stops it."""
        registry = TokenRegistry(settings.token_entries)
        problems = registry.problems()
        if problems:
            raise ConfigError([ConfigIssue("settings", 0, 0, (), text) for text in problems])
        return cls(
            registry,
            loopback=settings.listen.is_loopback,
            limiter=RateLimiter(settings.api_dry_run_rate, settings.api_dry_run_burst),
            replay=ReplayGuard(settings.webhook_replay_window.total_seconds()),
        )


def install(
    app: web.Application,
    routes: Sequence[Route],
    access: ApiAccess,
    audit: AsyncHistoryStore | None,
) -> None:
    """Add ``routes`` to ``app`` with the middleware that enforces their declarations."""
    declared: dict[AbstractRoute, Route] = {}
    for route in routes:
        declared[app.router.add_route(route.method, route.path, route.handler)] = route

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        matched = request.match_info.route
        route = declared.get(matched)
        if route is None:
            if isinstance(matched, SystemRoute):  # 404 and 405 answers
                return await handler(request)
            log.error("route %s %s declares no scope: refused", request.method, request.path)
            return _error(500, "this route declares no access scope")
        principal, refusal = _admit(request, route, access)
        if refusal is None:
            assert principal is not None
            request[PRINCIPAL] = principal
            request[AUDIT_DETAILS] = {}
            refusal = _check_app(request, route, principal) or _check_rate(
                route, principal, request, access
            )
        if refusal is not None:
            response = (
                refusal_answer(request, refusal.status, refusal.message)
                if route.browser
                else _error(refusal.status, refusal.message)
            )
            if refusal.retry_after is not None:
                response.headers["Retry-After"] = refusal.retry_after
            if route.audited:
                await _record(audit, request, route, principal, response.status, refusal.message)
            return response
        if not route.audited:
            return await handler(request)
        try:
            answer = await handler(request)
        except web.HTTPException as error:
            await _record(audit, request, route, principal, error.status, error.text or "")
            raise
        except Exception as error:
            await _record(audit, request, route, principal, 500, type(error).__name__)
            raise
        await _record(audit, request, route, principal, answer.status, _message_of(answer))
        return answer

    app.middlewares.insert(0, guard)


def _admit(
    request: web.Request, route: Route, access: ApiAccess
) -> tuple[Principal | None, Refusal | None]:
    if route.scope == "signed":
        forge = request.match_info.get("forge", "unknown")
        return Principal(f"webhook:{forge}", frozenset()), None
    if route.scope == "public":
        return LOCAL_ANONYMOUS, None
    token = bearer(request.headers.get("Authorization"))
    principal = access.registry.identify(token) if token else None
    given = token is not None
    if token is None and route.browser:  # a dashboard page: the session cookie, if any
        session_id = request.cookies.get(SESSION_COOKIE) or ""
        given = bool(session_id)
        principal = access.sessions.principal(session_id, access.registry) if given else None
        if given and principal is None and access.registry.configured:
            return None, Refusal(401, "the sign-in has ended (signed out, expired or revoked)")
    refusal = decide(route.scope, principal, access.registry.configured, given, access.loopback)
    if refusal is None and principal is None:
        principal = LOCAL_ANONYMOUS
    return principal, refusal


def _check_app(request: web.Request, route: Route, principal: Principal) -> Refusal | None:
    if principal.apps is None:
        return None
    if route.audited and route.app_param is None and not route.app_query:
        return Refusal(
            403, f"token {principal.name} is limited to apps: this request is not about one app"
        )
    apps = [request.match_info.get(route.app_param, "")] if route.app_param else []
    if "app" in request.query:
        apps.append(request.query["app"])
    elif route.app_query:
        return Refusal(403, f"token {principal.name} is limited to apps: name one with ?app=")
    for app in apps:
        if not principal.may_touch(app):
            return Refusal(403, f"token {principal.name} is not allowed app {app!r}")
    return None


def _check_rate(
    route: Route, principal: Principal, request: web.Request, access: ApiAccess
) -> Refusal | None:
    asked = route.dry_run_query is not None and bool(request.query.get(route.dry_run_query))
    if not (route.dry_run_limited or asked):
        return None
    caller = principal.name if principal is not LOCAL_ANONYMOUS else f"from {_remote(request)}"
    wait = access.limiter.take(caller)
    if wait <= 0:
        return None
    seconds = retry_after(wait)
    return Refusal(
        429,
        f"too many diff and plan requests from {principal.name}: try again in {seconds} s",
        retry_after=seconds,
    )


def visible(request: web.Request, rows: list[Any]) -> list[Any]:
    """Rows a token limited to apps may see: its apps' rows and those naming no app."""
    principal = request.get(PRINCIPAL)
    if principal is None or principal.apps is None:
        return rows
    return [
        row
        for row in rows
        if not isinstance(row, dict) or not row.get("app") or principal.may_touch(row["app"])
    ]


def visible_overview(request: web.Request, overview: dict[str, Any]) -> dict[str, Any]:
    """The fleet overview (/api/v1/fleet) with only the apps the caller's token may see,
    and only the commits their status rows name."""
    principal = request.get(PRINCIPAL)
    if principal is None or principal.apps is None:
        return overview
    apps = [a for a in overview.get("apps") or [] if principal.may_touch(str(a["name"]))]
    commits = {}
    for sha, commit in (overview.get("commits") or {}).items():
        names = [a for a in commit.get("apps") or [] if principal.may_touch(str(a))]
        if names:  # a commit another app's rows name only is not shown
            commits[sha] = {**commit, "apps": names}
    return {**overview, "apps": apps, "commits": commits}


async def _record(
    audit: AsyncHistoryStore | None,
    request: web.Request,
    route: Route,
    principal: Principal | None,
    status: int,
    message: str,
) -> None:
    if audit is None:
        return
    details = dict(request.get(AUDIT_DETAILS) or {})
    if route.scope != "signed" and not details:
        details = await _json_body(request)
    app = request.match_info.get(route.app_param) if route.app_param else None
    entry = AuditEntry(
        principal=principal.name if principal is not None else "anonymous",
        method=request.method,
        route=route.path,
        path=request.path,
        remote=_remote(request),
        status=status,
        app=app,
        message=message[:500],
        details=details,
    )
    try:
        await audit.add_audit(entry)
    except Exception:
        log.exception("could not record %s %s in the audit log", request.method, request.path)


async def _json_body(request: web.Request) -> dict[str, Any]:
    if not request.body_exists or (request.content_length or 0) > _AUDITED_BODY_BYTES:
        return {}
    try:
        raw = await request.read()
        body = json.loads(raw) if raw else {}
    except (ValueError, web.HTTPException):
        return {}
    return body if isinstance(body, dict) else {}


def _remote(request: web.Request) -> str:
    return request.remote or "unix socket"


def _message_of(response: web.StreamResponse) -> str:
    if isinstance(response, web.Response) and response.status >= 400 and response.text:
        try:
            data = json.loads(response.text)
        except ValueError:
            return response.text[:500]
        if isinstance(data, dict):
            return str(data.get("error", ""))
    return ""


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)
