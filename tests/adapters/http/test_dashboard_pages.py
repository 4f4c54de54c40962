"""The dashboard's pages over a fake daemon and the real HTTP server: what they show,
that every value is escaped, the security headers, and the trace link setting."""

from __future__ import annotations

import re
from html import unescape
from pathlib import Path

import pytest
from aiohttp.test_utils import make_mocked_request

from fleet.adapters.http.browser import CONTENT_SECURITY_POLICY
from fleet.adapters.http.dashboard import DashboardOptions
from fleet.adapters.http.dashboard.session import same_origin
from fleet.config import Settings
from tests.adapters.http.dashfake import HOSTILE, matrix_cells, serve_dashboard, tree_node
from tests.cli.fakedaemon import SHA_A, status_row, sync_record

pytestmark = pytest.mark.anyio

#: A value that would escape an unquoted attribute.
SNEAKY = "Healthy onmouseover=alert(1) x=`y` 'z'"
PAGES = ["/", "/apps/web", "/apps/web/diff?cluster=prod", "/history", "/history/6", "/events"]


def cells(html: str) -> dict[tuple[str, str], tuple[str, str]]:
    return {key: (c["data-sync"], c["data-health"]) for key, c in matrix_cells(html).items()}


@pytest.mark.parametrize("path", [*PAGES, "/login"])
async def test_every_page_renders_with_the_strict_headers(tmp_path: Path, path: str) -> None:
    async with serve_dashboard(tmp_path) as browser:
        status, html, headers = await browser.get(path)
    assert status == 200, html
    assert headers["Content-Type"].startswith("text/html")
    assert headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert "script-src 'self'" in CONTENT_SECURITY_POLICY
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"
    # No inline script or style: the CSP would block it.
    assert "<style" not in html
    assert " style=" not in html
    assert re.findall(r"<script[^>]*>", html) == ['<script src="/static/dashboard.js" defer>']
    assert '<a class="skip" href="#main">' in html
    assert '<main id="main"' in html


async def test_static_files_are_served_with_the_headers(tmp_path: Path) -> None:
    async with serve_dashboard(tmp_path) as browser:
        js = await browser.get("/static/dashboard.js")
        css = await browser.get("/static/dashboard.css")
        missing = await browser.get("/static/../server.py")
    assert js[0] == 200
    assert "EventSource" in js[1]
    assert js[2]["Content-Type"].startswith("text/javascript")
    assert css[0] == 200
    assert "prefers-color-scheme: dark" in css[1]
    assert js[2]["X-Content-Type-Options"] == "nosniff"
    assert missing[0] == 404


async def test_fleet_page_matrix_matches_the_status_api(tmp_path: Path) -> None:
    async with serve_dashboard(tmp_path) as browser:
        status, html, _ = await browser.get("/")
        api = await browser.session.get(browser.url + "/api/v1/status")
        rows = await api.json()
    assert status == 200
    assert cells(html) == {(r["app"], r["cluster"]): (r["sync"], r["health"]) for r in rows}
    assert '<span class="n" data-count="OutOfSync">1</span>' in html
    assert '<span class="n" data-count="Synced">3</span>' in html
    # The commit subject is on hover; the pinned mark is there.
    shown = matrix_cells(html)
    assert shown[("web", "dev")]["title"] == "Bump web to 1.4.2"
    assert shown[("web", "dev")]["data-revision"] == "3f2a9c1"
    assert 'title="Bump web to 1.4.2">3f2a9c1<' in html
    assert 'title="Scale web down">9b41e7a⚑' in html
    titles = re.findall(r'<th scope="rowgroup"[^>]*>([^<]*)<', html)
    assert [t.strip() for t in titles] == ["wave canary", "wave rest"]


async def test_fleet_page_groups_and_filters(tmp_path: Path) -> None:
    async with serve_dashboard(tmp_path) as browser:
        _, by_region, _ = await browser.get("/?group=region")
        _, out_of_sync, _ = await browser.get("/?state=OutOfSync")
        _, in_us, _ = await browser.get("/?label=region%3Dus")
        _, only_api, _ = await browser.get("/?app=api")
        _, bad, _ = await browser.get("/?label=nonsense")
    titles = [t.strip() for t in re.findall(r'scope="rowgroup"[^>]*>([^<]*)<', by_region)]
    assert titles == ["region=eu", "region=us"]
    assert set(cells(out_of_sync).values()) == {("OutOfSync", "Degraded")}
    assert set(cells(in_us)) == {("web", "staging")}
    assert set(cells(only_api)) == {("api", "prod")}
    assert "label filter &#39;nonsense&#39;: write key=value" in bad


