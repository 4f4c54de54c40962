"""The dashboard's sign-in and forms: who may see and act, the cookie's flags, and
refusing cross-site posts (a foreign Origin or Sec-Fetch-Site, a missing CSRF token)."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from yarl import URL

from fleet.adapters.http.browser import CONTENT_SECURITY_POLICY
from fleet.adapters.http.dashboard.session import sign_in
from fleet.adapters.http.ratelimit import RateLimiter
from fleet.config.api_tokens import ApiToken, legacy_token
from tests.adapters.http.apiserver import token_file
from tests.adapters.http.dashfake import Browser, matrix_cells, serve_dashboard

pytestmark = pytest.mark.anyio

ADMIN, READER, WEB_CI = "admin-t0ken-1", "reader-t0ken-2", "web-ci-t0ken-3"


def tokens(directory: Path) -> list[ApiToken]:
    return [
        legacy_token(token_file(directory, "admin", ADMIN)),
        ApiToken(
            name="reader", token_file=token_file(directory, "reader", READER), scopes=["read"]
        ),
        ApiToken(
            name="web-ci",
            token_file=token_file(directory, "web-ci", WEB_CI),
            scopes=["read", "sync"],
            apps=["web"],
        ),
    ]


@pytest.fixture
async def guarded(tmp_path: Path) -> AsyncIterator[Browser]:
    async with serve_dashboard(tmp_path, tokens(tmp_path)) as browser:
        yield browser


async def test_without_tokens_reads_are_open_on_loopback_and_changes_refused(
    tmp_path: Path,
) -> None:
    async with serve_dashboard(tmp_path) as browser:
        status, _, _ = await browser.get("/")
        csrf = await browser.csrf("/apps/web")
        refused = await browser.post("/apps/web/sync", {"csrf": csrf})
    assert status == 200
    assert refused[0] == 403
    assert "no API token is configured" in refused[1]
    assert browser.fake.calls == []


# (The live stream answers an ``event: signin`` instead: test_dashboard_stream.py.)
@pytest.mark.parametrize("path", ["/", "/apps/web", "/history", "/events"])
async def test_with_tokens_a_page_sends_to_the_sign_in_form(guarded: Browser, path: str) -> None:
    status, _, headers = await guarded.get(path)
    assert status == 303
    assert headers["Location"].startswith("/login?next=%2F")
    assert headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY


async def test_sign_in_sets_a_strict_cookie_and_sign_out_clears_it(guarded: Browser) -> None:
    wrong, _ = await guarded.sign_in("not-a-token")
    assert wrong == 401
    assert not guarded.session.cookie_jar.filter_cookies(URL(guarded.url)).get("fleet_session")

    status, headers = await guarded.sign_in(READER)
    assert status == 303
    assert headers["Location"] == "/?done=signed-in"
    cookie = next(c for c in headers.getall("Set-Cookie") if c.startswith("fleet_session="))
    flags = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
    assert {"httponly", "path", "samesite", "max-age"} <= flags
    assert "SameSite=Strict" in cookie
    assert "Path=/" in cookie
    assert "secure" not in flags  # plain HTTP on loopback; Secure is set over TLS
    page = await guarded.get(headers["Location"])
    assert page[0] == 200
    assert "signed in as reader" in page[1]
    assert "Signed in." in page[1]

    # The cookie is for the dashboard only: the JSON API still wants the header.
    api = await guarded.session.get(guarded.url + "/api/v1/status")
    assert api.status == 401

    csrf = await guarded.csrf("/")
    out = await guarded.post("/logout", {"csrf": csrf})
    assert out[0] == 303
    assert 'fleet_session=""' in " ".join(out[2].getall("Set-Cookie"))
    assert (await guarded.get("/"))[0] == 303


async def test_a_sign_in_from_another_site_is_refused(guarded: Browser) -> None:
    csrf = await guarded.csrf("/login")
    status, _, headers = await guarded.post(
        "/login", {"token": ADMIN, "csrf": csrf}, origin="https://evil.example"
    )
    assert status == 403
    assert "fleet_session" not in " ".join(headers.getall("Set-Cookie", []))


async def test_an_action_runs_with_the_session_and_is_audited(guarded: Browser) -> None:
    await guarded.sign_in(ADMIN)
    csrf = await guarded.csrf("/apps/web")
    status, _, headers = await guarded.post(
        "/apps/web/sync", {"csrf": csrf, "cluster": "prod", "confirm_prune": "1"}
    )
    assert status == 303
    assert headers["Location"] == "/apps/web?done=sync"
    call = guarded.fake.calls[-1]
    assert (call.app, call.cluster, call.confirm_prune, call.dry_run) == (
        "web",
        "prod",
        True,
        False,
    )
    _, page, _ = await guarded.get(headers["Location"])
    assert '<p class="flash" data-testid="flash" role="status">Sync requested.</p>' in page

    assert (await guarded.post("/apps/web/refresh", {"csrf": csrf}))[0] == 303
    assert guarded.fake.refreshes == [("web", None)]
    assert (await guarded.post("/apps/web/rollout/promote", {"csrf": csrf}))[0] == 303
    assert guarded.fake.rollouts.actions == [("web", "promote")]
    late = await guarded.post("/apps/web/rollout/promote", {"csrf": csrf})
    assert late[0] == 409
    assert "no soak to skip" in late[1]

    entries = await guarded.audit.audit_entries(limit=20)
    routes = [(e.entry.principal, e.entry.route, e.entry.status) for e in reversed(entries)]
    assert ("default", "/apps/{app}/sync", 303) in routes
    assert ("default", "/apps/{app}/rollout/{action}", 409) in routes
    assert all(ADMIN not in str(e.as_json()) for e in entries)


@pytest.mark.parametrize(
    ("origin", "headers", "with_csrf", "why"),
    [
        pytest.param("https://evil.example", {}, True, "another site", id="foreign-origin"),
        pytest.param("null", {}, True, "another site", id="null-origin"),
        pytest.param(
            None, {"Sec-Fetch-Site": "cross-site"}, True, "another site", id="sec-fetch-site"
        ),
        pytest.param("same", {}, False, "CSRF token", id="missing-csrf"),
        pytest.param(None, {}, False, "CSRF token", id="no-origin-no-csrf"),
    ],
)
async def test_cross_site_posts_are_refused(
    guarded: Browser, origin: str | None, headers: dict[str, str], with_csrf: bool, why: str
) -> None:
    await guarded.sign_in(ADMIN)
    csrf = await guarded.csrf("/apps/web")
    form = {"csrf": csrf} if with_csrf else {}
    status, html, answer = await guarded.post(
        "/apps/web/sync", form, origin=origin, headers=headers
    )
    assert status == 403
    assert why in html
    assert answer["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert guarded.fake.calls == []
    entries = await guarded.audit.audit_entries(limit=5)
    assert (entries[0].entry.route, entries[0].entry.status) == ("/apps/{app}/sync", 403)


async def test_a_csrf_token_of_another_session_is_refused(guarded: Browser, tmp_path: Path) -> None:
    await guarded.sign_in(READER)
    readers = await guarded.csrf("/apps/web")
    guarded.session.cookie_jar.clear()
    await guarded.sign_in(ADMIN)
    status, html, _ = await guarded.post("/apps/web/sync", {"csrf": readers})
    assert status == 403
    assert "CSRF token" in html
    assert guarded.fake.calls == []


async def test_scopes_and_app_limits_hold_on_the_dashboard(guarded: Browser) -> None:
    await guarded.sign_in(READER)
    csrf = await guarded.csrf("/apps/web")
    status, html, _ = await guarded.post("/apps/web/sync", {"csrf": csrf})
    assert status == 403
    assert "does not have the sync scope" in html
    _, page, _ = await guarded.get("/apps/web")
    assert "Read-only" in page

    guarded.session.cookie_jar.clear()
    await guarded.sign_in(WEB_CI)
    assert (await guarded.get("/apps/api"))[0] == 403
    _, fleet, _ = await guarded.get("/")
    assert {app for app, _ in matrix_cells(fleet)} == {"web"}
    assert "/apps/api" not in fleet  # not even as a column
    overview = await guarded.session.get(
        guarded.url + "/api/v1/fleet", headers={"Authorization": f"Bearer {WEB_CI}"}
    )
    assert [a["name"] for a in (await overview.json())["apps"]] == ["web"]
    csrf = await guarded.csrf("/apps/web")
    assert (await guarded.post("/apps/api/sync", {"csrf": csrf}))[0] == 403
    assert (await guarded.post("/apps/web/sync", {"csrf": csrf}))[0] == 303


@pytest.mark.parametrize(
    "target", ["https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:x"]
)
async def test_sign_in_never_redirects_off_site(guarded: Browser, target: str) -> None:
    csrf = await guarded.csrf("/login")
    status, _, headers = await guarded.post(
        "/login", {"token": READER, "csrf": csrf, "next": target}
    )
    assert status == 303
    assert headers["Location"] == "/?done=signed-in"


async def test_a_diff_on_the_app_page_counts_against_the_dry_run_limit(tmp_path: Path) -> None:
    async with serve_dashboard(tmp_path, limiter=RateLimiter(1.0, 1)) as browser:
        plain = [(await browser.get("/apps/web"))[0] for _ in range(3)]
        first = await browser.get("/apps/web?diff=prod")
        second = await browser.get("/apps/web?diff=prod")
    assert plain == [200, 200, 200]  # the page alone makes no dry-runs
    assert first[0] == 200
    assert '<pre data-testid="diff" data-cluster="prod"' in first[1]
    assert second[0] == 429
    assert "too many diff and plan requests" in second[1]


@pytest.mark.parametrize(
    ("tls", "headers", "secure"),
    [
        (True, {}, True),
        (False, {}, False),
        (False, {"X-Forwarded-Proto": "https"}, True),  # TLS ends at a proxy in front
    ],
)
def test_the_session_cookie_is_secure_over_tls(
    tls: bool, headers: dict[str, str], secure: bool
) -> None:
    request = make_mocked_request(
        "POST",
        "/login",
        headers=headers,
        sslcontext=ssl.create_default_context() if tls else None,
    )
    response = web.Response()
    sign_in(request, response, "t0ken")
    cookie = response.cookies["fleet_session"]
    assert bool(cookie["secure"]) is secure
    assert cookie["httponly"]
    assert cookie["samesite"] == "Strict"
    assert cookie["path"] == "/"


async def test_the_json_routes_the_dashboard_reads_keep_their_scopes(guarded: Browser) -> None:
    async def call(method: str, path: str, token: str) -> int:
        headers = {"Authorization": f"Bearer {token}"}
        async with guarded.session.request(
            method, guarded.url + path, headers=headers, json={}
        ) as answer:
            return answer.status

    assert await call("GET", "/api/v1/fleet", READER) == 200
    assert await call("GET", "/api/v1/apps/web/resources", READER) == 200
    assert await call("GET", "/api/v1/apps/web/commits/3f2a9c1d", READER) == 404
    assert await call("GET", "/api/v1/apps/web/commits/not-hex", READER) == 400
    assert await call("POST", "/api/v1/apps/web/refresh", READER) == 403
    assert await call("POST", "/api/v1/apps/web/refresh", ADMIN) == 200
    assert await call("GET", "/api/v1/apps/api/resources", WEB_CI) == 403
    assert guarded.fake.refreshes == [("web", None)]


async def test_a_page_that_fails_answers_a_page_with_the_headers(guarded: Browser) -> None:
    await guarded.sign_in(READER)

    async def broken() -> dict[str, object]:
        raise RuntimeError("boom")

    guarded.fake.fleet_overview = broken  # type: ignore[method-assign]
    status, html, headers = await guarded.get("/")
    assert status == 500
    assert "internal error" in html
    assert "boom" not in html
    assert headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
