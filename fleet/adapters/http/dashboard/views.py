"""The dashboard's pages: each reads the ``DaemonApi`` methods the JSON API reads.

Handlers only gather and arrange (fleet.adapters.http.dashboard.matrix for the Fleet
page); the templates render, autoescaped. A ``DaemonApi`` error (an unknown app, a
daemon still starting) becomes an error page with the same status, not a JSON body.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from aiohttp import web

from fleet.adapters.http.access import LOCAL_ANONYMOUS, Principal
from fleet.adapters.http.browser import SESSION_COOKIE
from fleet.adapters.http.dashboard.matrix import STATES, Filters, build_matrix
from fleet.adapters.http.dashboard.render import page
from fleet.adapters.http.dashboard.session import CsrfKey
from fleet.adapters.http.dashboard.stream import SharedFingerprint
from fleet.adapters.http.routes import PRINCIPAL, visible, visible_overview
from fleet.model.revisions import is_chart_revision

if TYPE_CHECKING:
    from fleet.adapters.http.daemon_api import DaemonApi

JSON = dict[str, Any]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

#: Counts at the top of the Fleet page, in this order.
COUNT_NAMES = ("Synced", "OutOfSync", "Unknown", "Healthy", "Progressing", "Degraded", "Missing")
#: Rows on one history page, and events on the events page.
HISTORY_PAGE = 100
EVENTS_SHOWN = 200
#: History pages read at most to fill one for a token limited to apps.
HISTORY_SCANS = 5
#: Most distinct commits a history page looks up for its subject and author columns.
HISTORY_COMMITS = 40
#: Events read back to find the newest ones matching the filters.
EVENTS_SCANNED = 2000
#: Flash messages after an action, by the code the redirect carries (never free text).
FLASHES = {
    "sync": "Sync requested.",
    "refresh": "Refresh requested: the clusters are compared again.",
    "promote": "Rollout promoted.",
    "abort": "Rollout aborted.",
    "resume": "Rollout resumed.",
    "suspend": "App suspended.",
    "unsuspend": "Suspension lifted.",
    "signed-in": "Signed in.",
    "signed-out": "Signed out.",
}


@dataclass(frozen=True, slots=True)
class DashboardOptions:
    """What the dashboard takes from the settings."""

    #: ``dashboard_trace_url``: a URL with ``{trace_id}``; None: no trace links.
    trace_url: str | None = None
    csrf: CsrfKey = field(default_factory=CsrfKey)

    def trace_link(self, trace_id: str | None) -> str | None:
        if not self.trace_url or not trace_id:
            return None
        return self.trace_url.replace("{trace_id}", trace_id)


def principal_of(request: web.Request) -> Principal:
    return request.get(PRINCIPAL) or LOCAL_ANONYMOUS


def common(request: web.Request, options: DashboardOptions, nav: str, **extra: Any) -> JSON:
    """What every page's frame needs: who is signed in, the CSRF token, the flash."""
    principal = principal_of(request)
    signed_in = bool(request.cookies.get(SESSION_COOKIE)) and principal is not LOCAL_ANONYMOUS
    return {
        "nav": nav,
        "user": principal.name if signed_in else None,
        "csrf": options.csrf.token(request),
        "can_write": principal.may("sync"),
        "flash": FLASHES.get(request.query.get("done", ""), ""),
        "live": True,
        "stream": "/ui/stream",
        "request_path": request.path_qs,
        **extra,
    }


