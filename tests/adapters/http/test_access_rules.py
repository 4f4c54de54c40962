"""The access rule as a table, the token registry, and the rate limiter's arithmetic."""

from __future__ import annotations

import os
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from fleet.adapters.http.access import Principal, TokenRegistry, bearer, decide
from fleet.adapters.http.ratelimit import RateLimiter
from fleet.adapters.http.routes import ApiAccess, Route, install
from fleet.config import ConfigError, load_settings
from fleet.config.api_tokens import ApiToken

READER = Principal("reader", frozenset({"read"}))
SYNCER = Principal("ci", frozenset({"read", "sync"}))

# (scope, principal, tokens configured, token given, loopback) -> (status or None)
RULES = [
    ("health is open to all", "public", None, True, False, False, None),
    ("webhooks check their own signature", "signed", None, True, False, False, None),
    ("a read with a read token", "read", READER, True, True, False, None),
    ("a sync with a read token", "sync", READER, True, True, True, 403),
    ("a sync with a sync token", "sync", SYNCER, True, True, False, None),
    ("admin needs admin", "admin", SYNCER, True, True, True, 403),
    ("metrics is not read", "metrics", READER, True, True, True, 403),
    ("no token where tokens are set, on loopback too", "read", None, True, False, True, 401),
    ("a wrong token", "read", None, True, True, True, 401),
    ("no tokens configured, loopback read", "read", None, False, False, True, None),
    ("no tokens configured, loopback metrics", "metrics", None, False, False, True, None),
    ("no tokens configured, off loopback", "read", None, False, False, False, 401),
    ("no tokens configured: no changes", "sync", None, False, False, True, 403),
    ("no tokens configured: no admin", "admin", None, False, True, True, 403),
]


@pytest.mark.parametrize(
    ("case", "scope", "principal", "configured", "given", "loopback", "status"),
    RULES,
    ids=[rule[0] for rule in RULES],
)
def test_access_rule(
    case: str,
    scope: str,
    principal: Principal | None,
    configured: bool,
    given: bool,
    loopback: bool,
    status: int | None,
) -> None:
    refusal = decide(scope, principal, configured, given, loopback)  # type: ignore[arg-type]
    assert (refusal.status if refusal else None) == status


@pytest.mark.parametrize(
    ("header", "token"),
    [
        (None, None),
        ("Bearer abc", "abc"),
        ("bearer   abc  ", "abc"),
        ("Basic abc", ""),
        ("Bearer", ""),
        ("abc", ""),
    ],
)
def test_bearer_header(header: str | None, token: str | None) -> None:
    assert bearer(header) == token


def test_registry_finds_tokens_by_file_or_digest_and_reads_rotated_files(tmp_path: Path) -> None:
    path = tmp_path / "ci"
    path.write_text("first\n")
    registry = TokenRegistry(
        [
            ApiToken(name="ci", token_file=path, scopes=["sync"], apps=["web-*"]),
            ApiToken(
                name="prom",
                sha256="2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881",  # x
                scopes=["metrics"],
            ),
        ]
    )
    found = registry.identify("first")
    assert found == Principal("ci", frozenset({"read", "sync"}), ("web-*",))
    assert found.may_touch("web-eu")
    assert not found.may_touch("api")
    assert registry.identify("x") == Principal("prom", frozenset({"metrics"}))
    assert registry.identify("") is None
    assert registry.identify("second") is None
    path.write_text("second\n")
    assert registry.identify("first") is None
    assert registry.identify("second") is not None


def test_registry_names_unreadable_and_empty_token_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_text("\n")
    registry = TokenRegistry(
        [
            ApiToken(name="gone", token_file=tmp_path / "missing", scopes=["read"]),
            ApiToken(name="blank", token_file=empty, scopes=["read"]),
        ]
    )
    assert registry.problems() == [
        f"API token gone: cannot read {tmp_path / 'missing'}: No such file or directory",
        f"API token blank: {empty} is empty",
    ]
    assert registry.identify("") is None


