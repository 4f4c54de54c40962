"""The dashboard's tests' daemon: the CLI tests' fake daemon with what the dashboard adds
to ``DaemonApi`` (the fleet overview, resource trees, commits, refresh), served by the
real ``build_app`` on a loopback port, with a real audit store and a cookie-aware client.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import aiohttp
import anyio
from aiohttp import web

from fleet.adapters.http.dashboard import DashboardOptions
from fleet.adapters.http.routes import ApiAccess
from fleet.adapters.http.server import ApiError, build_app
from fleet.adapters.store import AsyncHistoryStore
from fleet.config.api_tokens import ApiToken
from tests.cli.fakedaemon import SHA_A, SHA_B, FakeDaemon
from tests.cli.harness import seed

JSON = dict[str, Any]

HOSTILE = "<script>alert(1)</script>"


def tree_node(kind: str, name: str, **overrides: Any) -> JSON:
    node: JSON = {
        "group": "apps" if kind in ("Deployment", "ReplicaSet") else "",
        "kind": kind,
        "namespace": "web",
        "name": name,
        "key": f"{kind}/web/{name}",
        "depth": 0,
        "parent": "",
        "sync": "Synced",
        "health": "Healthy",
        "message": "",
        "hook": "",
        "hidden": 0,
    }
    node.update(overrides)
    return node


@dataclass
class DashboardDaemon(FakeDaemon):
    """FakeDaemon plus the dashboard's reads, arranged by each test."""

    clusters: list[JSON] = field(default_factory=list)
    waves: dict[str, list[JSON]] = field(default_factory=dict)
    commits: dict[str, JSON] = field(default_factory=dict)
    trees: dict[tuple[str, str], list[JSON]] = field(default_factory=dict)
    refreshes: list[tuple[str, str | None]] = field(default_factory=list)

    async def last_event_id(self) -> int:
        return len(self.events_log)

    async def fleet_overview(self) -> JSON:
        apps = sorted({str(r["app"]) for r in self.statuses})
        naming: dict[str, set[str]] = {}  # as the daemon's: the apps whose rows name it
        for row in self.statuses:
            for key in ("revision", "target_revision"):
                if row.get(key):
                    naming.setdefault(str(row[key]), set()).add(str(row["app"]))
        return {
            "clusters": self.clusters,
            "apps": [{"name": a, "waves": self.waves.get(a, [])} for a in apps],
            "commits": {
                sha: {**commit, "apps": sorted(naming[sha])}
                for sha, commit in self.commits.items()
                if sha in naming
            },
        }

    async def resource_tree(self, app: str, cluster: str | None) -> list[JSON]:
        rows = [r for r in self.statuses if r["app"] == app]
        if not rows:
            raise ApiError(404, f"no app named {app}")
        return [
            {
                "app": app,
                "cluster": row["cluster"],
                "revision": row["revision"],
                "sync": row["sync"],
                "health": row["health"],
                "reachable": row["reachable"],
                "message": row["message"],
                "note": "",
                "resources": self.trees.get((app, str(row["cluster"])), []),
            }
            for row in rows
            if cluster is None or row["cluster"] == cluster
        ]

    async def commit(self, app: str, sha: str) -> JSON:
        if sha not in self.commits:
            raise ApiError(404, f"no commit {sha}")
        return self.commits[sha]

    async def refresh(self, app: str, cluster: str | None) -> JSON:
        self.refreshes.append((app, cluster))
        return {"app": app, "refreshed": [cluster] if cluster else []}


def seed_dashboard(fake: DashboardDaemon) -> None:
    """The CLI fake's fleet (web on dev/prod/staging, api on prod) with clusters,
    waves, commits and web's resource tree on prod."""
    seed(fake)
    fake.clusters = [
        {"name": "dev", "labels": {"env": "dev", "region": "eu"}, "reachable": True},
        {"name": "staging", "labels": {"env": "staging", "region": "us"}, "reachable": True},
        {"name": "prod", "labels": {"env": "prod", "region": "eu"}, "reachable": True},
    ]
    fake.waves["web"] = [
        {"name": "canary", "clusters": ["dev"]},
        {"name": "rest", "clusters": ["staging", "prod"]},
    ]
    fake.waves["api"] = [{"name": "all", "clusters": ["prod"]}]
    fake.commits = {
        SHA_A: {
            "sha": SHA_A,
            "summary": "Bump web to 1.4.2",
            "message": "Bump web to 1.4.2\n\nFixes the login page.",
            "author": "Ada Lovelace <ada@example.com>",
            "committed_at": "2026-05-01T12:00:00+00:00",
        },
        SHA_B: {
            "sha": SHA_B,
            "summary": "Scale web down",
            "message": "Scale web down",
            "author": "Grace Hopper <grace@example.com>",
            "committed_at": "2026-05-02T12:00:00+00:00",
        },
    }
    fake.trees[("web", "prod")] = [
        tree_node("Deployment", "web", sync="OutOfSync", health="Degraded", message="crash loop"),
        tree_node(
            "ReplicaSet",
            "web-7d9f",
            depth=1,
            parent="Deployment/web/web",
            sync="",
            health="Degraded",
        ),
        tree_node(
            "Pod",
            "web-7d9f-x2x",
            depth=2,
            parent="ReplicaSet/web/web-7d9f",
            sync="",
            health="Degraded",
        ),
        tree_node("Job", "db-migrate", group="batch", hook="PreSync", health="Healthy"),
    ]


