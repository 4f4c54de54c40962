"""The daemon's HTTP API, on loopback by default (or a unix socket).

Who may call what is declared once, in the route table at the end of :func:`build_app`
(see ``routes.py`` for the declaration and ``access.py`` for the rule): with tokens
configured every route but ``/healthz`` and ``/readyz`` needs ``Authorization: Bearer
<token>`` with the route's scope; push webhooks carry their forge's signature instead,
checked against the webhook secret, and a replayed delivery is refused. Every write is
recorded in the audit log. The handlers call a ``DaemonApi`` (daemon_api.py; the
runtime implements it), so this module knows HTTP and nothing of how fleet works.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import anyio
import orjson
from aiohttp import web
from aiohttp.client_exceptions import ClientConnectionResetError

from fleet.adapters.http.address import ApiAddress
from fleet.adapters.http.daemon_api import JSON, ApiError, DaemonApi
from fleet.adapters.http.dashboard import DashboardOptions, dashboard_routes
from fleet.adapters.http.replay import DELIVERY_HEADERS
from fleet.adapters.http.routes import (
    AUDIT_DETAILS,
    PRINCIPAL,
    ApiAccess,
    Route,
    install,
    visible,
    visible_overview,
)
from fleet.adapters.http.webhooks import WebhookRejected, parse_push, verify
from fleet.adapters.store import AsyncHistoryStore

log = logging.getLogger(__name__)

# ApiError and DaemonApi are imported from here too (daemon_api.py holds them).
__all__ = ["JSON", "ApiError", "DaemonApi", "build_app", "serve"]

#: The largest page of history, events or audit rows one request may ask for.
MAX_PAGE = 10_000
#: Ids are SQLite integers.
MAX_ID = 2**63 - 1


def _int_arg(
    request: web.Request, name: str, default: int | None, low: int, high: int
) -> int | None:
    """An integer query parameter from ``low`` to ``high``; anything else answers 400."""
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    text = raw.strip()
    if not text.lstrip("-").isdigit() or len(text) > 20:
        raise ApiError(400, f"{name} must be a whole number, got {raw[:40]!r}")
    value = int(text)
    if not low <= value <= high:
        raise ApiError(400, f"{name} must be from {low} to {high}, got {value}")
    return value


def _name_arg(request: web.Request, name: str) -> str | None:
    """An app or cluster name filter; absurd lengths answer 400."""
    value = request.query.get(name)
    if value is not None and len(value) > 253:
        raise ApiError(400, f"{name} is longer than 253 characters")
    return value or None


def _flag_arg(request: web.Request, name: str) -> bool:
    raw = request.query.get(name, "").lower()
    if raw in ("", "0", "false"):
        return False
    if raw in ("1", "true"):
        return True
    raise ApiError(400, f"{name} must be true or false, got {raw[:40]!r}")


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=lambda v: json.dumps(v, default=str))


#: Anything ``json.dumps(default=str)`` would write otherwise than orjson (datetimes,
#: dataclasses, subclasses of str and int such as enums) is refused, so goes ``_json``'s way.
_PLAIN_ONLY = (
    orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_SUBCLASS
)


def _plain_json(rows: list[JSON]) -> web.Response:
    """Rows of plain JSON values (str, int, bool, None, lists, str-keyed dicts) as ``_json``
    would answer them, encoded by orjson: the status rows a client polls several times a
    second are several times cheaper so. What orjson refuses goes the ``_json`` way."""
    try:
        body = orjson.dumps(rows, option=_PLAIN_ONLY)
    except TypeError:
        return _json(rows)
    return web.Response(body=body, content_type="application/json", charset="utf-8")


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def build_app(
    api: DaemonApi,
    access: ApiAccess | Path | None,
    audit: AsyncHistoryStore | None = None,
    dashboard: DashboardOptions | None = None,
) -> web.Application:
    """The aiohttp application serving fleet's API and the dashboard.

    ``access`` is what callers are checked against (a bare token file, or None, is the
    older single-token form); ``audit`` records every write, and serves the audit route;
    ``dashboard`` carries the dashboard's settings (the defaults when None).
    """
    checks = access if isinstance(access, ApiAccess) else ApiAccess.single_token(access)

    @web.middleware
    async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except ApiError as error:
            return _json({"error": error.message}, status=error.status)

    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def readyz(_: web.Request) -> web.Response:
        ok, reasons = api.ready()
        text = "ok\n" if ok else "".join(f"{r}\n" for r in reasons)
        return web.Response(text=text, status=200 if ok else 503)

    async def status(request: web.Request) -> web.Response:
        if request.query.get("scope") == "local":  # a peer shard asks (fleet.runtime.shards)
            return _plain_json(visible(request, await api.status(local=True)))
        return _plain_json(visible(request, await api.status()))

    async def config_status(request: web.Request) -> web.Response:
        return _json(api.config_status())

    async def generators(request: web.Request) -> web.Response:
        rows = api.generators()
        principal = request.get(PRINCIPAL)
        if principal is not None and principal.apps is not None:  # only the apps it may see
            rows = [_generator_seen_by(row, principal.may_touch) for row in rows]
        return _json(rows)

    async def diff(request: web.Request) -> web.Response:
        return _json(await api.diff(request.match_info["app"], _name_arg(request, "cluster")))

    async def plan(request: web.Request) -> web.Response:
        query = request.query
        with_diff = _flag_arg(request, "diff")
        answer = await api.plan(_name_arg(request, "app"), query.get("revision") or None, with_diff)
        return _json(answer)

    async def history(request: web.Request) -> web.Response:
        limit = _int_arg(request, "limit", 50, 1, MAX_PAGE) or 50
        rows = await api.history(
            _name_arg(request, "app"),
            _name_arg(request, "cluster"),
            limit,
            _int_arg(request, "before", None, 1, MAX_ID),
        )
        return _json(visible(request, rows))

    async def sync_detail(request: web.Request) -> web.Response:
        text = request.match_info["id"]
        if not text.isdigit() or len(text) > 19 or not 1 <= int(text) <= MAX_ID:
            raise ApiError(400, f"sync id must be a whole number from 1 to {MAX_ID}")
        detail = await api.sync_detail(int(text))
        if not visible(request, [detail]):
            raise ApiError(404, f"no sync with id {text}")
        return _json(detail)

    async def events(request: web.Request) -> web.StreamResponse:
        since = _int_arg(request, "since", 0, 0, MAX_ID) or 0
        limit = _int_arg(request, "limit", 200, 1, MAX_PAGE) or 200
        app, cluster = _name_arg(request, "app"), _name_arg(request, "cluster")
        if not _flag_arg(request, "follow"):
            return _json(visible(request, await api.events(since, app, cluster, limit)))
        response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        await response.prepare(request)
        try:
            async for event in _follow(api, since, app, cluster):
                if visible(request, [event]):
                    await response.write(json.dumps(event, default=str).encode() + b"\n")
        except (ConnectionResetError, ClientConnectionResetError):
            pass  # the follower went away: nothing to report
        return response

    async def trigger(request: web.Request) -> web.Response:
        body = await _body(request)
        result = await api.trigger_sync(
            request.match_info["app"],
            _opt_str(body, "cluster"),
            _opt_str(body, "revision"),
            bool(body.get("clearPin", False)),
            bool(body.get("dryRun", False)),
            bool(body.get("confirmPrune", False)),
            force=bool(body.get("force", False)),
            now=bool(body.get("now", False)),
        )
        return _json(result, status=202)

    async def fleet(request: web.Request) -> web.Response:
        return _json(visible_overview(request, await api.fleet_overview()))

    async def resources(request: web.Request) -> web.Response:
        app = request.match_info["app"]
        return _json(await api.resource_tree(app, _name_arg(request, "cluster")))

    async def commit(request: web.Request) -> web.Response:
        sha = request.match_info["sha"]
        if not 4 <= len(sha) <= 64 or any(ch not in "0123456789abcdefABCDEF" for ch in sha):
            raise ApiError(400, "a commit is given by its hexadecimal id")
        return _json(await api.commit(request.match_info["app"], sha))

    async def refresh(request: web.Request) -> web.Response:
        body = await _body(request)
        return _json(await api.refresh(request.match_info["app"], _opt_str(body, "cluster")))

    async def rollout_status(request: web.Request) -> web.Response:
        return _json(await api.rollout_status(request.match_info["app"]))

    async def rollout_action(request: web.Request) -> web.Response:
        return _json(
            await api.rollout_action(request.match_info["app"], request.match_info["action"])
        )

    async def rollback(request: web.Request) -> web.Response:
        body = await _body(request)
        to_sync_id = body.get("toSyncId")
        if to_sync_id is not None and (
            isinstance(to_sync_id, bool) or not isinstance(to_sync_id, int) or to_sync_id < 1
        ):
            raise ApiError(400, "toSyncId must be a sync id (a whole number from 1)")
        result = await api.rollback(
            request.match_info["app"],
            _opt_str(body, "cluster"),
            to_sync_id,
            _opt_str(body, "revision"),
            bool(body.get("now", False)),
        )
        return _json(result, status=202)

    async def suspend_app(request: web.Request) -> web.Response:
        body = await _body(request)
        app, cluster = request.match_info["app"], _opt_str(body, "cluster")
        return _json(await api.suspend(app, cluster, _reason(body)))

    async def resume_app(request: web.Request) -> web.Response:
        body = await _body(request)
        return _json(await api.resume(request.match_info["app"], _opt_str(body, "cluster")))

    async def suspend_cluster(request: web.Request) -> web.Response:
        _whole_cluster(request)
        body = await _body(request)
        return _json(await api.suspend(None, request.match_info["cluster"], _reason(body)))

    async def resume_cluster(request: web.Request) -> web.Response:
        _whole_cluster(request)
        return _json(await api.resume(None, request.match_info["cluster"]))

    async def webhook(request: web.Request) -> web.Response:
        forge = request.match_info["forge"]
        raw = await request.read()
        secrets = api.webhook_secrets(forge)
        delivery = next(
            (request.headers[h] for h in DELIVERY_HEADERS.get(forge, ()) if h in request.headers),
            "",
        )
        request[AUDIT_DETAILS] = {"forge": forge, "delivery": delivery[:200]}
        try:
            if not secrets:
                raise WebhookRejected(401, "no webhook secret is configured for this kind")
            last: WebhookRejected | None = None
            for secret in secrets:
                try:
                    verify(forge, request.headers, raw, secret)
                    break
                except WebhookRejected as error:
                    last = error
            else:
                assert last is not None
                raise last
            push = parse_push(forge, raw)
            checks.replay.admit(forge, request.headers, raw)
        except WebhookRejected as error:
            log.warning("webhook %s rejected: %s", forge, error.message)
            return _json({"error": error.message}, status=error.status)
        answer = await api.push(push)
        request[AUDIT_DETAILS]["sources"] = answer.get("sources", [])
        return _json(answer, status=202)

    async def metrics(_: web.Request) -> web.Response:
        payload, content_type = api.metrics()
        response = web.Response(body=payload)
        response.headers["Content-Type"] = content_type
        return response

    async def audit_log(request: web.Request) -> web.Response:
        if audit is None:
            raise ApiError(404, "this daemon keeps no audit log")
        records = await audit.audit_entries(
            limit=_int_arg(request, "limit", 100, 1, MAX_PAGE) or 100,
            before_id=_int_arg(request, "before", None, 1, MAX_ID),
            principal=_name_arg(request, "token"),
            app=_name_arg(request, "app"),
        )
        return _json([record.as_json() for record in records])

    app = web.Application(middlewares=[errors], client_max_size=5 * 1024 * 1024)
    # The one place that says who may call what (routes.py); add new routes here.
    install(
        app,
        [
            Route("GET", "/healthz", healthz, "public"),
            Route("GET", "/readyz", readyz, "public"),
            Route("GET", "/metrics", metrics, "metrics"),
            Route("GET", "/api/v1/status", status, "read"),
            Route("GET", "/api/v1/config", config_status, "read"),
            Route("GET", "/api/v1/generators", generators, "read"),
            Route(
                "GET",
                "/api/v1/apps/{app}/diff",
                diff,
                "read",
                app_param="app",
                dry_run_limited=True,
            ),
            Route("GET", "/api/v1/plan", plan, "read", app_query=True, dry_run_limited=True),
            Route("POST", "/api/v1/apps/{app}/sync", trigger, "sync", app_param="app"),
            Route("POST", "/api/v1/apps/{app}/suspend", suspend_app, "sync", app_param="app"),
            Route("POST", "/api/v1/apps/{app}/resume", resume_app, "sync", app_param="app"),
            Route("GET", "/api/v1/apps/{app}/rollout", rollout_status, "read", app_param="app"),
            Route("GET", "/api/v1/fleet", fleet, "read"),
            Route("GET", "/api/v1/apps/{app}/resources", resources, "read", app_param="app"),
            Route("GET", "/api/v1/apps/{app}/commits/{sha}", commit, "read", app_param="app"),
            Route("POST", "/api/v1/apps/{app}/refresh", refresh, "sync", app_param="app"),
            Route(
                "POST",
                "/api/v1/apps/{app}/rollout/{action}",
                rollout_action,
                "sync",
                app_param="app",
            ),
            Route("POST", "/api/v1/apps/{app}/rollback", rollback, "sync", app_param="app"),
            Route("POST", "/api/v1/clusters/{cluster}/suspend", suspend_cluster, "sync"),
            Route("POST", "/api/v1/clusters/{cluster}/resume", resume_cluster, "sync"),
            Route("GET", "/api/v1/history", history, "read"),
            Route("GET", "/api/v1/history/{id}", sync_detail, "read"),
            Route("GET", "/api/v1/events", events, "read"),
            Route("GET", "/api/v1/audit", audit_log, "admin"),
            Route("POST", "/webhooks/{forge}", webhook, "signed"),
            # The web dashboard (fleet.adapters.http.dashboard, docs/dashboard.md).
            *dashboard_routes(api, dashboard or DashboardOptions(), checks, app),
        ],
        checks,
        audit,
    )
    return app


async def _follow(
    api: DaemonApi, since: int, app: str | None, cluster: str | None
) -> AsyncIterator[JSON]:
    cursor = since
    while True:
        batch = await api.events(cursor, app, cluster, 500)
        for event in batch:
            cursor = max(cursor, int(event["id"]))
            yield event
        if not batch:
            with anyio.move_on_after(15.0):
                await api.wait_for_events(cursor)


async def _body(request: web.Request) -> Mapping[str, Any]:
    if not request.can_read_body:
        return {}
    try:
        body = await request.json()
    except ValueError:
        raise ApiError(400, "request body must be JSON") from None
    if not isinstance(body, dict):
        raise ApiError(400, "request body must be a JSON object")
    return body


def _reason(body: Mapping[str, Any]) -> str:
    reason = _opt_str(body, "reason") or ""
    if len(reason) > 500:
        raise ApiError(400, "reason is longer than 500 characters")
    return reason


def _whole_cluster(request: web.Request) -> None:
    """Suspending a cluster touches every app on it: not for a token limited to apps."""
    principal = request.get(PRINCIPAL)
    if principal is not None and principal.apps is not None:
        raise ApiError(
            403, f"token {principal.name} is limited to apps: it cannot suspend a cluster"
        )


def _generator_seen_by(row: JSON, may_touch: Callable[[str], bool]) -> JSON:
    """A ``GET /api/v1/generators`` row with only the apps a token limited to apps sees."""
    held = row.get("held")
    if isinstance(held, dict):
        held = {**held, "removing": [a for a in held.get("removing", []) if may_touch(a)]}
    return {**row, "apps": [a for a in row["apps"] if may_touch(a)], "held": held}


def _opt_str(body: Mapping[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ApiError(400, f"{key} must be a string")
    return value


async def serve(app: web.Application, address: ApiAddress) -> web.AppRunner:
    """Start serving; the caller cleans the runner up."""
    # Open follow streams must not hold a stopping daemon for aiohttp's default 60 s.
    runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=2.0)
    await runner.setup()
    site: web.BaseSite
    if address.unix_path is not None:
        address.unix_path.parent.mkdir(parents=True, exist_ok=True)
        address.unix_path.unlink(missing_ok=True)
        site = web.UnixSite(runner, str(address.unix_path))
    else:
        site = web.TCPSite(runner, address.host, address.port)
    await site.start()
    return runner
