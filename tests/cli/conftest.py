"""Fixtures: the daemon's real HTTP API (``build_app``) over a fake ``DaemonApi``, and a
way to run ``fleet`` commands against it in-process, capturing what they print."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest
from aiohttp import web

from tests.cli.fakedaemon import FakeDaemon
from tests.cli.harness import TOKEN, Invoke, Outcome, Served, run_fleet, seed, serve_fake


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI reads FLEET_* and NO_COLOR: none of the caller's may leak into a test."""
    for name in list(os.environ):
        if name.startswith("FLEET_") or name in {"NO_COLOR", "COLUMNS"}:
            monkeypatch.delenv(name)
    monkeypatch.setenv("COLUMNS", "100")


@pytest.fixture
async def daemon(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Served]:
    """The API on a free loopback port; the CLI finds its token via FLEET_API_TOKEN_FILE."""
    token_file = tmp_path / "api-token"
    token_file.write_text(TOKEN + "\n")
    monkeypatch.setenv("FLEET_API_TOKEN_FILE", str(token_file))
    async with anyio.create_task_group() as tasks:
        fake = FakeDaemon(tasks)
        seed(fake)
        runner = await serve_fake(fake, token_file, lambda r: web.TCPSite(r, "127.0.0.1", 0))
        port = runner.addresses[0][1]
        try:
            yield Served(fake, f"127.0.0.1:{port}", token_file)
        finally:
            await runner.cleanup()
            tasks.cancel_scope.cancel()


@pytest.fixture
def cli(daemon: Served, capsys: pytest.CaptureFixture[str]) -> Invoke:
    """``await cli("status", "--json")``: run ``fleet`` against ``daemon``."""

    async def invoke(*argv: str, address: str | None = None) -> Outcome:
        return await run_fleet(capsys, *argv, "--address", address or daemon.address)

    return invoke
