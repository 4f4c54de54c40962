"""The daemon's HTTP API, on loopback by default (or a unix socket).

Reads (status, history, events, diffs) are open to whoever can reach the socket; every
request that changes anything needs ``Authorization: Bearer <token>``, the token read
from a file. Push webhooks are the exception: they carry their forge's signature instead,
checked against the source's webhook secret. The handlers call a ``DaemonApi`` (the
runtime implements it), so this module knows HTTP and nothing of how fleet works.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import anyio
from aiohttp import web
from aiohttp.client_exceptions import ClientConnectionResetError

from fleet.adapters.http.webhooks import Push, WebhookRejected, parse_push, verify

log = logging.getLogger(__name__)

JSON = dict[str, Any]


class ApiError(Exception):
    """Raised by DaemonApi methods to answer with a status and a message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class DaemonApi(Protocol):
    """What the HTTP API asks of the daemon."""

    def ready(self) -> tuple[bool, list[str]]: ...

    async def status(self) -> list[JSON]: ...

    async def diff(self, app: str, cluster: str | None) -> list[JSON]: ...

    async def history(
        self, app: str | None, cluster: str | None, limit: int, before: int | None
    ) -> list[JSON]: ...

    async def sync_detail(self, sync_id: int) -> JSON: ...

    async def events(
        self, since: int, app: str | None, cluster: str | None, limit: int
    ) -> list[JSON]: ...

    async def wait_for_events(self, since: int) -> None:
        """Return when an event newer than ``since`` may exist."""

    async def trigger_sync(
        self,
        app: str,
        cluster: str | None,
        revision: str | None,
        clear_pin: bool,
        dry_run: bool,
        confirm_prune: bool,
    ) -> JSON: ...

    def webhook_secrets(self, forge: str) -> list[bytes]: ...

    async def push(self, push: Push) -> JSON: ...

    def metrics(self) -> tuple[bytes, str]: ...


@dataclass(frozen=True, slots=True)
class ApiAddress:
    """``host:port`` or ``unix:/path/to/socket``."""

    host: str = "127.0.0.1"
    port: int = 8787
    unix_path: Path | None = None

    @classmethod
    def parse(cls, text: str) -> ApiAddress:
        if text.startswith("unix:"):
            return cls(unix_path=Path(text[5:]))
        host, sep, port = text.rpartition(":")
        if not sep or not port.isdigit():
            raise ValueError(f"API address {text!r} is not host:port or unix:PATH")
        return cls(host=host.strip("[]") or "127.0.0.1", port=int(port))

    def __str__(self) -> str:
        return f"unix:{self.unix_path}" if self.unix_path else f"{self.host}:{self.port}"


def _int_arg(request: web.Request, name: str, default: int | None) -> int | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise web.HTTPBadRequest(
            text=json.dumps({"error": f"{name} must be an integer"}),
            content_type="application/json",
        ) from None


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=lambda v: json.dumps(v, default=str))


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def build_app(api: DaemonApi, token_file: Path | None) -> web.Application:
    """The aiohttp application serving fleet's API."""

    @web.middleware
    async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except ApiError as error:
            return _json({"error": error.message}, status=error.status)

    def require_token(request: web.Request) -> None:
        if token_file is None:
            raise ApiError(403, "changes are disabled: no API token file is configured")
        try:
            expected = token_file.read_text().strip()
        except OSError as error:
            log.error("cannot read API token file %s: %s", token_file, error.strerror)
            raise ApiError(500, "the API token file cannot be read") from None
        given = request.headers.get("Authorization", "")
        scheme, _, token = given.partition(" ")
        if (
            scheme.lower() != "bearer"
            or not expected
            or not hmac.compare_digest(token.strip().encode(), expected.encode())
        ):
            raise ApiError(401, "a valid bearer token is required for this request")

    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def readyz(_: web.Request) -> web.Response:
        ok, reasons = api.ready()
        text = "ok\n" if ok else "".join(f"{r}\n" for r in reasons)
        return web.Response(text=text, status=200 if ok else 503)

    async def status(_: web.Request) -> web.Response:
        return _json(await api.status())

    async def diff(request: web.Request) -> web.Response:
        return _json(await api.diff(request.match_info["app"], request.query.get("cluster")))

    async def history(request: web.Request) -> web.Response:
        limit = _int_arg(request, "limit", 50) or 50
        rows = await api.history(
            request.query.get("app"),
            request.query.get("cluster"),
            limit,
            _int_arg(request, "before", None),
        )
        return _json(rows)

    async def sync_detail(request: web.Request) -> web.Response:
        try:
            sync_id = int(request.match_info["id"])
        except ValueError:
            raise ApiError(400, "sync id must be an integer") from None
        return _json(await api.sync_detail(sync_id))

    async def events(request: web.Request) -> web.StreamResponse:
        since = _int_arg(request, "since", 0) or 0
        limit = _int_arg(request, "limit", 200) or 200
        app, cluster = request.query.get("app"), request.query.get("cluster")
        if request.query.get("follow") not in {"1", "true"}:
            return _json(await api.events(since, app, cluster, limit))
        response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        await response.prepare(request)
        try:
            async for event in _follow(api, since, app, cluster):
                await response.write(json.dumps(event, default=str).encode() + b"\n")
        except (ConnectionResetError, ClientConnectionResetError):
            pass  # the follower went away: nothing to report
        return response

    async def trigger(request: web.Request) -> web.Response:
        require_token(request)
        body = await _body(request)
        result = await api.trigger_sync(
            request.match_info["app"],
            _opt_str(body, "cluster"),
            _opt_str(body, "revision"),
            bool(body.get("clearPin", False)),
            bool(body.get("dryRun", False)),
            bool(body.get("confirmPrune", False)),
        )
        return _json(result, status=202)

    async def webhook(request: web.Request) -> web.Response:
        forge = request.match_info["forge"]
        raw = await request.read()
        secrets = api.webhook_secrets(forge)
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
        except WebhookRejected as error:
            log.warning("webhook %s rejected: %s", forge, error.message)
            return _json({"error": error.message}, status=error.status)
        return _json(await api.push(push), status=202)

    async def metrics(_: web.Request) -> web.Response:
        payload, content_type = api.metrics()
        response = web.Response(body=payload)
        response.headers["Content-Type"] = content_type
        return response

    app = web.Application(middlewares=[errors], client_max_size=5 * 1024 * 1024)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/api/v1/status", status)
    app.router.add_get("/api/v1/apps/{app}/diff", diff)
    app.router.add_post("/api/v1/apps/{app}/sync", trigger)
    app.router.add_get("/api/v1/history", history)
    app.router.add_get("/api/v1/history/{id}", sync_detail)
    app.router.add_get("/api/v1/events", events)
    app.router.add_post("/webhooks/{forge}", webhook)
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
