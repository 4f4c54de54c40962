"""A token limited to apps sees nothing of the others on the dashboard: not their names,
not their commits' subjects, not their events or syncs, not even as a stream nudge."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest

from tests.adapters.http.dashfake import Browser, serve_dashboard
from tests.adapters.http.test_dashboard_security import ADMIN, WEB_CI, tokens
from tests.adapters.http.test_dashboard_stream import next_message
from tests.cli.fakedaemon import status_row, sync_record

pytestmark = pytest.mark.anyio

SHA_P = "5e5e5e5e" + "2" * 32
SECRET_SUBJECT = "Raise every salary in the ledger"


def add_payroll(browser: Browser) -> int:
    """A second team's app on prod: its own commit, a sync and an event."""
    fake = browser.fake
    fake.statuses.append(status_row("payroll", "prod", revision=SHA_P, target_revision=SHA_P))
    fake.commits[SHA_P] = {
        "sha": SHA_P,
        "summary": SECRET_SUBJECT,
        "message": SECRET_SUBJECT + "\n\nby the payroll team",
        "author": "Payroll Team <payroll@example.com>",
        "committed_at": "2026-05-03T12:00:00+00:00",
    }
    fake.waves["payroll"] = [{"name": "payroll-wave", "clusters": ["prod"]}]
    fake.add_sync(sync_record(8, "payroll", "prod", revision=SHA_P, message="payroll applied"))
    fake.add_event("drift", "payroll drifted", app="payroll", cluster="prod")
    return 8


@pytest.fixture
async def limited(tmp_path: Path) -> AsyncIterator[Browser]:
    async with serve_dashboard(tmp_path, tokens(tmp_path)) as browser:
        add_payroll(browser)
        yield browser


def leaks(text: str) -> list[str]:
    return [word for word in ("payroll", "Payroll", SECRET_SUBJECT, SHA_P[:7]) if word in text]


async def test_no_page_shows_another_apps_name_commit_or_events(limited: Browser) -> None:
    await limited.sign_in(WEB_CI)
    pages = {}
    for path in ("/", "/?group=region", "/apps/web", "/history", "/events", "/events?type=drift"):
        status, text, _ = await limited.get(path)
        assert status == 200, (path, text)
        pages[path] = text
    assert "Bump web to 1.4.2" in pages["/"]  # its own app's subjects are there
    assert {path: leaks(text) for path, text in pages.items()} == {path: [] for path in pages}
    for path in ("/history/8", "/apps/payroll", "/history?app=payroll", "/events?app=payroll"):
        status, text, _ = await limited.get(path)
        assert status in (403, 404), path
        assert SECRET_SUBJECT not in text
        assert "payroll drifted" not in text
    headers = {"Authorization": f"Bearer {WEB_CI}"}
    async with limited.session.get(limited.url + "/api/v1/fleet", headers=headers) as answer:
        overview = await answer.text()
    assert leaks(overview) == []
    assert json.loads(overview)["commits"]  # web's commits are still there


async def test_an_admin_sees_the_other_app(limited: Browser) -> None:
    """The check above could pass on a page that never shows payroll at all."""
    await limited.sign_in(ADMIN)
    _, fleet, _ = await limited.get("/")
    _, events, _ = await limited.get("/events")
    _, history, _ = await limited.get("/history")
    assert "payroll" in fleet
    assert SECRET_SUBJECT in fleet
    assert "payroll drifted" in events
    assert "payroll" in history


async def stream_hears(browser: Browser, change: str) -> bool:
    """Whether an open stream is nudged when ``change`` is made to the payroll app."""
    async with browser.session.get(browser.url + "/ui/stream") as response:
        assert (await next_message(response))[0] == "hello"
        await anyio.sleep(0.6)  # past the shared fingerprint's cache
        if change == "event":
            browser.fake.add_event("drift", "payroll drifted again", app="payroll")
        else:
            row = next(r for r in browser.fake.statuses if r["app"] == "payroll")
            row["health"] = "Degraded" if row["health"] != "Degraded" else "Healthy"
        try:
            await next_message(response, limit=1.5)
        except TimeoutError:
            return False
        return True


@pytest.mark.parametrize("change", ["event", "status"])
async def test_the_stream_says_nothing_of_another_apps_changes(
    limited: Browser, change: str
) -> None:
    await limited.sign_in(WEB_CI)
    assert not await stream_hears(limited, change)
    limited.session.cookie_jar.clear()
    await limited.sign_in(ADMIN)
    assert await stream_hears(limited, change)


async def test_history_is_filled_past_other_apps_syncs(limited: Browser) -> None:
    """A busy other app must not push a limited token's syncs off its History page."""
    for sync_id in range(100, 261):
        limited.fake.add_sync(sync_record(sync_id, "payroll", "prod", revision=SHA_P))
    await limited.sign_in(WEB_CI)
    _, page, _ = await limited.get("/history")
    shown = re.findall(r'data-testid="history-row" data-sync-id="(\d+)"', page)
    assert shown == ["6", "5"]
    assert leaks(page) == []
    assert "/history?before=" not in page  # nothing older to show
