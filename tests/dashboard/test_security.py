"""The dashboard against a hostile repository and a hostile web page.

- Hostile text in a commit's subject and author, an annotation and ConfigMap values
  renders as text on every page that shows it: no alert, no injected element, the
  literal characters visible.
- A form on another origin that posts to the daemon's sync action, loaded in a browser
  signed in with a sync token, is refused (403) and nothing syncs; the same action from
  the dashboard's own page works.
- A Secret changed by hand shows in the diff, but neither its value in Git nor the live
  one reaches the page.
- Every page carries the strict Content-Security-Policy; the session cookie is HttpOnly
  and SameSite=Strict; an anonymous visitor is sent to the sign-in page.
"""

from __future__ import annotations

import base64
import json
import secrets
from typing import Any

import aiohttp
import anyio
import pytest

from tests.dashboard.browser import Browser
from tests.dashboard.conftest import ConsoleAllow
from tests.dashboard.static_site import static_site
from tests.dashboard.support import Dashboard, cells, notes_files, sign_in, start_dashboard
from tests.e2e.daemon_support import World, eventually
from tests.support.gitrepos import git

pytestmark = [pytest.mark.anyio, pytest.mark.e2e, pytest.mark.browser]

IMG = "<img src=x onerror=alert(1)>"
SCRIPT = "<script>alert(2)</script>"
#: Git drops angle brackets from names (and trims punctuation at the ends); quotes and
#: ampersands inside stay.
AUTHOR = 'Mallory" onmouseover="alert(3)" x=&amp;y'
SUBJECT = f"notes: {IMG} & {SCRIPT}"
#: The notes app's Secret: its value in Git, and the one written on a cluster by hand.
SECRET_IN_GIT = "in-git-" + secrets.token_hex(8)
SECRET_LIVE = "by-hand-" + secrets.token_hex(8)


def secret_file(namespace: str) -> str:
    return (
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: notes-db\n"
        f"  namespace: {namespace}\ntype: Opaque\nstringData:\n  password: {SECRET_IN_GIT}\n"
    )


@pytest.fixture(scope="module")
async def dashboard(dash_world: World) -> Dashboard:
    dashboard = await start_dashboard(dash_world)
    w = dash_world

    def commit() -> str:
        for path, text in notes_files(dashboard.notes_namespace, IMG).items():
            w.source.work.write(path, text)
        w.source.work.write("apps/notes/secret.yaml", secret_file(dashboard.notes_namespace))
        git(w.source.work.path, "add", "--all")
        env = {"GIT_AUTHOR_NAME": AUTHOR, "GIT_AUTHOR_EMAIL": "mallory@example.com"}
        git(w.source.work.path, "commit", "--quiet", "-m", SUBJECT, env=env)
        w.source.work.push()
        return w.source.work.head()

    sha = await anyio.to_thread.run_sync(commit)
    await dashboard.converged(sha)
    return dashboard


async def assert_no_injection(browser: Browser, page: str) -> None:
    """No alert is open, and nothing the hostile text describes became an element."""

    def alert_text() -> str | None:
        from selenium.common.exceptions import NoAlertPresentException

        try:
            return str(browser.driver.switch_to.alert.text)
        except NoAlertPresentException:
            return None

    assert await browser.call(alert_text) is None, f"{page}: an alert opened"
    injected = await browser.script(
        """
        return [...document.querySelectorAll('img[src="x"], script:not([src]), [onmouseover]')]
            .map(e => e.outerHTML);
        """
    )
    assert injected == [], f"{page}: hostile markup became elements: {injected}"


