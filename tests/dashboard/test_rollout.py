"""The rollout on the App page: a soaking wave shown with its soak left, and the Promote
button that ends the soak, watched live (no reload) until the rollout is complete; Suspend
and Resume, marked on the matrix. And the live indicator: disconnected while the daemon is
down, connected again when it is back.

The first wave soaks ten minutes, so the test, not the clock, decides when it ends.
"""

from __future__ import annotations

import re

import pytest

from tests.dashboard.browser import Browser
from tests.dashboard.conftest import ConsoleAllow
from tests.dashboard.support import Dashboard, cells, sign_in, start_dashboard
from tests.e2e.daemon_support import JSON, World, eventually

pytestmark = [pytest.mark.anyio, pytest.mark.e2e, pytest.mark.browser]

LONG_SOAK = "10m"


@pytest.fixture(scope="module")
async def dashboard(dash_world: World) -> Dashboard:
    first, *rest = dash_world.names
    waves = [{"name": "canary", "selector": {"names": [first]}, "soak": LONG_SOAK}]
    if rest:
        waves.append({"name": "everyone", "selector": {"names": rest}, "soak": "0s"})
    return await start_dashboard(dash_world, rollout={"waves": waves}, wait=False)


async def waves_shown(browser: Browser) -> dict[str, JSON]:
    rows = await browser.elements('section[data-testid="rollout"] [data-testid="wave"]')
    return {r["data"]["wave"]: r for r in rows}


async def rollout_status(browser: Browser) -> str:
    [section] = await browser.wait_for('section[data-testid="rollout"]')
    return str(section["data"].get("status", ""))


async def test_a_soaking_wave_is_promoted_from_the_page(
    browser: Browser, dashboard: Dashboard
) -> None:
    first, *rest = dashboard.names
    await sign_in(browser, dashboard, "sync")
    await browser.get(dashboard.url + "/apps/web")

    async def soaking() -> dict[str, JSON] | None:
        if await rollout_status(browser) != "Soaking":
            return None
        return await waves_shown(browser)

    waves = await eventually(soaking, timeout=30, what="the canary wave soaking on the page")
    canary = waves["canary"]["text"]
    assert first in canary, canary
    assert re.search(r"\b(9|10) ?m", canary), f"no soak left shown: {canary}"
    if rest:
        assert all(name in waves["everyone"]["text"] for name in rest), waves["everyone"]
        for name in rest:
            row = await dashboard.daemon.status_of(name)
            assert row["revision"] != dashboard.world.source.work.head(), "the soak was skipped"
    await browser.click('section[data-testid="rollout"] button[data-action="promote"]')
    # The form posts and comes back to this page, saying so; from then on the page
    # follows the rollout live.
    await browser.wait_for('[data-testid="flash"]', what="word that the promotion was taken")
    marker = await browser.mark_window()

    async def complete() -> bool:
        return await rollout_status(browser) == "Complete"

    await eventually(complete, timeout=30, what="the rollout complete on the page")
    assert await browser.marker() == marker, "the page was reloaded"
    await dashboard.daemon.wait_converged(dashboard.names, dashboard.world.source.work.head())
    done = await waves_shown(browser)
    for name in rest:
        assert name in done["everyone"]["text"], done


async def test_suspend_and_resume_from_the_page_show_on_the_matrix(
    browser: Browser, dashboard: Dashboard
) -> None:
    await sign_in(browser, dashboard, "sync")
    await browser.get(dashboard.url + "/")
    before = {key: cell["text"] for key, cell in (await cells(browser)).items()}
    await browser.get(dashboard.url + "/apps/web")
    await browser.click('button[data-action="suspend"]')
    await browser.wait_for('[data-testid="flash"]', what="word that the app was suspended")

    async def suspended(value: bool) -> bool:
        rows = [r for r in await dashboard.daemon.status() if r["app"] == "web"]
        return all(r["suspended"] is value for r in rows)

    await eventually(lambda: suspended(True), timeout=10, what="web suspended everywhere")
    await browser.get(dashboard.url + "/")
    shown = {key: cell["text"] for key, cell in (await cells(browser)).items()}
    for cluster in dashboard.names:
        # A suspension mark is added to web's cells, and only to them.
        web, notes = ("web", cluster), ("notes", cluster)
        assert shown[web].startswith(before[web]), (shown[web], before[web])
        assert len(shown[web]) > len(before[web]), (shown[web], before[web])
        assert shown[notes] == before[notes], (shown[notes], before[notes])

    await browser.get(dashboard.url + "/apps/web")
    await browser.click('button[data-action="unsuspend"]')
    await eventually(lambda: suspended(False), timeout=10, what="web resumed everywhere")
    await browser.get(dashboard.url + "/")
    assert {key: cell["text"] for key, cell in (await cells(browser)).items()} == before


async def test_the_live_indicator_follows_the_daemon_going_and_coming_back(
    browser: Browser, dashboard: Dashboard, console_allow: ConsoleAllow
) -> None:
    """Down: the stream ends cleanly (``bye``) and the page says disconnected. Back: the
    daemon forgot the session (sessions live in its memory), so the page goes to the
    sign-in page by itself, and after signing in it is back where it was, connected."""
    # While the daemon is away the page's reconnection attempts are refused: that the
    # browser logs. Nothing else is allowed: no cut stream, no HTML answer to the stream.
    console_allow(r"/ui/stream\S* - Failed to load resource: net::ERR_CONNECTION_REFUSED")
    await sign_in(browser, dashboard, "read")
    await browser.get(dashboard.url + "/?group=region")
    await browser.wait_for("td.cell")

    async def indicator(state: str) -> bool:
        return (await browser.text('[data-testid="live"]')).strip() == state

    await eventually(lambda: indicator("connected"), timeout=10, what="connected")
    await dashboard.daemon.stop()
    await eventually(lambda: indicator("disconnected"), timeout=10, what="disconnected")
    await dashboard.daemon.start()

    async def asked_to_sign_in() -> bool:
        return "/login?next=%2F%3Fgroup%3Dregion" in await browser.url()

    await eventually(asked_to_sign_in, timeout=20, interval=0.5, what="sent to /login?next=")
    # Sign in on the page it was sent to: back to the page it was on.
    await browser.type_into("form input[name='token']", dashboard.tokens["read"])
    await browser.click("main form button[type='submit']")

    async def back_where_it_was() -> bool:
        return "/?group=region" in await browser.url()

    await eventually(back_where_it_was, timeout=10, what="back on /?group=region")
    await browser.wait_for("td.cell")
    await eventually(lambda: indicator("connected"), timeout=10, what="connected again")