def test_token_bucket_refills_at_its_rate() -> None:
    now = [0.0]
    limiter = RateLimiter(per_minute=30.0, burst=3, clock=lambda: now[0])
    assert [limiter.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.take("a") == pytest.approx(2.0)  # one request every 2 s
    assert limiter.take("b") == 0.0
    now[0] = 1.0
    assert limiter.take("a") == pytest.approx(1.0)
    now[0] = 2.0
    assert limiter.take("a") == 0.0
    now[0] = 100.0  # a long pause refills up to the burst, not beyond
    assert [limiter.take("a") == 0.0 for _ in range(4)] == [True, True, True, False]


async def _serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"


@pytest.mark.anyio
async def test_routes_declare_their_scope_and_undeclared_ones_are_refused(tmp_path: Path) -> None:
    """A new route is one line in the table; one added around it is never open."""
    (tmp_path / "ci").write_text("ci-token\n")

    async def ok(_: web.Request) -> web.Response:
        return web.json_response({"done": True})

    app = web.Application()
    install(
        app,
        [
            Route("POST", "/api/v1/apps/{app}/suspend", ok, "sync", app_param="app"),
            Route("POST", "/api/v1/clusters/{cluster}/suspend", ok, "sync"),
        ],
        ApiAccess.with_tokens(
            [ApiToken(name="ci", token_file=tmp_path / "ci", scopes=["sync"], apps=["web"])]
        ),
        None,
    )
    app.router.add_get("/undeclared", ok)
    runner, url = await _serve(app)
    auth = {"Authorization": "Bearer ci-token"}
    try:
        async with aiohttp.ClientSession() as session:

            async def status(method: str, path: str) -> tuple[int, str]:
                async with session.request(method, url + path, headers=auth) as response:
                    if response.content_type != "application/json":
                        return response.status, ""
                    return response.status, (await response.json()).get("error", "")

            assert await status("POST", "/api/v1/apps/web/suspend") == (200, "")
            assert (await status("POST", "/api/v1/apps/api/suspend"))[0] == 403
            # A write that is not about one app is beyond a token limited to apps.
            assert await status("POST", "/api/v1/clusters/prod/suspend") == (
                403,
                "token ci is limited to apps: this request is not about one app",
            )
            assert await status("GET", "/undeclared") == (
                500,
                "this route declares no access scope",
            )
            assert (await status("GET", "/nothing-here"))[0] == 404
    finally:
        await runner.cleanup()


def test_the_daemon_does_not_start_with_an_unreadable_or_empty_token_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in list(os.environ):
        if name.startswith("FLEET_"):
            monkeypatch.delenv(name)
    (tmp_path / "empty").write_text("  \n")
    monkeypatch.setenv("FLEET_API_TOKEN_FILE", str(tmp_path / "empty"))
    with pytest.raises(ConfigError) as raised:
        ApiAccess.from_settings(load_settings(None))
    assert str(raised.value) == f"settings: API token default: {tmp_path / 'empty'} is empty"
    (tmp_path / "empty").write_text("t0ken\n")
    monkeypatch.setenv("FLEET_API_ADDRESS", "10.1.2.3:8787")
    access = ApiAccess.from_settings(load_settings(None))
    assert not access.loopback
    assert access.registry.identify("t0ken") is not None


def test_the_dry_run_rate_and_replay_window_come_from_the_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in list(os.environ):
        if name.startswith("FLEET_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("FLEET_API_DRY_RUN_RATE", "6")
    monkeypatch.setenv("FLEET_API_DRY_RUN_BURST", "2")
    monkeypatch.setenv("FLEET_WEBHOOK_REPLAY_WINDOW", "30s")
    access = ApiAccess.from_settings(load_settings(None))
    # A burst of two, then one request every 10 s (6 a minute); the defaults (a burst of
    # six) would let the third through.
    assert access.limiter.take("reader") == 0.0
    assert access.limiter.take("reader") == 0.0
    assert access.limiter.take("reader") == pytest.approx(10.0, abs=0.5)
    assert access.replay.window == 30.0
