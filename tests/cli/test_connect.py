"""Finding the daemon: the settings ``fleet run`` uses, ``--address``, and clear failures."""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest
from aiohttp import web

from tests.cli.fakedaemon import FakeDaemon
from tests.cli.harness import TOKEN, Served, run_fleet, seed, serve_fake

pytestmark = pytest.mark.anyio


@pytest.fixture
async def unix_daemon(tmp_path: Path) -> AsyncIterator[Served]:
    """The API on a unix socket."""
    token_file = tmp_path / "api-token"
    token_file.write_text(TOKEN)
    path = tmp_path / "api.sock"
    async with anyio.create_task_group() as tasks:
        fake = FakeDaemon(tasks)
        seed(fake)
        runner = await serve_fake(fake, token_file, lambda r: web.UnixSite(r, str(path)))
        try:
            yield Served(fake, f"unix:{path}", token_file)
        finally:
            await runner.cleanup()
            tasks.cancel_scope.cancel()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("command", ["status", "diff web", "sync web", "history", "events"])
async def test_unreachable_daemon_exits_3_naming_the_address(
    capsys: pytest.CaptureFixture[str], command: str
) -> None:
    address = f"127.0.0.1:{free_port()}"
    outcome = await run_fleet(capsys, *command.split(), "--address", address)
    assert outcome.code == 3
    assert f"cannot reach the fleet daemon at {address}" in outcome.err
    assert "is the daemon running there?" in outcome.err
    assert "Traceback" not in outcome.err


async def test_missing_unix_socket_exits_3(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    outcome = await run_fleet(capsys, "status", "--address", f"unix:{tmp_path / 'none.sock'}")
    assert outcome.code == 3
    assert f"cannot reach the fleet daemon at unix:{tmp_path / 'none.sock'}" in outcome.err


async def test_settings_file_gives_address_and_token_over_a_unix_socket(
    capsys: pytest.CaptureFixture[str], unix_daemon: Served, tmp_path: Path
) -> None:
    settings = tmp_path / "fleet-settings.yaml"
    settings.write_text(
        f"api_address: {unix_daemon.address}\napi_token_file: {unix_daemon.token_file.name}\n"
    )
    status = await run_fleet(capsys, "status", "--json", "--settings", str(settings))
    assert status.code == 0, status.err
    assert len(json.loads(status.out)) == 4
    synced = await run_fleet(capsys, "sync", "api", "--no-wait", "--settings", str(settings))
    assert synced.code == 0, synced.err
    assert [c.app for c in unix_daemon.fake.calls] == ["api"]


async def test_environment_variables_like_fleet_run(
    capsys: pytest.CaptureFixture[str], unix_daemon: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLEET_API_ADDRESS", unix_daemon.address)
    monkeypatch.setenv("FLEET_API_TOKEN_FILE", str(unix_daemon.token_file))
    outcome = await run_fleet(capsys, "sync", "web", "--cluster", "dev", "--wait")
    assert outcome.code == 0, outcome.err
    assert "Succeeded" in outcome.out


async def test_fleet_settings_variable_names_the_file(
    capsys: pytest.CaptureFixture[str], unix_daemon: Served, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    settings = tmp_path / "settings.yaml"
    settings.write_text(
        f"api_address: '{unix_daemon.address}'\napi_token_file: {unix_daemon.token_file}\n"
    )
    monkeypatch.setenv("FLEET_SETTINGS", str(settings))
    outcome = await run_fleet(capsys, "history", "--json")
    assert outcome.code == 0, outcome.err
    assert [r["id"] for r in json.loads(outcome.out)] == [7, 6, 5]


async def test_address_flag_wins_over_the_settings(
    capsys: pytest.CaptureFixture[str], daemon: Served, tmp_path: Path
) -> None:
    settings = tmp_path / "settings.yaml"
    settings.write_text(f"api_address: 127.0.0.1:{free_port()}\n")
    outcome = await run_fleet(
        capsys, "status", "--settings", str(settings), "--address", daemon.address
    )
    assert outcome.code == 0, outcome.err


async def test_invalid_settings_exit_2_naming_the_problem(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    settings = tmp_path / "settings.yaml"
    settings.write_text("api_address: nowhere\n")
    outcome = await run_fleet(capsys, "status", "--settings", str(settings))
    assert outcome.code == 2
    assert "fleet status: cannot load the settings" in outcome.err
    assert "settings.yaml" in outcome.err


async def test_invalid_address_flag_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    outcome = await run_fleet(capsys, "status", "--address", "no-port-here")
    assert outcome.code == 2
    assert "is not host:port or unix:PATH" in outcome.err
