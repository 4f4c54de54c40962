"""Dashboard sign-ins are server-side sessions: the cookie holds a random id, never the
token; sessions end on sign-out, when idle or old, when their token goes, and at restart."""

from __future__ import annotations

from pathlib import Path

import pytest
from yarl import URL

from fleet.adapters.http.access import Principal, TokenRegistry, digest
from fleet.adapters.http.sessions import SessionStore
from fleet.config.api_tokens import ApiToken
from tests.adapters.http.apiserver import token_file
from tests.adapters.http.dashfake import Browser, serve_dashboard
from tests.adapters.http.test_dashboard_security import ADMIN, READER, tokens

pytestmark = pytest.mark.anyio


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def session_cookie(browser: Browser) -> str:
    cookie = browser.session.cookie_jar.filter_cookies(URL(browser.url)).get("fleet_session")
    assert cookie is not None, "not signed in"
    return cookie.value


async def test_the_cookie_holds_a_random_session_id_not_the_token(tmp_path: Path) -> None:
    async with serve_dashboard(tmp_path, tokens(tmp_path)) as browser:
        status, headers = await browser.sign_in(ADMIN)
        assert status == 303
        set_cookies = " ".join(headers.getall("Set-Cookie"))
        value = session_cookie(browser)
        assert ADMIN not in set_cookies
        assert value != ADMIN
        assert ADMIN not in value
        assert digest(ADMIN).hex() not in set_cookies
        assert len(value) >= 40  # 32 random bytes, URL-safe base64
        assert (await browser.get("/"))[0] == 200
        # A second sign-in gets another id; the first one ends with it.
        await browser.sign_in(ADMIN)
        assert session_cookie(browser) != value
        browser.session.cookie_jar.update_cookies({"fleet_session": value}, URL(browser.url))
        assert (await browser.get("/"))[0] == 303


async def test_sign_out_ends_the_session_even_for_a_copied_cookie(tmp_path: Path) -> None:
    async with serve_dashboard(tmp_path, tokens(tmp_path)) as browser:
        await browser.sign_in(READER)
        stolen = session_cookie(browser)
        csrf = await browser.csrf("/")
        assert (await browser.post("/logout", {"csrf": csrf}))[0] == 303
        browser.session.cookie_jar.update_cookies({"fleet_session": stolen}, URL(browser.url))
        status, _, headers = await browser.get("/apps/web")
        posted = await browser.post("/apps/web/sync", {"csrf": csrf})
    assert status == 303
    assert headers["Location"].startswith("/login")
    assert posted[0] == 401
    assert "the sign-in has ended" in posted[1]
    assert browser.fake.calls == []


@pytest.mark.parametrize(
    ("steps", "alive"),
    [
        pytest.param([3000.0, 3000.0, 3000.0], True, id="used-within-idle"),
        pytest.param([7201.0], False, id="idle-too-long"),
        pytest.param([7100.0] * 6 + [700.0], False, id="absolute-limit"),
    ],
)
async def test_a_session_ends_when_idle_or_old(
    tmp_path: Path, steps: list[float], alive: bool
) -> None:
    clock = Clock()
    store = SessionStore(idle=7200, absolute=43200, clock=clock)
    async with serve_dashboard(tmp_path, tokens(tmp_path), sessions=store) as browser:
        await browser.sign_in(READER)
        statuses = []
        for step in steps:
            clock.now += step
            statuses.append((await browser.get("/"))[0])
    assert statuses[:-1] == [200] * (len(steps) - 1)
    assert statuses[-1] == (200 if alive else 303)
    assert len(store) == (1 if alive else 0)


async def test_a_token_rotated_or_removed_ends_its_sessions(tmp_path: Path) -> None:
    async with serve_dashboard(tmp_path, tokens(tmp_path)) as browser:
        await browser.sign_in(READER)
        assert (await browser.get("/"))[0] == 200
        (tmp_path / "reader").write_text("a-new-reader-t0ken\n")  # rotated in its file
        assert (await browser.get("/"))[0] == 303
        # Put back: the session stays ended (the registry does not revive it).
        (tmp_path / "reader").write_text(READER + "\n")
        assert (await browser.get("/"))[0] == 303


def test_a_session_follows_the_token_as_configured_now(tmp_path: Path) -> None:
    """Scopes and app limits come from the registry at each request, by the digest."""
    path = token_file(tmp_path, "ci", "ci-t0ken")
    registry = TokenRegistry([ApiToken(name="ci", token_file=path, scopes=["read"])])
    store = SessionStore()
    session = store.open(Principal("ci", frozenset({"read"})), digest("ci-t0ken"))
    first = store.principal(session, registry)
    assert first is not None
    assert not first.may("sync")
    registry.tokens = (ApiToken(name="ci", token_file=path, scopes=["read", "sync"], apps=["web"]),)
    now = store.principal(session, registry)
    assert now is not None
    assert now.may("sync")
    assert now.apps == ("web",)
    registry.tokens = ()  # removed from the settings
    assert store.principal(session, registry) is None
    assert len(store) == 0
    assert store.principal("x" * 65, registry) is None


async def test_sessions_end_when_the_daemon_restarts(tmp_path: Path) -> None:
    async with serve_dashboard(tmp_path, tokens(tmp_path)) as browser:
        await browser.sign_in(ADMIN)
        before = session_cookie(browser)
        assert (await browser.get("/"))[0] == 200
    async with serve_dashboard(tmp_path, tokens(tmp_path)) as restarted:
        restarted.session.cookie_jar.update_cookies({"fleet_session": before}, URL(restarted.url))
        assert (await restarted.get("/"))[0] == 303


def test_at_most_limit_sessions_are_kept_the_oldest_going_first() -> None:
    store = SessionStore(limit=2)
    registry = TokenRegistry([ApiToken(name="t", sha256=digest("tok").hex(), scopes=["read"])])
    who = Principal("t", frozenset({"read"}))
    first, second, third = (store.open(who, digest("tok")) for _ in range(3))
    assert store.principal(first, registry) is None
    assert store.principal(second, registry) is not None
    assert store.principal(third, registry) is not None