async def test_hostile_text_renders_as_text(browser: Browser, dashboard: Dashboard) -> None:
    w = dashboard.world
    target = dashboard.names[0]
    # Live, the value and the annotation become the other hostile string: the diff shows
    # both lines both ways.
    await w.kubes[target].core.patch_namespaced_config_map(
        "notes",
        dashboard.notes_namespace,
        {"metadata": {"annotations": {"example.com/note": SCRIPT}}, "data": {"note": SCRIPT}},
    )

    async def out_of_sync() -> bool:
        status = await dashboard.daemon.status_of(target, "notes")
        return bool(status["sync"] == "OutOfSync")

    await eventually(out_of_sync, timeout=10, what="notes OutOfSync")
    head = w.source.work.head()
    sync = next(r for r in await dashboard.daemon.history(app="notes") if r["revision"] == head)

    await sign_in(browser, dashboard, "read")
    await browser.get(dashboard.url + "/?app=notes")
    shown = await cells(browser)
    assert shown, "no cells"
    for cell in shown.values():  # the subject, maybe shortened, as text
        assert IMG in cell["title"], cell
        assert SUBJECT.startswith(cell["title"].rstrip("…. ")), cell
    await assert_no_injection(browser, "Fleet")

    await browser.get(f"{dashboard.url}/history/{sync['id']}")
    text = await browser.text()
    assert SUBJECT in text, text[:2000]
    assert AUTHOR in text, text[:2000]
    await assert_no_injection(browser, "sync detail")

    await browser.get(dashboard.url + "/history")
    await browser.wait_for('[data-testid="history-row"]')
    await assert_no_injection(browser, "History")

    await browser.get(f"{dashboard.url}/apps/notes/diff?cluster={target}")
    [diff] = await browser.wait_for(f'pre[data-testid="diff"][data-cluster="{target}"]')
    for line in (
        f"-    example.com/note: {SCRIPT}",
        f"+    example.com/note: {IMG}",
        f"-  note: {SCRIPT}",
        f"+  note: {IMG}",
    ):
        assert line in diff["text"].replace("'", ""), (line, diff["text"])
    await assert_no_injection(browser, "App")

    await browser.get(dashboard.url + "/events")
    await browser.wait_for('[data-testid="event"]')
    await assert_no_injection(browser, "Events")


async def test_secret_values_never_reach_the_page(browser: Browser, dashboard: Dashboard) -> None:
    """A Secret changed by hand shows in the diff as changed, with neither value shown."""
    w = dashboard.world
    target = dashboard.names[-1]
    live = base64.b64encode(SECRET_LIVE.encode()).decode()
    await w.kubes[target].core.patch_namespaced_secret(
        "notes-db", dashboard.notes_namespace, {"data": {"password": live}}
    )

    async def secret_out_of_sync() -> bool:
        status = await dashboard.daemon.status_of(target, "notes")
        return any("Secret" in o for o in status["out_of_sync"])

    await eventually(secret_out_of_sync, timeout=10, what="the Secret OutOfSync")
    await sign_in(browser, dashboard, "read")
    for path in (
        f"/apps/notes?cluster={target}&diff={target}",
        f"/apps/notes/diff?cluster={target}",
    ):
        await browser.get(dashboard.url + path)
        diffs = await browser.wait_for(
            f'pre[data-testid="diff"][data-cluster="{target}"]', what=f"the diff on {path}"
        )
        assert any("password" in d["text"] for d in diffs), diffs
        html = await browser.script("return document.documentElement.outerHTML")
        for value in (
            SECRET_IN_GIT,
            SECRET_LIVE,
            live,
            base64.b64encode(SECRET_IN_GIT.encode()).decode(),
        ):
            assert value not in html, f"{path} shows a Secret's value"


def attacker_page(action: str, fields: dict[str, str]) -> dict[str, tuple[str, dict[str, str]]]:
    inputs = "".join(
        f'<input type="hidden" name="{name}" value="{value}">' for name, value in fields.items()
    )
    page = (
        '<!doctype html><html lang="en"><head><title>win a prize</title>'
        '<link rel="icon" href="data:,"></head><body>'
        f'<form id="f" method="post" action="{action}">{inputs}</form>'
        '<script src="/go.js"></script></body></html>'
    )
    return {"/": (page, {}), "/go.js": ("document.getElementById('f').submit();", {})}