async def test_app_page_shows_trees_rollout_and_actions(tmp_path: Path) -> None:
    async with serve_dashboard(tmp_path) as browser:
        status, html, _ = await browser.get("/apps/web")
    assert status == 200
    trees = re.findall(
        r'<section class="tree" data-testid="resource-tree" data-cluster="(\w+)"', html
    )
    assert trees == ["dev", "prod", "staging"]
    assert 'data-kind="Pod" data-name="web-7d9f-x2x"' in html
    assert 'data-parent="ReplicaSet/web/web-7d9f"' in html
    assert "hook PreSync" in html
    assert '<a href="/apps/web?diff=prod">Diff on prod</a>' in html  # prod is OutOfSync
    assert 'data-testid="wave" data-wave="canary"' in html
    assert "2 min 5 s" in html
    for action in ("sync", "refresh", "promote", "abort", "suspend"):
        assert f'data-action="{action}"' in html
    assert 'data-action="resume"' not in html  # nothing halted: no resume
    assert 'data-testid="prune-confirm"' not in html


async def test_app_page_offers_the_prune_confirmation_when_the_guard_asks(
    tmp_path: Path,
) -> None:
    async with serve_dashboard(tmp_path) as browser:
        browser.fake.statuses[2]["message"] = (
            "last sync failed: prune guard: this sync would delete 5 of the app's 6 objects"
        )
        _, html, _ = await browser.get("/apps/web")
    confirm = html.split('data-testid="prune-confirm"', 1)[1].split("</div>", 1)[0]
    assert "would delete 5 of the app&#39;s 6 objects" in confirm
    assert '<input type="hidden" name="confirm_prune" value="1">' in confirm
    assert '<input type="hidden" name="cluster" value="prod">' in confirm


async def test_unknown_app_is_a_404_page(tmp_path: Path) -> None:
    async with serve_dashboard(tmp_path) as browser:
        status, html, headers = await browser.get("/apps/nope")
    assert status == 404
    assert "no app named nope" in html
    assert headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY


async def test_diff_history_and_events_pages(tmp_path: Path) -> None:
    async with serve_dashboard(tmp_path) as browser:
        _, diff, _ = await browser.get("/apps/web/diff?cluster=prod")
        _, history, _ = await browser.get("/history?app=web")
        _, detail, _ = await browser.get("/history/6")
        browser.fake.add_event("drift", "Deployment web/web drifted", app="web", cluster="prod")
        _, events, _ = await browser.get("/events?type=drift")
        _, unreachable, _ = await browser.get("/events?type=cluster_unreachable")
    assert '<pre data-testid="diff" data-cluster="prod"' in diff
    assert '<span class="del">-  replicas: 5</span>' in diff
    ids = re.findall(r'data-testid="history-row" data-sync-id="(\d+)"', history)
    assert ids == ["6", "5"]  # web's syncs, newest first
    assert browser.fake.history_queries[0]["app"] == "web"
    assert "ProgressDeadlineExceeded" in detail
    assert "db-migrate" in detail
    assert 'data-testid="commit-author">Ada Lovelace &lt;ada@example.com&gt;<' in detail
    assert "Bump web to 1.4.2\n\nFixes the login page.</dd>" in detail
    assert "30.0 s" in detail
    assert re.findall(r'data-testid="event" data-type="(\w+)"', events) == ["drift", "drift"]
    assert events.index("Deployment web/web drifted") < events.index("1 object(s) differ")
    assert re.findall(r'data-testid="event" data-type="(\w+)"', unreachable) == [
        "cluster_unreachable"
    ]


async def test_hostile_names_and_messages_render_as_text(tmp_path: Path) -> None:
    async with serve_dashboard(tmp_path) as browser:
        fake = browser.fake
        fake.statuses.append(
            status_row(HOSTILE, "prod", message=HOSTILE, sync="OutOfSync", health=SNEAKY)
        )
        fake.clusters.append({"name": "x", "labels": {"team": HOSTILE}, "reachable": True})
        fake.trees[(HOSTILE, "prod")] = [
            tree_node("ConfigMap", HOSTILE, message=f'annotation "{HOSTILE}" onmouseover=x')
        ]
        fake.commits[SHA_A]["summary"] = f'"><img src=x onerror=alert(1)>{HOSTILE}'
        fake.add_event("drift", HOSTILE, app=HOSTILE, cluster="prod")
        pages = [
            await browser.get(path)
            for path in (
                "/",
                "/?group=team",
                "/apps/%3Cscript%3Ealert(1)%3C%2Fscript%3E",
                "/events",
                "/history/6",
            )
        ]
    for status, html, _ in pages:
        assert status == 200, html
        assert HOSTILE not in html
        assert "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in pages[0][1]
    # Parsed as a browser parses it, each attribute holds exactly the value, nothing more.
    hostile = matrix_cells(pages[0][1])[(HOSTILE, "prod")]
    assert (hostile["data-sync"], hostile["data-health"]) == ("OutOfSync", SNEAKY)
    assert set(hostile) == {
        "class",
        "data-app",
        "data-cluster",
        "data-sync",
        "data-health",
        "data-revision",
        "title",
    }
    assert "team=&lt;script&gt;" in pages[1][1]
    assert 'data-name="&lt;script&gt;alert(1)&lt;/script&gt;"' in pages[2][1]
    assert "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;" in pages[0][1]


