"""The dashboard as a user sees it, in a real Chromium, against ``fleet run`` on clusters.

One daemon serves the module (two apps, selfHeal off, traces exported to a loopback OTLP
receiver so syncs have trace ids, a trace URL template). Each test signs in, opens pages
and reads what is on them: the matrix's cells, counts and filters, the resource tree,
history and a sync's detail with its trace link; every page passes axe-core in light and
dark mode; the Fleet page works from the keyboard.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.adapters.telemetry.otlp_receivers import http_receiver
from tests.dashboard.browser import Browser
from tests.dashboard.support import (
    APPS,
    Dashboard,
    cell_is,
    cells,
    counts,
    sign_in,
    start_dashboard,
)
from tests.e2e.daemon_support import JSON, REPLICAS, World, eventually
from tests.support.gitrepos import git

pytestmark = [pytest.mark.anyio, pytest.mark.e2e, pytest.mark.browser]

TRACE_URL = "https://traces.example/trace/{trace_id}?from=fleet"


@pytest.fixture(scope="module")
async def dashboard(dash_world: World) -> AsyncIterator[Dashboard]:
    """The daemon, exporting its traces (so syncs have trace ids) to a loopback receiver."""
    async with http_receiver() as (endpoint, _collected):
        otel = {"endpoint": endpoint, "protocol": "http/protobuf"}
        dashboard = await start_dashboard(dash_world, dashboard_trace_url=TRACE_URL, otel=otel)
        yield dashboard
        await dashboard.daemon.stop()  # before the receiver goes


def subject_of(dashboard: Dashboard, sha: str) -> str:
    return git(dashboard.world.source.work.path, "log", "-1", "--format=%s", sha).strip()


async def all_synced(browser: Browser, dashboard: Dashboard) -> dict[tuple[str, str], JSON]:
    async def probe() -> dict[tuple[str, str], JSON] | None:
        shown = await cells(browser)
        wanted = [(a, c) for a in APPS for c in dashboard.names]
        return shown if all(cell_is(shown.get(k), "Synced", "Healthy") for k in wanted) else None

    return await eventually(probe, timeout=20, what="every cell Synced and Healthy")


async def test_the_fleet_matrix_shows_each_app_on_each_cluster_with_counts(
    browser: Browser, dashboard: Dashboard
) -> None:
    await sign_in(browser, dashboard, "read")
    await browser.get(dashboard.url + "/")
    shown = await all_synced(browser, dashboard)
    assert set(shown) == {(a, c) for a in APPS for c in dashboard.names}, sorted(shown)

    status = {(r["app"], r["cluster"]): r for r in await dashboard.daemon.status()}
    for key, cell in shown.items():
        revision = status[key]["revision"]
        assert "revision" in cell, f"no data-revision (docs/dashboard.md promises it): {cell}"
        assert revision.startswith(cell["revision"]), (cell, revision)
        assert subject_of(dashboard, revision) in cell["title"], cell
        assert revision[:7] in cell["title"] + cell["text"], cell
        # Status is shown by a symbol or words too, not by colour alone.
        assert cell["symbols"] or "Synced" in cell["text"] + cell["title"], cell

    shown_counts = await counts(browser)
    assert shown_counts.get("Synced") == len(shown), shown_counts
    assert shown_counts.get("OutOfSync") == 0, shown_counts
    assert shown_counts.get("Unknown", 0) == 0, shown_counts

    # Filters: by app, by cluster label, by state.
    await browser.get(dashboard.url + "/?app=notes")
    assert {a for a, _ in await cells(browser)} == {"notes"}
    first = dashboard.names[0]
    env = dashboard.world.env_of(first)
    await browser.get(dashboard.url + f"/?label=env={env}")
    labelled = {c for _, c in await cells(browser)}
    assert first in labelled
    assert labelled == {c for c in dashboard.names if dashboard.world.env_of(c) == env}
    await browser.get(dashboard.url + "/?state=OutOfSync")
    assert await cells(browser) == {}


def tree_rows_script() -> str:
    """Each resource row of a cluster's tree, with its parent (data-parent or nesting)."""
    return """
    const tree = document.querySelector(
        `section[data-testid="resource-tree"][data-cluster="${arguments[0]}"]`);
    if (!tree) return null;
    return [...tree.querySelectorAll('[data-testid="resource"]')].map(e => {
        const up = e.parentElement && e.parentElement.closest('[data-testid="resource"]');
        const nested = up && tree.contains(up)
            ? `${up.dataset.kind}/${up.dataset.namespace}/${up.dataset.name}` : null;
        return Object.assign({}, e.dataset, {parent: e.dataset.parent || nested,
                                             text: e.innerText});
    });
    """


