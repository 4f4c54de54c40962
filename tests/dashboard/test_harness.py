"""The browser harness catches what it claims to: console errors, and axe-core's findings
on a page whose Content-Security-Policy is as strict as the dashboard's.

If these fail, the dashboard tests' silence means nothing.
"""

from __future__ import annotations

import pytest

from tests.dashboard.browser import Browser
from tests.dashboard.static_site import static_site

pytestmark = [pytest.mark.anyio, pytest.mark.browser]

STRICT_CSP = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; connect-src 'self'; base-uri 'none'"
}

PAGE = """<!doctype html>
<html lang="en"><head><title>harness</title><link rel="icon" href="data:,"></head>
<body><main><h1>harness</h1><img src="data:," id="no-alt">
<script src="/app.js"></script></main></body></html>
"""


async def test_console_errors_are_collected(browser: Browser) -> None:
    pages = {"/": (PAGE, STRICT_CSP), "/app.js": ("document.title = 'ran'; missing();", {})}
    with static_site(pages) as site:
        await browser.get(site + "/")
        assert await browser.title() == "ran", "the page's own script runs under the CSP"
        entries = await browser.console()
    errors = [e for e in entries if e["level"] == "SEVERE"]
    assert any("missing is not defined" in e["message"] for e in errors), entries


async def test_axe_runs_under_a_strict_csp_and_finds_a_missing_alt(
    browser: Browser, axe_script: str
) -> None:
    pages = {"/": (PAGE, STRICT_CSP), "/app.js": ("document.body.dataset.ok = '1';", {})}
    with static_site(pages) as site:
        await browser.get(site + "/")
        # An inline script is refused by this CSP, as on the dashboard...
        blocked = await browser.script(
            """
            const s = document.createElement('script');
            s.textContent = 'window.__inline = 1';
            document.head.appendChild(s);
            return window.__inline || null;
            """
        )
        assert blocked is None
        # ...yet axe-core, injected through the driver, runs and reports.
        violations = await browser.axe(axe_script)
        ids = {v["id"]: v["impact"] for v in violations}
        assert ids.get("image-alt") == "critical", violations
        with pytest.raises(AssertionError, match="image-alt"):
            await browser.assert_accessible("harness page", axe_script)
        # The refused inline script logged a CSP error; that is this test's own doing.
        await browser.console()