async def test_trace_link_follows_the_setting(tmp_path: Path) -> None:
    settings = Settings(dashboard_trace_url="https://tempo.example/trace/{trace_id}")
    options = DashboardOptions(trace_url=settings.dashboard_trace_url)
    (tmp_path / "on").mkdir()
    (tmp_path / "off").mkdir()
    async with serve_dashboard(tmp_path / "on", options=options) as browser:
        _, linked, _ = await browser.get("/history/6")
    async with serve_dashboard(tmp_path / "off") as browser:
        _, plain, _ = await browser.get("/history/6")
    link = 'href="https://tempo.example/trace/4bf92f3577b34da6a3ce929d0e0e4736"'
    assert f'data-testid="trace-link" {link}' in linked
    assert 'data-testid="trace-link"' not in plain
    assert "<code>4bf92f3577b34da6a3ce929d0e0e4736</code>" in plain


def test_trace_url_setting_must_name_the_trace_id() -> None:
    with pytest.raises(ValueError, match="trace_id"):
        Settings(dashboard_trace_url="https://tempo.example/trace/")
    with pytest.raises(ValueError, match="http"):
        Settings(dashboard_trace_url="javascript:alert({trace_id})")


async def test_history_pages_back_through_older_syncs(tmp_path: Path) -> None:
    async with serve_dashboard(tmp_path) as browser:
        for sync_id in range(10, 160):
            browser.fake.add_sync(sync_record(sync_id, "web", "dev"))
        _, first, _ = await browser.get("/history?app=web")
        older = re.search(r'<a href="(/history\?[^"]+)">Older syncs</a>', first)
        assert older is not None
        _, second, _ = await browser.get(unescape(older.group(1)))
    ids = [int(i) for i in re.findall(r'data-testid="history-row" data-sync-id="(\d+)"', first)]
    assert ids == list(range(159, 59, -1))
    more = [int(i) for i in re.findall(r'data-testid="history-row" data-sync-id="(\d+)"', second)]
    assert (more[0], more[-1]) == (59, 5)
    assert "Older syncs" not in second


@pytest.mark.parametrize(
    ("headers", "same"),
    [
        ({}, True),  # an old browser: the CSRF token decides
        ({"Origin": "http://dash.example:8787"}, True),
        ({"Origin": "http://dash.example:8787", "Sec-Fetch-Site": "same-origin"}, True),
        ({"Sec-Fetch-Site": "none"}, True),  # typed in the address bar
        ({"Origin": "https://dash.example:8787"}, False),  # another scheme
        ({"Origin": "https://dash.example:8787", "X-Forwarded-Proto": "https"}, True),  # proxy
        ({"Origin": "http://dash.example:8787", "X-Forwarded-Proto": "https"}, False),
        ({"Origin": "http://dash.example:9999"}, False),  # another port
        ({"Origin": "http://evil.example"}, False),
        ({"Origin": "null"}, False),
        ({"Sec-Fetch-Site": "same-site"}, False),
        ({"Sec-Fetch-Site": "cross-site", "Origin": "http://dash.example:8787"}, False),
    ],
)
def test_same_origin_table(headers: dict[str, str], same: bool) -> None:
    request = make_mocked_request(
        "POST", "/apps/web/sync", headers={"Host": "dash.example:8787", **headers}
    )
    assert same_origin(request) is same


async def test_the_history_list_shows_each_sync_s_commit_subject_and_author(
    tmp_path: Path,
) -> None:
    async with serve_dashboard(tmp_path) as browser:
        _, history, _ = await browser.get("/history?app=web")
    rows = re.findall(r'<tr data-testid="history-row".*?</tr>', history, re.S)
    assert len(rows) == 2
    for row in rows:
        assert '<td data-testid="history-subject" class="subject">Bump web to 1.4.2</td>' in row
        assert '<td data-testid="history-author">Ada Lovelace &lt;ada@example.com&gt;</td>' in row
    assert '<th scope="col">Commit</th><th scope="col">Author</th>' in history