async def test_the_app_page_shows_each_cluster_s_resource_tree(
    browser: Browser, dashboard: Dashboard
) -> None:
    w = dashboard.world
    await sign_in(browser, dashboard, "read")
    await browser.get(dashboard.url + "/apps/web")
    for cluster in dashboard.names:
        want_pods = REPLICAS[w.env_of(cluster)]

        async def tree(cluster: str = cluster, want_pods: int = want_pods) -> list[JSON] | None:
            rows: list[JSON] | None = await browser.script(tree_rows_script(), cluster)
            pods = [
                r
                for r in rows or []
                if r["kind"] == "Pod" and str(r["parent"]).startswith("ReplicaSet/")
            ]
            return rows if len(pods) == want_pods else None

        rows = await eventually(tree, timeout=15, what=f"the resource tree of {cluster}")
        by_key = {(r["kind"], r["name"]): r for r in rows}
        deployment = by_key[("Deployment", "web")]
        assert (deployment["sync"], deployment["health"]) == ("Synced", "Healthy"), deployment
        assert deployment["namespace"] == w.namespace
        for kind, name in (("ConfigMap", "web-config"), ("Service", "web")):
            assert (kind, name) in by_key, sorted(by_key)
        replica_sets = [r for r in rows if r["kind"] == "ReplicaSet"]
        assert replica_sets, rows
        assert {r["parent"] for r in replica_sets} == {f"Deployment/{w.namespace}/web"}
        owners = {f"ReplicaSet/{w.namespace}/{r['name']}" for r in replica_sets}
        pods = [r for r in rows if r["kind"] == "Pod" and r["parent"] in owners]
        assert len(pods) == want_pods, rows
        assert all(p["health"] == "Healthy" for p in pods), pods
        # Hooks are in the tree with their phase, their pods under them.
        for job, phase in (("web-migrate", "PreSync"), ("web-smoke-test", "PostSync")):
            assert phase in by_key[("Job", job)]["text"], by_key[("Job", job)]
            assert any(r["parent"] == f"Job/{w.namespace}/{job}" for r in rows), rows


async def test_history_lists_syncs_and_a_sync_s_detail_shows_its_results(
    browser: Browser, dashboard: Dashboard
) -> None:
    await sign_in(browser, dashboard, "read")
    rows = await dashboard.daemon.history()
    assert rows
    await browser.get(dashboard.url + "/history")
    shown = await browser.wait_for('tr[data-testid="history-row"][data-sync-id]')
    by_id = {int(r["data"]["syncId"]): r for r in shown}
    for row in rows[:10]:
        assert row["id"] in by_id, (row, sorted(by_id))
        text = by_id[row["id"]]["text"]
        for shown_value in (row["trigger"], row["revision"][:7], row["result"], row["cluster"]):
            assert shown_value in text, (shown_value, text)
    # Each row names its commit's subject and author, in their own columns.
    subjects = await browser.elements('[data-testid="history-row"] [data-testid="history-subject"]')
    authors = await browser.elements('[data-testid="history-row"] [data-testid="history-author"]')
    assert len(subjects) == len(authors) == len(shown)
    revisions = {row["id"]: row["revision"] for row in rows}
    for tr, subject, author in zip(shown, subjects, authors, strict=True):
        revision = revisions.get(int(tr["data"]["syncId"]))
        if revision is None:
            continue  # a sync newer than the list read above
        assert subject["text"].strip() == subject_of(dashboard, revision), (tr, subject)
        assert "Fleet Test" in author["text"], (row, author)

    web = next(r for r in rows if r["app"] == "web" and r["result"] == "Succeeded")
    detail = await dashboard.daemon.detail(web["id"])
    await browser.get(f"{dashboard.url}/history/{web['id']}")
    text = await browser.text()
    assert subject_of(dashboard, web["revision"]) in text
    assert "Fleet Test" in text, "the commit's author"
    assert detail["results"], detail
    for result in detail["results"]:
        for value in (result["kind"], result["name"], result["action"]):
            assert value in text, (result, text[:3000])
    trace_id = detail.get("trace_id") or web.get("trace_id")
    assert trace_id, detail
    links = await browser.elements("a[href]")
    assert TRACE_URL.format(trace_id=trace_id) in {link["href"] for link in links}, links


async def test_every_page_passes_axe(
    browser: Browser, dashboard: Dashboard, axe_script: str
) -> None:
    await browser.get(dashboard.url + "/login")
    await browser.wait_for("form input[name='token']")
    await browser.assert_accessible("Login", axe_script)
    await sign_in(browser, dashboard, "sync")
    sync_id = (await dashboard.daemon.history())[0]["id"]
    for name, path, ready in (
        ("Fleet", "/", "td.cell"),
        ("App", "/apps/web", '[data-testid="resource"]'),
        ("History", "/history", '[data-testid="history-row"]'),
        ("Sync detail", f"/history/{sync_id}", "main"),
        ("Events", "/events", '[data-testid="event"]'),
    ):
        await browser.get(dashboard.url + path)
        await browser.wait_for(ready, what=f"the {name} page")
        await browser.assert_accessible(name, axe_script)
        await browser.color_scheme("dark")
        await browser.assert_accessible(f"{name} (dark)", axe_script)
        await browser.color_scheme("light")


async def test_the_fleet_page_works_from_the_keyboard(
    browser: Browser, dashboard: Dashboard
) -> None:
    """Tab reaches the skip link, the navigation, the filters and each app's page, with
    a visible focus ring; Enter on an app's link opens it."""
    await sign_in(browser, dashboard, "read")
    await browser.get(dashboard.url + "/")
    await browser.wait_for("td.cell")
    focused = await browser.tab_through(30)
    assert focused[0]["href"] == "#main", focused[0]
    hrefs = [f["href"] for f in focused]
    for wanted in ("/", "/history", "/events", "/apps/web", "/apps/notes"):
        assert wanted in hrefs, (wanted, focused)
    assert {"select", "input", "button"} <= {f["tag"] for f in focused}, focused
    # (Past the last control the focus leaves the page: body.)
    unringed = [f for f in focused if f["outline"].startswith("none") and f["tag"] != "body"]
    assert not unringed, f"focus not visible on {unringed}"

    def press_enter_on_notes() -> None:
        from selenium.webdriver.common.by import By
        from selenium.webdriver.common.keys import Keys

        browser.driver.find_element(By.CSS_SELECTOR, 'th a[href="/apps/notes"]').send_keys(
            Keys.ENTER
        )

    await browser.call(press_enter_on_notes)
    await browser.wait_for('section[data-testid="resource-tree"]', what="the notes page")
    assert (await browser.url()).endswith("/apps/notes")
