"""``fleet audit``: the API's audit log, read through the real HTTP API."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest
from aiohttp import web

from fleet.adapters.http.routes import ApiAccess
from fleet.adapters.http.server import build_app
from fleet.adapters.store import AsyncHistoryStore
from fleet.config.api_tokens import ApiToken, legacy_token
from tests.cli.fakedaemon import FakeDaemon
from tests.cli.harness import TOKEN, Served, run_fleet, seed
from tests.cli.test_fast_path import assert_fast, imported_by

pytestmark = pytest.mark.anyio


@pytest.fixture
async def audited(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Served]:
    """The API with an admin token (the CLI's) and a read-only one, and a real audit log."""
    admin = tmp_path / "api-token"
    admin.write_text(TOKEN + "\n")
    (tmp_path / "reader").write_text("reader-token\n")
    monkeypatch.setenv("FLEET_API_TOKEN_FILE", str(admin))
    tokens = [
        legacy_token(admin),
        ApiToken(name="reader", token_file=tmp_path / "reader", scopes=["read"]),
    ]
    async with (
        await AsyncHistoryStore.open(tmp_path / "history.sqlite3") as store,
        anyio.create_task_group() as tasks,
    ):
        fake = FakeDaemon(tasks)
        seed(fake)
        app = build_app(fake, ApiAccess.with_tokens(tokens), store)
        runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=0.5)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        try:
            yield Served(fake, f"127.0.0.1:{runner.addresses[0][1]}", admin)
        finally:
            await runner.cleanup()
            tasks.cancel_scope.cancel()


async def test_audit_shows_who_synced_what_and_who_was_refused(
    audited: Served, capsys: pytest.CaptureFixture[str], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    address = ("--address", audited.address)
    assert (await run_fleet(capsys, "sync", "web", "--no-wait", *address)).code == 0
    monkeypatch.setenv("FLEET_API_TOKEN_FILE", str(tmp_path / "reader"))
    refused = await run_fleet(capsys, "sync", "api", "--no-wait", *address)
    assert refused.code == 2
    assert "token reader does not have the sync scope" in refused.err
    assert "point FLEET_API_TOKEN_FILE at a token with the scope and apps" in refused.err
    # The read-only token cannot read the audit log either.
    denied = await run_fleet(capsys, "audit", *address)
    assert denied.code == 2
    assert "(403): token reader does not have the admin scope" in denied.err

    monkeypatch.setenv("FLEET_API_TOKEN_FILE", str(audited.token_file))
    table = await run_fleet(capsys, "audit", "--color", "never", *address)
    assert table.code == 0, table.err
    lines = table.out.splitlines()
    assert lines[0].split() == [
        "ID",
        "WHEN",
        "TOKEN",
        "FROM",
        "REQUEST",
        "APP",
        "STATUS",
        "MESSAGE",
    ]
    assert after_when(lines[1]) == [
        "reader", "127.0.0.1", "POST", "/api/v1/apps/api/sync", "api", "403", "denied",
    ]  # fmt: skip
    assert after_when(lines[2]) == [
        "default", "127.0.0.1", "POST", "/api/v1/apps/web/sync", "web", "202", "ok",
    ]  # fmt: skip

    as_json = await run_fleet(capsys, "audit", "--json", "--token", "default", *address)
    rows = json.loads(as_json.out)
    assert [(r["principal"], r["app"], r["status"]) for r in rows] == [("default", "web", 202)]
    assert TOKEN not in as_json.out


def after_when(line: str) -> list[str]:
    """The columns from TOKEN to STATUS (WHEN is "now" or "3s ago")."""
    words = line.split()
    start = next(i for i, w in enumerate(words) if w in ("reader", "default"))
    return words[start : start + 7]


async def test_an_empty_audit_log_says_so(
    audited: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    outcome = await run_fleet(capsys, "audit", "--app", "web", "--address", audited.address)
    assert (outcome.code, outcome.out) == (0, "no API writes recorded for this selection\n")


async def test_audit_takes_the_fast_path(audited: Served, tmp_path: Path) -> None:
    argv = ("audit", "--limit", "5")
    code, modules, out = await imported_by(tmp_path, *argv, "--address", audited.address)
    assert code == 0, out
    assert out == "no API writes recorded\n"
    assert_fast(argv, modules)
