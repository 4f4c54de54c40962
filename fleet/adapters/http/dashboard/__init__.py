"""The web dashboard the daemon serves at ``/`` (docs/dashboard.md).

Server-rendered pages (Jinja2, autoescaped) over the same ``DaemonApi`` the JSON API
uses, a Server-Sent Events stream that tells open pages to fetch themselves again, and
forms for the actions, each guarded against cross-site posts. :func:`dashboard_routes`
declares every route with its scope for the route guard (fleet.adapters.http.routes);
``browser=True`` lets the sign-in cookie (a session id: fleet.adapters.http.sessions)
stand for the ``Authorization`` header there.
"""

from __future__ import annotations

import logging
from importlib import resources

from aiohttp import web

from fleet.adapters.http.browser import secure
from fleet.adapters.http.daemon_api import ApiError, DaemonApi
from fleet.adapters.http.dashboard.actions import Actions, cross_site_answer
from fleet.adapters.http.dashboard.session import CrossSiteRefused
from fleet.adapters.http.dashboard.stream import SharedFingerprint, stream
from fleet.adapters.http.dashboard.views import (
    DashboardOptions,
    Handler,
    Pages,
    error_page,
)
from fleet.adapters.http.routes import ApiAccess, Route

__all__ = ["DashboardOptions", "dashboard_routes"]

log = logging.getLogger(__name__)

_TYPES = {".css": "text/css", ".js": "text/javascript", ".svg": "image/svg+xml"}


def _static_files() -> dict[str, tuple[bytes, str]]:
    folder = resources.files(__package__).joinpath("static")
    found = {}
    for entry in folder.iterdir():
        suffix = "." + entry.name.rpartition(".")[2]
        if entry.is_file() and suffix in _TYPES:
            found[entry.name] = (entry.read_bytes(), _TYPES[suffix])
    return found


def dashboard_routes(
    api: DaemonApi,
    options: DashboardOptions,
    access: ApiAccess,
    app: web.Application | None = None,
) -> list[Route]:
    """The dashboard's routes, declared for the route guard; ``app`` (when given) tells
    open event streams to end when it shuts down."""
    shared = SharedFingerprint(api)
    pages = Pages(api, options, shared)

    async def close_streams(_: web.Application) -> None:
        await shared.close_streams()

    if app is not None:
        app.on_shutdown.append(close_streams)
    actions = Actions(api, options, access)
    files = _static_files()

    def html(handler: Handler) -> Handler:
        """Answer a ``DaemonApi`` error or a cross-site refusal with a page."""

        async def handle(request: web.Request) -> web.StreamResponse:
            try:
                return secure(await handler(request))
            except ApiError as error:
                return error_page(request, options, error.status, error.message)
            except CrossSiteRefused as refused:
                return cross_site_answer(request, options, refused)
            except web.HTTPException:
                raise
            except Exception:
                log.exception("dashboard page %s failed", request.path)
                return error_page(request, options, 500, "internal error: see the daemon's log")

        return handle

    async def static(request: web.Request) -> web.StreamResponse:
        found = files.get(request.match_info["name"])
        if found is None:
            return secure(web.Response(status=404, text="404: no such file\n"))
        body, content_type = found
        response = web.Response(body=body, content_type=content_type)
        response.headers["Cache-Control"] = "no-cache"
        return secure(response)

    async def favicon(_: web.Request) -> web.StreamResponse:
        """Browsers ask for it on any page (a 403 text answer too): never a 404."""
        return secure(web.Response(status=308, headers={"Location": "/static/favicon.svg"}))

    async def live(request: web.Request) -> web.StreamResponse:
        return await stream(api, shared, request)

    def read(
        path: str,
        handler: Handler,
        app_param: str | None = None,
        dry_run: bool = False,
        dry_run_query: str | None = None,
    ) -> Route:
        return Route(
            "GET",
            path,
            html(handler),
            "read",
            app_param=app_param,
            dry_run_limited=dry_run,
            dry_run_query=dry_run_query,
            browser=True,
        )

    def act(path: str, handler: Handler) -> Route:
        return Route("POST", path, html(handler), "sync", app_param="app", browser=True)

    return [
        read("/", pages.fleet),
        read("/apps/{app}", pages.app, app_param="app", dry_run_query="diff"),
        read("/apps/{app}/diff", pages.diff, app_param="app", dry_run=True),
        read("/history", pages.history),
        read("/history/{sync_id}", pages.sync),
        read("/events", pages.events),
        Route("GET", "/ui/stream", live, "read", browser=True),
        act("/apps/{app}/sync", actions.sync),
        act("/apps/{app}/refresh", actions.refresh),
        act("/apps/{app}/rollout/{action}", actions.rollout),
        act("/apps/{app}/suspend", actions.suspend),
        act("/apps/{app}/resume", actions.resume),
        Route("GET", "/login", html(actions.login_form), "public", browser=True),
        Route("POST", "/login", html(actions.login), "public", browser=True),
        Route("POST", "/logout", html(actions.logout), "public", browser=True),
        Route("GET", "/static/{name}", static, "public", browser=True),
        Route("GET", "/favicon.ico", favicon, "public", browser=True),
    ]
