"""The dashboard in a real headless Firefox (ESR), against ``fleet run`` on clusters.

The Chromium tests cover the pages in depth; these check that the same pages work in
Firefox: the Fleet matrix, an App page's resource tree, a drift arriving on the open page
over the event stream, a signed-in sync from a button, and dark mode. After every test
the page's errors reported over WebDriver BiDi (``console.error``, JavaScript errors,
CSP violations) and any request the pages saw answered 4xx/5xx fail it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from tests.dashboard.browser import selenium_missing
from tests.dashboard.firefox import FirefoxBrowser, firefox_paths, start_firefox
from tests.dashboard.static_site import static_site
from tests.dashboard.support import APPS, Dashboard, cell_is, cells, sign_in, start_dashboard
from tests.e2e.daemon_support import JSON, REPLICAS, World, eventually

pytestmark = [pytest.mark.anyio, pytest.mark.e2e, pytest.mark.browser]


@pytest.fixture(scope="module")
def _firefox_driver() -> Iterator[Any]:
    paths = firefox_paths()
    if isinstance(paths, str):
        pytest.skip(f"Firefox tests need Firefox and geckodriver: {paths}")
    missing = selenium_missing()
    if missing:
        pytest.skip(f"Firefox tests need Selenium: {missing}")
    driver = start_firefox(*paths)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def firefox_page(_firefox_driver: Any) -> FirefoxBrowser:
    return FirefoxBrowser(_firefox_driver)


@pytest.fixture
async def firefox(firefox_page: FirefoxBrowser) -> AsyncIterator[FirefoxBrowser]:
    """Firefox, reset; afterwards no page may have logged an error or failed a request."""
    page = firefox_page
    await page.reset()
    yield page
    failed = await page.failures()
    entries = await page.console()
    await page.get("about:blank")  # close the page's event stream before the daemon stops
    errors = [e for e in entries if e["level"] == "SEVERE"]
    assert not errors, "Firefox reported errors:\n" + "\n".join(
        f"  {e['source']}: {e['message']}" for e in errors
    )
    assert not failed, f"requests failed: {failed}"


@pytest.fixture(scope="module")
async def dashboard(dash_world: World) -> AsyncIterator[Dashboard]:
    dashboard = await start_dashboard(dash_world)
    yield dashboard
    await dashboard.daemon.stop()


async def test_the_harness_reports_script_errors_csp_violations_and_failed_requests(
    firefox_page: FirefoxBrowser,
) -> None:
    """Without this, the silence of the checks after each test would mean nothing."""
    page = firefox_page
    await page.reset()
    strict = {"Content-Security-Policy": "default-src 'none'; script-src 'self'; img-src 'self'"}
    site_pages = {
        "/": (
            '<!doctype html><title>t</title><img src="/gone.png" alt="">'
            "<script>window.inline = 1</script><script src='/app.js'></script>",
            strict,
        ),
        "/app.js": ("document.title = 'ran'; console.error('told'); missing();", {}),
    }
    with static_site(site_pages) as site:
        await page.get(site + "/")

        seen: list[str] = []

        async def reported() -> list[str] | None:
            seen.extend(e["message"] for e in await page.console() if e["level"] == "SEVERE")
            return seen if len(seen) >= 3 else None

        messages = await eventually(reported, timeout=5, what="three errors reported")
        assert await page.title() == "ran"
        assert any("told" in m for m in messages), messages
        assert any("missing is not defined" in m for m in messages), messages
        assert any("Content-Security-Policy" in m for m in messages), messages
        await eventually(
            lambda: _failed_now(page), timeout=5, what="the image's 404 in Resource Timing"
        )
        failed = await page.failures()
    assert (site + "/gone.png", 404) in failed, failed
    await page.reset()


async def _failed_now(page: FirefoxBrowser) -> bool:
    return bool(await page.failed_requests())


async def test_the_fleet_matrix_and_an_app_s_resource_tree(
    firefox: FirefoxBrowser, dashboard: Dashboard
) -> None:
    await sign_in(firefox, dashboard, "read")
    await firefox.get(dashboard.url + "/")
    wanted = {(app, cluster) for app in APPS for cluster in dashboard.names}

    async def all_synced() -> dict[tuple[str, str], JSON] | None:
        shown = await cells(firefox)
        return shown if all(cell_is(shown.get(k), "Synced", "Healthy") for k in wanted) else None

    shown = await eventually(all_synced, timeout=20, what="every cell Synced and Healthy")
    assert set(shown) == wanted, sorted(shown)
    for cell in shown.values():  # the style sheet's symbols render in Firefox too
        assert cell["symbols"], cell

    await firefox.get(dashboard.url + "/apps/web")
    w = dashboard.world
    for cluster in dashboard.names:
        tree = f'section[data-testid="resource-tree"][data-cluster="{cluster}"]'
        want_pods = REPLICAS[w.env_of(cluster)]

        async def complete(tree: str = tree, want_pods: int = want_pods) -> list[JSON] | None:
            rows = await firefox.elements(f'{tree} [data-testid="resource"]')
            pods = [
                r
                for r in rows
                if r["data"].get("kind") == "Pod"
                and str(r["data"].get("parent")).startswith("ReplicaSet/")
            ]
            return rows if len(pods) == want_pods else None

        rows = await eventually(complete, timeout=15, what=f"the resource tree of {cluster}")
        by_key = {(r["data"]["kind"], r["data"]["name"]): r["data"] for r in rows}
        deployment = by_key[("Deployment", "web")]
        assert (deployment["sync"], deployment["health"]) == ("Synced", "Healthy"), deployment
        for kind, name in (("ConfigMap", "web-config"), ("Service", "web")):
            assert (kind, name) in by_key, sorted(by_key)
        replica_sets = [d for (kind, _), d in by_key.items() if kind == "ReplicaSet"]
        assert {d.get("parent") for d in replica_sets} == {f"Deployment/{w.namespace}/web"}


async def _connected(page: FirefoxBrowser) -> bool:
    return (await page.text('[data-testid="live"]')).strip().lower() == "connected"


async def test_a_drift_reaches_the_open_page_without_a_reload(
    firefox: FirefoxBrowser, dashboard: Dashboard
) -> None:
    w = dashboard.world
    target = dashboard.names[0]
    await sign_in(firefox, dashboard, "read")
    await firefox.get(dashboard.url + "/")
    await eventually(
        lambda: _cell(firefox, "web", target, "Synced"), timeout=20, what="web Synced first"
    )
    await eventually(lambda: _connected(firefox), timeout=10, what="the live indicator")
    marker = await firefox.mark_window()

    await w.kubes[target].scale(w.namespace, "web", REPLICAS[w.env_of(target)] + 3)
    await eventually(
        lambda: _cell(firefox, "web", target, "OutOfSync"),
        timeout=15,
        what=f"web on {target} OutOfSync on the open page",
    )
    assert await firefox.marker() == marker, "the page was reloaded"
    for cluster in dashboard.names[1:]:
        assert cell_is((await cells(firefox)).get(("web", cluster)), "Synced"), cluster


async def _cell(page: FirefoxBrowser, app: str, cluster: str, sync: str) -> bool:
    return cell_is((await cells(page)).get((app, cluster)), sync)


async def test_a_sync_click_runs_a_sync_that_history_shows(
    firefox: FirefoxBrowser, dashboard: Dashboard
) -> None:
    w = dashboard.world
    target = dashboard.names[-1]
    await w.kubes[target].patch_config_map(w.namespace, "web-config", {"GREETING": "by hand"})

    async def drifted() -> bool:
        return bool((await dashboard.daemon.status_of(target))["sync"] == "OutOfSync")

    await eventually(drifted, timeout=10, what="the drift seen by the daemon")
    syncs_before = await dashboard.daemon.last_sync_id()

    await sign_in(firefox, dashboard, "sync")
    await firefox.get(f"{dashboard.url}/apps/web")
    button = (
        f'section[data-testid="resource-tree"][data-cluster="{target}"] button[data-action="sync"]'
    )
    await firefox.wait_for(button, what=f"the sync button of {target}")
    await firefox.click(button)

    sync = await dashboard.daemon.wait_sync(
        target, w.source.work.head(), after_id=syncs_before, result="Succeeded"
    )
    assert sync["trigger"] == "manual", sync
    live = await w.kubes[target].config_map(w.namespace, "web-config")
    assert live is not None
    assert live["data"]["GREETING"] != "by hand", live
    await firefox.get(dashboard.url + "/history")
    [row] = await firefox.wait_for(
        f'tr[data-testid="history-row"][data-sync-id="{sync["id"]}"]', what="the new sync"
    )
    assert "manual" in row["text"], row
    assert "Succeeded" in row["text"], row


def _luminance(rgb: str) -> float:
    """Relative brightness (0..1) of a computed ``rgb(r, g, b)`` colour."""
    r, g, b = (int(part) for part in rgb[rgb.index("(") + 1 : rgb.index(")")].split(",")[:3])
    return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255


async def test_dark_mode_follows_the_browser_s_colour_scheme(
    firefox: FirefoxBrowser, dashboard: Dashboard
) -> None:
    read = """
    return [matchMedia('(prefers-color-scheme: dark)').matches,
            getComputedStyle(document.body).backgroundColor,
            getComputedStyle(document.body).color];
    """
    await sign_in(firefox, dashboard, "read")
    seen = {}
    for scheme in ("light", "dark"):
        await firefox.color_scheme(scheme)
        await firefox.get(dashboard.url + "/")
        await firefox.wait_for("td.cell", what="the matrix")
        dark, background, text = await firefox.script(read)
        assert dark is (scheme == "dark"), (scheme, dark)
        seen[scheme] = (_luminance(background), _luminance(text))
    light_bg, light_fg = seen["light"]
    dark_bg, dark_fg = seen["dark"]
    assert light_bg > 0.8, seen
    assert light_fg < 0.3, seen
    assert dark_bg < 0.2, seen
    assert dark_fg > 0.7, seen