async def test_a_cross_origin_post_is_refused_and_nothing_syncs(
    browser: Browser, dashboard: Dashboard, console_allow: ConsoleAllow
) -> None:
    console_allow(r"\b403\b")
    target = dashboard.names[-1]
    await sign_in(browser, dashboard, "sync")
    await browser.get(f"{dashboard.url}/apps/web?cluster={target}")
    await browser.wait_for('button[data-action="sync"]', what="a sync button")
    form: dict[str, Any] = await browser.script(
        """
        const form = document.querySelector('button[data-action="sync"]').closest('form');
        return {action: form.action, method: form.method,
                fields: Object.fromEntries(new FormData(form).entries())};
        """
    )
    assert str(form["method"]).lower() == "post", form
    fields = {str(k): str(v) for k, v in form["fields"].items()}
    syncs_before = await dashboard.daemon.last_sync_id()

    # Without the CSRF field (an attacker cannot read it), and with it (leaked): both
    # refused, the second by the Origin / Sec-Fetch-Site check alone.
    without = {k: v for k, v in fields.items() if k != "csrf"}
    for attempt in (without, fields):
        with static_site(attacker_page(str(form["action"]), attempt)) as site:
            await browser.get(site + "/")

            async def landed() -> str | None:
                url = await browser.url()
                return url if url.startswith(dashboard.url) else None

            await eventually(landed, timeout=10, what="the attacker's form submitted")
            body = await browser.text()
            assert "403" in body, body[:500]
    await anyio.sleep(2)
    assert await dashboard.daemon.last_sync_id() == syncs_before, "a cross-origin POST synced"

    # The same form from the dashboard's own page is accepted.
    await browser.get(f"{dashboard.url}/apps/web?cluster={target}")
    await browser.click('button[data-action="sync"]')

    async def synced() -> bool:
        return await dashboard.daemon.last_sync_id() > syncs_before

    await eventually(synced, timeout=15, what="the dashboard's own sync accepted")


async def test_pages_carry_the_csp_and_the_cookie_is_http_only(
    browser: Browser, dashboard: Dashboard
) -> None:
    # Anonymous: sent to sign in.
    await browser.get(dashboard.url + "/apps/web")
    assert "/login" in await browser.url()
    await sign_in(browser, dashboard, "read")
    cookies = await browser.call(browser.driver.get_cookies)
    [session] = [c for c in cookies if c["name"] == "fleet_session"]
    assert session["httpOnly"] is True, session
    assert session["sameSite"] == "Strict", session
    readable = json.dumps(await browser.script("return document.cookie"))
    assert dashboard.tokens["read"] not in readable
    cookie = {"fleet_session": session["value"]}

    sync_id = (await dashboard.daemon.history())[0]["id"]
    async with aiohttp.ClientSession(cookies=cookie, trust_env=False) as http:
        for path in ("/login", "/", "/apps/web", "/history", f"/history/{sync_id}", "/events"):
            async with http.get(dashboard.url + path, allow_redirects=False) as answer:
                assert answer.status == 200, (path, answer.status)
                assert answer.content_type == "text/html", (path, answer.content_type)
                csp = answer.headers.get("Content-Security-Policy", "")
                assert "script-src 'self'" in csp, (path, csp)
                assert "default-src 'none'" in csp, (path, csp)
                assert "unsafe-inline" not in csp, (path, csp)
                assert "frame-ancestors 'none'" in csp, (path, csp)
                assert answer.headers.get("X-Content-Type-Options") == "nosniff", path
        # The cookie is for pages, not for the JSON API.
        async with http.get(dashboard.url + "/api/v1/status") as answer:
            assert answer.status == 401, answer.status


async def test_a_wrong_token_does_not_sign_in(
    browser: Browser, dashboard: Dashboard, console_allow: ConsoleAllow
) -> None:
    console_allow(r"/login - .*\b40[13]\b")
    await browser.get(dashboard.url + "/login")
    await browser.wait_for("form input[name='token']")
    await browser.type_into("form input[name='token']", "not-" + dashboard.tokens["admin"])
    await browser.click("main form button[type='submit']")
    await browser.wait_for("main", what="the answer to a wrong token")
    assert "/login" in await browser.url()
    assert "signed in as" not in await browser.text()
    assert [
        c for c in await browser.call(browser.driver.get_cookies) if c["name"] == "fleet_session"
    ] == []
    await browser.get(dashboard.url + "/")
    assert "/login" in await browser.url(), "a wrong token let the visitor in"