class _Cells(HTMLParser):
    """The matrix's cells with their app (the column's ``th[data-app]``) and cluster
    (the row's ``tr[data-cluster]``), as a browser places them (end tags are omitted)."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[dict[str, str]] = []
        self.apps: dict[int, str] = {}
        self.cluster = ""
        self.column = -1

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "tr":
            self.cluster, self.column = values.get("data-cluster", ""), -1
        elif tag in ("th", "td"):
            self.column += 1
            if tag == "th" and "data-app" in values:
                self.apps[self.column] = values["data-app"]
            if tag == "td" and values.get("class") == "cell":
                app = self.apps.get(self.column, "")
                self.found.append({**values, "data-app": app, "data-cluster": self.cluster})


def matrix_cells(page: str) -> dict[tuple[str, str], dict[str, str]]:
    """The Fleet page's ``td.cell`` elements, parsed as a browser would: (app, cluster)
    -> their attributes (with ``data-app`` and ``data-cluster`` from the column and row)."""
    parser = _Cells()
    parser.feed(page)
    return {(c["data-app"], c["data-cluster"]): c for c in parser.found}


@dataclass
class Browser:
    """A client that keeps cookies, like a browser, and sends Origin on POSTs."""

    url: str
    fake: DashboardDaemon
    audit: AsyncHistoryStore
    session: aiohttp.ClientSession
    #: The server, for a test that stops it while a page is open.
    runner: web.AppRunner | None = None

    async def get(
        self, path: str, headers: Mapping[str, str] | None = None
    ) -> tuple[int, str, Mapping[str, str]]:
        async with self.session.get(
            self.url + path, headers=dict(headers or {}), allow_redirects=False
        ) as response:
            return response.status, await response.text(), response.headers.copy()

    async def post(
        self,
        path: str,
        form: Mapping[str, str],
        *,
        origin: str | None = "same",
        headers: Mapping[str, str] | None = None,
    ) -> tuple[int, str, Mapping[str, str]]:
        sent = dict(headers or {})
        if origin == "same":
            sent["Origin"] = self.url
        elif origin is not None:
            sent["Origin"] = origin
        async with self.session.post(
            self.url + path, data=dict(form), headers=sent, allow_redirects=False
        ) as response:
            return response.status, await response.text(), response.headers.copy()

    async def csrf(self, path: str = "/") -> str:
        """The CSRF token a page's forms carry."""
        status, text, _ = await self.get(path)
        assert status == 200, text
        found = re.search(r'name="csrf" value="([0-9a-f]*)"', text)
        assert found is not None, "no CSRF field on " + path
        return found.group(1)

    async def sign_in(self, token: str) -> tuple[int, Mapping[str, str]]:
        csrf = await self.csrf("/login")
        status, _, headers = await self.post("/login", {"token": token, "csrf": csrf, "next": "/"})
        return status, headers


@asynccontextmanager
async def serve_dashboard(
    tmp_path: Path,
    tokens: list[ApiToken] | None = None,
    options: DashboardOptions | None = None,
    **access: Any,
) -> AsyncIterator[Browser]:
    async with (
        await AsyncHistoryStore.open(tmp_path / "history.sqlite3") as store,
        anyio.create_task_group() as tasks,
        aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session,
    ):
        fake = DashboardDaemon(tasks)
        seed_dashboard(fake)
        app = build_app(fake, ApiAccess.with_tokens(tokens or [], **access), store, options)
        runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=0.5)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        try:
            yield Browser(f"http://127.0.0.1:{port}", fake, store, session, runner)
        finally:
            if runner.server is not None:  # not stopped by the test already
                await runner.cleanup()
            tasks.cancel_scope.cancel()
