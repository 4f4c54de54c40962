"""The dashboard's forms: sign in and out, and the actions on an app.

Each action calls the ``DaemonApi`` method its JSON route calls (sync, refresh, rollout
controls, suspend/resume), under the same route guard, so the same scopes apply, a
token limited to apps is held to its apps, and the audit log records it. Before that,
every POST passes the cross-site checks of fleet.adapters.http.dashboard.session; a
refused or failed action answers a page saying why, with its status.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import quote, urlsplit

from aiohttp import web

from fleet.adapters.http.access import digest
from fleet.adapters.http.browser import SESSION_COOKIE, secure
from fleet.adapters.http.dashboard.render import page
from fleet.adapters.http.dashboard.session import (
    MAX_TOKEN,
    CrossSiteRefused,
    check_post,
    new_anonymous_binding,
    set_anonymous_cookie,
    sign_in,
    sign_out,
)
from fleet.adapters.http.dashboard.views import (
    DashboardOptions,
    common,
    error_page,
    flash_redirect,
)
from fleet.adapters.http.routes import AUDIT_DETAILS, ApiAccess

if TYPE_CHECKING:
    from fleet.adapters.http.daemon_api import DaemonApi

#: Rollout controls the API has (fleet.runtime.rollout_api.ACTIONS).
ROLLOUT_ACTIONS = ("promote", "abort", "resume")


class Actions:
    def __init__(self, api: DaemonApi, options: DashboardOptions, access: ApiAccess) -> None:
        self.api = api
        self.options = options
        self.access = access

    async def _form(self, request: web.Request) -> dict[str, str]:
        """The POSTed form once it passed the cross-site checks (raises otherwise)."""
        form = {k: str(v) for k, v in (await request.post()).items()}
        check_post(request, form, self.options.csrf)
        return form

    @staticmethod
    def _back(app: str, form: dict[str, str]) -> str:
        """The page the form was on (a path of this site), else the app's page."""
        back = _safe_next(form.get("back", ""))
        return back if back != "/" else f"/apps/{quote(app, safe='')}"

    async def sync(self, request: web.Request) -> web.StreamResponse:
        app = request.match_info["app"]
        form = await self._form(request)
        cluster = form.get("cluster") or None
        confirm = form.get("confirm_prune") == "1"
        request[AUDIT_DETAILS] = {"cluster": cluster, "confirmPrune": confirm, "via": "dashboard"}
        await self.api.trigger_sync(app, cluster, None, False, False, confirm)
        return flash_redirect(self._back(app, form), "sync")

    async def refresh(self, request: web.Request) -> web.StreamResponse:
        app = request.match_info["app"]
        form = await self._form(request)
        cluster = form.get("cluster") or None
        request[AUDIT_DETAILS] = {"cluster": cluster, "via": "dashboard"}
        await self.api.refresh(app, cluster)
        return flash_redirect(self._back(app, form), "refresh")

    async def rollout(self, request: web.Request) -> web.StreamResponse:
        app, action = request.match_info["app"], request.match_info["action"]
        form = await self._form(request)
        if action not in ROLLOUT_ACTIONS:
            return error_page(request, self.options, 404, f"no rollout action {action!r}")
        request[AUDIT_DETAILS] = {"action": action, "via": "dashboard"}
        await self.api.rollout_action(app, action)
        return flash_redirect(self._back(app, form), action)

    async def suspend(self, request: web.Request) -> web.StreamResponse:
        app = request.match_info["app"]
        form = await self._form(request)
        request[AUDIT_DETAILS] = {"via": "dashboard"}
        await self.api.suspend(app, form.get("cluster") or None, "suspended from the dashboard")
        return flash_redirect(self._back(app, form), "suspend")

    async def resume(self, request: web.Request) -> web.StreamResponse:
        app = request.match_info["app"]
        form = await self._form(request)
        request[AUDIT_DETAILS] = {"via": "dashboard"}
        await self.api.resume(app, form.get("cluster") or None)
        return flash_redirect(self._back(app, form), "unsuspend")

    # -- signing in ----------------------------------------------------------------

    async def login_form(self, request: web.Request) -> web.StreamResponse:
        return self._login_page(request, "", 200)

    def _login_page(self, request: web.Request, problem: str, status: int) -> web.Response:
        context = common(request, self.options, "", title="Sign in", live=False)
        # The login form's CSRF token binds to a cookie given with the form.
        fresh = new_anonymous_binding(request)
        token = self.options.csrf.token_for("a:" + fresh) if fresh else context["csrf"]
        response = page(
            "login.html",
            status=status,
            **context,
            login_csrf=token,
            next=_safe_next(request.query.get("next", "/")),
            problems=[problem] if problem else [],
        )
        if fresh:
            set_anonymous_cookie(request, response, fresh)
        return response

    async def login(self, request: web.Request) -> web.StreamResponse:
        try:
            form = await self._form(request)
        except CrossSiteRefused as refused:
            return secure(web.Response(status=403, text=f"403: {refused}\n"))
        token = form.get("token", "").strip()
        principal = self.access.registry.identify(token) if 0 < len(token) <= MAX_TOKEN else None
        if principal is None:
            request[AUDIT_DETAILS] = {"login": "refused"}
            return self._login_page(request, "That token is not valid.", 401)
        request[AUDIT_DETAILS] = {"login": principal.name}
        target = _safe_next(form.get("next", "/"))
        separator = "&" if "?" in target else "?"
        response = web.Response(
            status=303, headers={"Location": f"{target}{separator}done=signed-in"}
        )
        old = request.cookies.get(SESSION_COOKIE)
        if old:  # signing in again: the previous session ends (no fixation either)
            self.access.sessions.close(old)
        sign_in(request, response, self.access.sessions.open(principal, digest(token)))
        return secure(response)

    async def logout(self, request: web.Request) -> web.StreamResponse:
        try:
            await self._form(request)
        except CrossSiteRefused as refused:
            return secure(web.Response(status=403, text=f"403: {refused}\n"))
        session_id = request.cookies.get(SESSION_COOKIE)
        if session_id:
            self.access.sessions.close(session_id)
        response = web.Response(status=303, headers={"Location": "/?done=signed-out"})
        sign_out(response)
        return secure(response)


def _safe_next(target: str) -> str:
    """Where to go after signing in: a path on this site only (no open redirect)."""
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    if "\\" in target or any(ord(ch) < 32 for ch in target):
        return "/"
    return target


def cross_site_answer(
    request: web.Request, options: DashboardOptions, refused: CrossSiteRefused
) -> web.Response:
    return error_page(request, options, 403, str(refused))