class Pages:
    def __init__(
        self, api: DaemonApi, options: DashboardOptions, shared: SharedFingerprint
    ) -> None:
        self.api = api
        self.options = options
        self.shared = shared

    async def _frame(self, request: web.Request, nav: str, title: str) -> JSON:
        """``common`` for a live page, with the stream URL naming what the page is about
        to show (taken before its reads): the stream then reports any change made
        after it, even one made before the page's script connected."""
        fingerprint = await self.shared.current(request.get(PRINCIPAL))
        mark = urlencode({"fp": fingerprint, "ev": await self.api.last_event_id()})
        return common(request, self.options, nav, title=title, stream=f"/ui/stream?{mark}")

    async def fleet(self, request: web.Request) -> web.StreamResponse:
        frame = await self._frame(request, "fleet", "Fleet")
        filters, problems = Filters.parse(request.query)
        statuses = visible(request, await self.api.status())
        overview = visible_overview(request, await self.api.fleet_overview())
        matrix = build_matrix(statuses, overview, filters)
        label = "=".join(filters.label) if filters.label else request.query.get("label", "")
        return page(
            "fleet.html",
            **frame,
            matrix=matrix,
            filters=filters,
            problems=problems,
            label_text=label,
            states=STATES,
            count_names=COUNT_NAMES,
            all_apps=sorted({str(row["app"]) for row in statuses}),
        )

    async def app(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["app"]
        frame = await self._frame(request, "fleet", f"App {name}")
        cluster = request.query.get("cluster", "").strip()[:253] or None
        diff_of = request.query.get("diff", "").strip()[:253] or None
        trees = await self.api.resource_tree(name, cluster)
        diffs = await self.api.diff(name, diff_of) if diff_of else []
        statuses = {
            str(row["cluster"]): row
            for row in await self.api.status()
            if row["app"] == name and (cluster is None or row["cluster"] == cluster)
        }
        try:
            rollout: JSON | None = await self.api.rollout_status(name)
        except Exception:
            rollout = None
        commits = await self._commits(name, [str(t.get("revision") or "") for t in trees])
        prune_asked = {
            cluster: str(row.get("message") or "")
            for cluster, row in statuses.items()
            if "prune guard" in str(row.get("message") or "")
        }
        return page(
            "app.html",
            **frame,
            app=name,
            cluster=cluster,
            diffs=diffs,
            trees=trees,
            statuses=statuses,
            rollout=rollout,
            commits=commits,
            prune_asked=prune_asked,
            any_suspended=any(row.get("suspended") for row in statuses.values()),
        )

    async def diff(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["app"]
        cluster = request.query.get("cluster") or None
        diffs = await self.api.diff(name, cluster)
        context = common(request, self.options, "fleet", title=f"Diff of {name}")
        context["live"] = False  # a diff is dry-runs on the clusters: not on every change
        return page("diff.html", **context, app=name, diffs=diffs)

    async def history(self, request: web.Request) -> web.StreamResponse:
        frame = await self._frame(request, "history", "History")
        app = request.query.get("app", "").strip()[:253]
        cluster = request.query.get("cluster", "").strip()[:253]
        before_text = request.query.get("before", "")
        before = int(before_text) if before_text.isdigit() and len(before_text) < 19 else None
        rows, more = await self._history_page(request, app, cluster, before)
        older = None
        if more is not None:
            query = {k: v for k, v in (("app", app), ("cluster", cluster)) if v}
            older = "/history?" + urlencode({**query, "before": more})
        # Each sync's commit subject and author: one look-up per distinct commit (a page
        # of syncs names few), at most HISTORY_COMMITS of them. A chart revision has no
        # commit (its short form says chart and version).
        commits: JSON = {}
        wanted = dict.fromkeys(
            (str(r["app"]), str(r["revision"]))
            for r in rows
            if r.get("revision") and not is_chart_revision(str(r["revision"]))
        )
        for app_name, sha in list(wanted)[:HISTORY_COMMITS]:
            if sha not in commits:
                commits.update(await self._commits(app_name, [sha]))
        return page(
            "history.html",
            **frame,
            syncs=rows,
            app=app,
            cluster=cluster,
            older=older,
            commits=commits,
        )

    async def _history_page(
        self, request: web.Request, app: str, cluster: str, before: int | None
    ) -> tuple[list[JSON], int | None]:
        """Up to a page of the syncs the caller may see, and the ``before`` of the next
        page (None: no more). A token limited to apps skips other apps' syncs, so a few
        pages of the history are read to fill one (HISTORY_SCANS at most)."""
        rows: list[JSON] = []
        cursor = before
        for _ in range(HISTORY_SCANS):
            batch = await self.api.history(app or None, cluster or None, HISTORY_PAGE, cursor)
            rows.extend(visible(request, batch))
            if len(batch) < HISTORY_PAGE:
                return rows[:HISTORY_PAGE], None
            cursor = int(batch[-1]["id"])
            if len(rows) >= HISTORY_PAGE:
                break
        if len(rows) > HISTORY_PAGE:
            return rows[:HISTORY_PAGE], int(rows[HISTORY_PAGE - 1]["id"])
        return rows, cursor

    async def sync(self, request: web.Request) -> web.StreamResponse:
        text = request.match_info["sync_id"]
        if not text.isdigit() or len(text) > 18:
            return error_page(request, self.options, 400, "a sync id is a whole number")
        frame = await self._frame(request, "history", f"Sync #{text}")
        detail = await self.api.sync_detail(int(text))
        if not visible(request, [detail]):
            return error_page(request, self.options, 404, f"no sync with id {text}")
        found = await self._commits(str(detail["app"]), [str(detail["revision"])])
        return page(
            "sync.html",
            **frame,
            s=detail,
            commit=found.get(str(detail["revision"])),
            trace_url=self.options.trace_link(detail.get("trace_id")),
        )

    async def events(self, request: web.Request) -> web.StreamResponse:
        frame = await self._frame(request, "events", "Events")
        app = request.query.get("app", "").strip()[:253]
        cluster = request.query.get("cluster", "").strip()[:253]
        kind = request.query.get("type", "").strip()[:100]
        last = await self.api.last_event_id()
        rows = await self.api.events(
            max(0, last - EVENTS_SCANNED), app or None, cluster or None, EVENTS_SCANNED
        )
        rows = visible(request, rows)
        kinds = sorted({str(e["kind"]) for e in rows})
        if kind:
            rows = [e for e in rows if e["kind"] == kind]
        return page(
            "events.html",
            **frame,
            events=list(reversed(rows[-EVENTS_SHOWN:])),
            app=app,
            cluster=cluster,
            kind=kind,
            kinds=kinds,
        )

    async def _commits(self, app: str, shas: list[str]) -> JSON:
        found: JSON = {}
        for sha in {s for s in shas if s}:
            try:
                found[sha] = await self.api.commit(app, sha)
            except Exception:
                continue  # not in the source (any more): shown without a subject
        return found


def error_page(
    request: web.Request, options: DashboardOptions, status: int, message: str
) -> web.Response:
    names = {400: "Bad request", 403: "Refused", 404: "Not found", 409: "Not now"}
    heading = f"{status} {names.get(status, 'Error')}"
    return page(
        "error.html",
        status=status,
        **common(request, options, "", title=heading, live=False),
        heading=heading,
        message=message,
        back=_back(request),
    )


def _back(request: web.Request) -> str:
    app = request.match_info.get("app")
    return f"/apps/{app}" if app else "/"


def flash_redirect(back: str, code: str) -> web.Response:
    """To ``back`` (a path on this site) with the flash ``code``; a diff is not redone."""
    parts = urlsplit(back)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k not in ("done", "diff")]
    query.append(("done", code))
    return web.Response(status=303, headers={"Location": f"{parts.path}?{urlencode(query)}"})
