"""``/ui/stream``: an open page hears of a status change or a new event within 2 s."""

from __future__ import annotations

import html
import json
import re
import time
from pathlib import Path

import anyio
import pytest
from aiohttp import ClientResponse

from fleet.adapters.http.browser import CONTENT_SECURITY_POLICY
from fleet.adapters.http.dashboard.stream import fingerprint
from tests.adapters.http.dashfake import serve_dashboard
from tests.adapters.http.test_dashboard_security import tokens

pytestmark = pytest.mark.anyio


async def next_message(response: ClientResponse, limit: float = 2.0) -> tuple[str, str]:
    """The next (event, data) of an SSE stream, skipping comments; fails after ``limit``."""
    event, data = "message", ""
    with anyio.fail_after(limit):
        while True:
            line = (await response.content.readline()).decode().rstrip("\n")
            if line.startswith((":", "retry:")):
                continue
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                data = line[6:]
            elif line == "" and data:
                return event, data


async def test_a_status_change_and_an_event_reach_the_stream(tmp_path: Path) -> None:
    async with (
        serve_dashboard(tmp_path) as browser,
        browser.session.get(browser.url + "/ui/stream") as response,
    ):
        assert response.status == 200
        assert response.headers["Content-Type"] == "text/event-stream"
        assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
        assert (await next_message(response))[0] == "hello"

        browser.fake.statuses[1]["health"] = "Degraded"  # web on dev turns
        started = time.monotonic()
        event, data = await next_message(response)
        assert (event, json.loads(data)["reasons"]) == ("change", ["status"])
        assert time.monotonic() - started < 2.0

        browser.fake.add_event("drift", "drifted", app="web", cluster="dev")
        started = time.monotonic()
        event, data = await next_message(response)
        assert event == "change"
        assert "event" in json.loads(data)["reasons"]
        assert time.monotonic() - started < 2.0


def test_the_fingerprint_follows_what_pages_show() -> None:
    row = {"app": "web", "cluster": "dev", "sync": "Synced", "health": "Healthy", "step": ""}
    same = fingerprint([row])
    assert fingerprint([{**row, "updated_at": "later"}]) == same  # not shown: no change
    for key, value in [("sync", "OutOfSync"), ("step", "Sync wave 0"), ("reachable", False)]:
        assert fingerprint([{**row, key: value}]) != same


async def test_a_change_before_the_page_connects_is_reported_at_once(tmp_path: Path) -> None:
    async with serve_dashboard(tmp_path) as browser:
        _, page, _ = await browser.get("/")
        found = re.search(r'data-stream="([^"]+)"', page)
        assert found is not None
        url = html.unescape(found.group(1))
        assert url.startswith("/ui/stream?fp=")
        browser.fake.statuses[1]["sync"] = "OutOfSync"  # after the render, before connecting
        await anyio.sleep(0.6)  # longer than the stream's status cache
        async with browser.session.get(browser.url + url) as response:
            assert (await next_message(response))[0] == "hello"
            event, data = await next_message(response, limit=1.5)
            assert (event, json.loads(data)["reasons"]) == ("change", ["status"])
        # Without the page's mark, a stream starts from now: nothing to report.
        async with browser.session.get(browser.url + "/ui/stream") as response:
            assert (await next_message(response))[0] == "hello"
            with pytest.raises(TimeoutError):
                await next_message(response, limit=1.2)


async def test_a_stream_without_a_live_session_tells_the_page_to_sign_in(tmp_path: Path) -> None:
    """A session the daemon forgot (restart, sign-out, expiry) or none at all: the stream
    answers an ``event: signin`` an EventSource can read, not a redirect to an HTML page
    (which the browser refuses with a console error, and retries every few seconds)."""
    async with serve_dashboard(tmp_path, tokens(tmp_path)) as browser:
        for cookie in ({"fleet_session": "forgotten-by-the-daemon"}, {}):
            browser.session.cookie_jar.clear()
            browser.session.cookie_jar.update_cookies(cookie)
            async with browser.session.get(
                browser.url + "/ui/stream", allow_redirects=False
            ) as response:
                assert response.status == 200, cookie
                assert response.headers["Content-Type"] == "text/event-stream"
                assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
                assert (await next_message(response))[0] == "signin"
                assert await response.content.read() == b""  # and nothing else
        # A page still answers with the sign-in page's redirect.
        status, _, headers = await browser.get("/history?app=web")
        assert (status, headers["Location"]) == (303, "/login?next=%2Fhistory%3Fapp%3Dweb")


async def test_a_stopping_server_ends_open_streams_cleanly(tmp_path: Path) -> None:
    """At shutdown an open stream gets ``event: bye`` and a proper end of the chunked
    body (no ERR_INCOMPLETE_CHUNKED_ENCODING in the browser), before the server stops."""
    async with serve_dashboard(tmp_path) as browser:
        assert browser.runner is not None
        async with browser.session.get(browser.url + "/ui/stream") as response:
            assert (await next_message(response))[0] == "hello"
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(browser.runner.cleanup)
                assert (await next_message(response))[0] == "bye"
                with anyio.fail_after(2):
                    assert await response.content.read() == b""  # raises if cut mid-body
            assert response.content.at_eof()
