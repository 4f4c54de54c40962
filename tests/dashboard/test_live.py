"""Live pages and actions: a drift shows on an open page without a reload, a signed-in
user syncs with a click and watches it run, a read-only user cannot, and the Events page
receives new events as they happen.

Latency is measured from the moment the daemon's API first reports the change to the
moment the open page shows it (both polled every 50 ms); the issue asks for 2 s.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio
import pytest

from tests.dashboard.browser import Browser
from tests.dashboard.conftest import ConsoleAllow
from tests.dashboard.support import Dashboard, cell_is, cells, sign_in, start_dashboard
from tests.e2e.daemon_support import REPLICAS, NotYet, World, eventually

pytestmark = [pytest.mark.anyio, pytest.mark.e2e, pytest.mark.browser]

#: From the daemon knowing to the page showing.
LIVE_WITHIN = 2.0
#: From the change on the cluster to the page showing, all told.
TOTAL_WITHIN = 10.0


@pytest.fixture(scope="module")
async def dashboard(dash_world: World) -> Dashboard:
    return await start_dashboard(dash_world)


async def wait_connected(browser: Browser) -> None:
    async def connected() -> bool:
        return (await browser.text('[data-testid="live"]')).strip().lower() == "connected"

    await eventually(connected, timeout=10, what="the live indicator saying connected")


async def page_latency(
    browser: Browser, dashboard: Dashboard, app: str, cluster: str, sync: str
) -> tuple[float, float]:
    """Seconds until the API, then the open Fleet page, show (app, cluster) as ``sync``."""
    started = anyio.current_time()
    seen: dict[str, float] = {}

    async def api_shows() -> bool:
        return bool((await dashboard.daemon.status_of(cluster, app))["sync"] == sync)

    async def page_shows() -> bool:
        return cell_is((await cells(browser)).get((app, cluster)), sync)

    async def watch(name: str, shows: Callable[[], Awaitable[bool]]) -> None:
        await eventually(
            shows, timeout=TOTAL_WITHIN + 30, what=f"{name}: {app} {sync}", interval=0.05
        )
        seen[name] = anyio.current_time()

    with anyio.move_on_after(TOTAL_WITHIN + 5):
        async with anyio.create_task_group() as group:
            group.start_soon(watch, "api", api_shows)
            group.start_soon(watch, "page", page_shows)
    assert "api" in seen, f"the daemon never reported {app} on {cluster} {sync}"
    assert "page" in seen, f"the open page never showed {app} on {cluster} {sync}"
    return seen["api"] - started, seen["page"] - seen["api"]


async def test_a_drift_turns_the_cell_out_of_sync_without_a_reload_and_the_diff_shows_it(
    browser: Browser, dashboard: Dashboard
) -> None:
    w = dashboard.world
    await sign_in(browser, dashboard, "read")
    await browser.get(dashboard.url + "/")
    await eventually(
        lambda: _synced(browser, dashboard), timeout=20, what="every cell Synced first"
    )
    await wait_connected(browser)
    marker = await browser.mark_window()
    target = dashboard.names[0]
    want = REPLICAS[w.env_of(target)]

    await w.kubes[target].scale(w.namespace, "web", want + 4)
    noticed, shown = await page_latency(browser, dashboard, "web", target, "OutOfSync")
    print(f"\ndrift: daemon noticed after {noticed:.2f}s, the page showed it {shown:.2f}s later")
    assert shown <= LIVE_WITHIN, f"the page took {shown:.2f}s after the daemon knew"
    assert noticed + shown <= TOTAL_WITHIN
    assert await browser.marker() == marker, "the page was reloaded"
    shown_now = await cells(browser)
    # The other cells did not move; the changed one looks different, not by colour alone.
    for cluster in dashboard.names[1:]:
        assert cell_is(shown_now.get(("web", cluster)), "Synced")
        synced, drifted = shown_now[("web", cluster)], shown_now[("web", target)]
        assert (synced["symbols"], synced["text"]) != (drifted["symbols"], drifted["text"])

    # The App page says which object drifted, and links to its diff.
    await browser.get(f"{dashboard.url}/apps/web")
    tree = f'section[data-testid="resource-tree"][data-cluster="{target}"]'
    rows = await browser.wait_for(
        f'{tree} [data-testid="resource"][data-kind="Deployment"][data-name="web"]'
    )
    assert [r["data"]["sync"] for r in rows] == ["OutOfSync"], rows
    await browser.click_link("Diff", within=tree)
    [diff] = await browser.wait_for(
        f'pre[data-testid="diff"][data-cluster="{target}"]', what=f"the diff of {target}"
    )
    assert "replicas" in diff["text"], diff["text"]
    assert f"-  replicas: {want + 4}" in diff["text"], diff["text"]
    assert f"+  replicas: {want}" in diff["text"], diff["text"]


async def _synced(browser: Browser, dashboard: Dashboard) -> bool:
    shown = await cells(browser)
    return bool(shown) and all(cell_is(cell, "Synced") for cell in shown.values())


async def test_a_signed_in_user_clicks_sync_and_watches_it_run(
    browser: Browser, dashboard: Dashboard
) -> None:
    w = dashboard.world
    target = dashboard.names[-1]
    kube = w.kubes[target]
    await kube.patch_config_map(w.namespace, "web-config", {"GREETING": "patched by hand"})
    await eventually(
        lambda: _api_sync_is(dashboard, target, "OutOfSync"), timeout=10, what="drift seen"
    )
    syncs_before = await dashboard.daemon.last_sync_id()

    await sign_in(browser, dashboard, "sync")
    await browser.get(f"{dashboard.url}/apps/web?cluster={target}")
    await wait_connected(browser)
    button = (
        f'section[data-testid="resource-tree"][data-cluster="{target}"] button[data-action="sync"]'
    )
    found = await browser.elements(button)
    if not found:  # one sync button for the app, with the cluster chosen by the URL
        button = 'button[data-action="sync"]'
        found = await browser.elements(button)
    assert found, "no sync button for a user with the sync scope"
    await browser.click(button)

    # The sync runs: a history row appears on the History page, and the cell is Synced.
    sync = await dashboard.daemon.wait_sync(
        target, w.source.work.head(), after_id=syncs_before, result="Succeeded"
    )
    assert sync["trigger"] == "manual", sync
    live = await kube.config_map(w.namespace, "web-config")
    assert live is not None
    assert live["data"]["GREETING"] == "hello from fleet"
    await browser.get(dashboard.url + "/history")
    rows = await browser.wait_for(
        f'tr[data-testid="history-row"][data-sync-id="{sync["id"]}"]', what="the new sync"
    )
    assert "manual" in rows[0]["text"], rows
    assert "Succeeded" in rows[0]["text"], rows
    await browser.get(dashboard.url + "/")

    async def back_in_sync() -> bool:
        return cell_is((await cells(browser)).get(("web", target)), "Synced")

    await eventually(back_in_sync, timeout=15, what=f"web on {target} Synced again")


async def _api_sync_is(dashboard: Dashboard, cluster: str, sync: str) -> bool:
    return bool((await dashboard.daemon.status_of(cluster))["sync"] == sync)


async def test_a_read_only_user_cannot_act(
    browser: Browser, dashboard: Dashboard, console_allow: ConsoleAllow
) -> None:
    """A read token gets no action buttons, or buttons whose use is refused, visibly."""
    console_allow(r"\b403\b")
    syncs_before = await dashboard.daemon.last_sync_id()
    events_before = await dashboard.daemon.last_event_id()
    await sign_in(browser, dashboard, "read")
    for path in ("/", "/apps/web", "/apps/notes"):
        await browser.get(dashboard.url + path)
        await browser.wait_for("main", what=path)
        names = {a["data"]["action"] for a in await browser.elements("button[data-action]")}
        for name in sorted(names):
            await browser.get(dashboard.url + path)
            await browser.wait_for(f'button[data-action="{name}"]', what=f"{name} on {path}")
            await browser.click(f'button[data-action="{name}"]')
            text = await browser.text()
            assert any(w in text for w in ("403", "refused", "not allowed", "does not have")), (
                f"{path}: {name} by a read-only user shows no refusal:\n{text[:1000]}"
            )
    await anyio.sleep(1)
    assert await dashboard.daemon.last_sync_id() == syncs_before
    # Nothing was suspended either.
    for row in await dashboard.daemon.status():
        assert row["suspended"] is False, row
    events = await dashboard.daemon.events(since=events_before)
    assert not [e for e in events if e["kind"] == "suspended"], events


async def test_the_events_page_receives_new_events_without_a_reload(
    browser: Browser, dashboard: Dashboard
) -> None:
    w = dashboard.world
    target = dashboard.names[0]
    await sign_in(browser, dashboard, "read")
    await browser.get(dashboard.url + "/events")
    await browser.wait_for('[data-testid="event"]', what="the events so far")
    await wait_connected(browser)
    marker = await browser.mark_window()
    before = len(await browser.elements('[data-testid="event"][data-type="drift"]'))
    events_before = await dashboard.daemon.last_event_id()

    await w.kubes[target].patch_config_map(
        dashboard.notes_namespace, "notes", {"note": "changed by hand"}
    )
    event = await dashboard.daemon.wait_event("drift", after_id=events_before, cluster=target)
    known_at = anyio.current_time()

    async def more() -> bool:
        drift = await browser.elements('[data-testid="event"][data-type="drift"]')
        return len(drift) > before and any(target in e["text"] for e in drift)

    await eventually(more, timeout=TOTAL_WITHIN, what="the new drift event on the page")
    shown = anyio.current_time() - known_at
    print(f"\nevents: the page showed the new event {shown:.2f}s after the API had it")
    assert shown <= LIVE_WITHIN
    assert await browser.marker() == marker, "the page was reloaded"
    assert event["app"] == "notes", event

    # The filter keeps only the type asked for.
    await browser.get(dashboard.url + "/events?type=drift")
    types = {e["data"]["type"] for e in await browser.elements('[data-testid="event"]')}
    assert types == {"drift"}, types


async def test_a_prune_the_guard_stopped_is_confirmed_on_the_page(
    browser: Browser, dashboard: Dashboard
) -> None:
    w = dashboard.world
    namespace = dashboard.notes_namespace
    target, *others = dashboard.names
    await w.source.commit("notes: drop the ConfigMap", {"apps/notes/configmap.yaml": None})
    await sign_in(browser, dashboard, "sync")
    await browser.get(dashboard.url + "/apps/notes")
    tree = f'section[data-testid="resource-tree"][data-cluster="{target}"]'
    [confirm] = await browser.wait_for(
        f'{tree} [data-testid="prune-confirm"]', timeout=20, what="the prune confirmation"
    )
    assert "prune guard" in confirm["text"], confirm
    # What is about to be deleted should be on the page (checked last, below).
    doomed = await browser.elements(f'{tree} [data-kind="ConfigMap"][data-name="notes"]')
    assert await w.kubes[target].config_map(namespace, "notes") is not None, "pruned unasked"

    await browser.click(f'{tree} [data-testid="prune-confirm"] button')

    async def pruned() -> bool:
        return await w.kubes[target].config_map(namespace, "notes") is None

    await eventually(pruned, timeout=15, what=f"the ConfigMap pruned on {target}")

    status_row: list[object] = []

    async def confirmation_gone() -> bool:
        status_row[:] = [await dashboard.daemon.status_of(target, "notes")]
        return await browser.elements(f'{tree} [data-testid="prune-confirm"]') == []

    try:
        await eventually(confirmation_gone, timeout=10, what="the confirmation gone")
    except NotYet:
        await browser.get(dashboard.url + "/apps/notes")
        await browser.wait_for(f'{tree} [data-testid="resource"]')
        still = await browser.elements(f'{tree} [data-testid="prune-confirm"]')
        raise AssertionError(
            "the open page still asks to confirm a prune that is done; after a reload it is "
            f"{'still there' if still else 'gone'}; status: {status_row}"
        ) from None
    assert await browser.elements(f'{tree} [data-kind="ConfigMap"][data-name="notes"]') == []
    # Confirmed for one cluster only: the others still wait.
    for cluster in others:
        assert await w.kubes[cluster].config_map(namespace, "notes") is not None, cluster
    assert [d["data"]["sync"] for d in doomed] == ["OutOfSync"], (
        "the tree did not show the ConfigMap the confirmation would prune",
        doomed,
    )
