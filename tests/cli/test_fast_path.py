"""The fast path: the commands that only make requests import only what they need.

Their speed (bench/cli.py prints it: well under 0.3 s) comes from what they do not
import: no event loop, no HTTP library but the standard one, no settings model, none of
the daemon's packages. Each command runs here in a fresh interpreter against the served
fake daemon, and the modules it imported are checked; a new import on that path fails
this test instead of quietly costing every user a few hundred milliseconds.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import anyio
import pytest

from tests.cli.harness import Served

pytestmark = pytest.mark.anyio

#: Top-level packages a fast command must not import, and why they are slow.
FORBIDDEN_PACKAGES = {
    "asyncio": "an event loop: the fast path runs its coroutine without one",
    "anyio": "an event loop",
    "aiohttp": "the HTTP client is http.client",
    "pydantic": "settings are read by fleet.cli.daemonsettings",
    "pydantic_settings": "settings are read by fleet.cli.daemonsettings",
    "kubernetes_asyncio": "the CLI talks to the daemon, never to a cluster",
    "opentelemetry": "the daemon traces; the CLI does not",
    "pygit2": "the daemon reads Git",
    "yaml": "no settings file was given",
}
#: fleet packages a fast command must not import.
FORBIDDEN_FLEET = (
    "fleet.config",
    "fleet.engine",
    "fleet.runtime",
    "fleet.adapters.kube",
    "fleet.adapters.store",
    "fleet.adapters.http.server",
    "fleet.sim",
)

PROBE = """
import json, sys
from fleet.cli import main
code = main(sys.argv[2:])
with open(sys.argv[1], "w") as handle:
    json.dump({"code": code, "modules": sorted(sys.modules)}, handle)
"""


async def imported_by(tmp_path: Path, *argv: str) -> tuple[int, set[str], str]:
    report = tmp_path / "modules.json"
    done = await anyio.run_process(
        [sys.executable, "-c", PROBE, str(report), *argv],
        check=False,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    data = json.loads(report.read_text())
    return int(data["code"]), set(data["modules"]), done.stdout.decode()


#: The shared modules a command may import besides its own, connect, output and
#: daemonsettings (all standard library and fleet.cli only).
SHARED = {
    "history": {"fleet.cli.paging"},
    "audit": {"fleet.cli.paging"},
    "suspend": {"fleet.cli.suspension"},
    "resume": {"fleet.cli.suspension"},
    "cluster": {"fleet.cli.suspension"},
    "plan": {"fleet.cli.diff"},  # its diff colours, with --diff
    "status": {"fleet.cli.config_header"},  # the config in force, above the table
}


@pytest.mark.parametrize(
    ("argv", "exit_code"),
    [
        (("status",), 0),
        (("status", "--json", "--app", "web"), 0),
        (("history",), 0),
        (("history", "show", "6"), 0),
        (("events",), 0),
        (("events", "--since", "1", "--json"), 0),
        (("diff", "web"), 1),
        (("plan",), 1),
        (("plan", "web", "--diff"), 1),
        (("rollout", "status", "web"), 0),
        (("rollout", "promote", "web"), 0),
        (("rollback", "web", "--now"), 0),
    ],
    ids=lambda value: " ".join(value) if isinstance(value, tuple) else f"exit {value}",
)
async def test_commands_that_only_make_requests_import_no_heavy_module(
    argv: tuple[str, ...], exit_code: int, daemon: Served, tmp_path: Path
) -> None:
    code, modules, out = await imported_by(tmp_path, *argv, "--address", daemon.address)
    assert code == exit_code, out
    assert out.strip(), "the command printed its answer"
    assert_fast(argv, modules)


def assert_fast(argv: tuple[str, ...], modules: set[str]) -> None:
    """``modules`` (what ``fleet *argv`` imported) hold nothing slow and no other command.

    Also used by test_suspend.py and test_audit.py, whose fake daemons answer those
    commands."""
    heavy = {
        name: FORBIDDEN_PACKAGES[name.split(".")[0]]
        for name in modules
        if name.split(".")[0] in FORBIDDEN_PACKAGES
    }
    assert not heavy, f"{' '.join(argv)} imported {sorted(heavy)}: {sorted(set(heavy.values()))}"
    internal = sorted(m for m in modules if m.startswith(FORBIDDEN_FLEET))
    assert not internal, f"{' '.join(argv)} imported {internal}"
    others = sorted(
        m for m in modules if m.startswith("fleet.cli.") and m != "fleet.cli." + argv[0]
    )
    allowed = {"fleet.cli.connect", "fleet.cli.output", "fleet.cli.daemonsettings"}
    assert set(others) <= allowed | SHARED.get(argv[0], set()), (
        f"{argv[0]} imported other commands: {others}"
    )


async def test_a_settings_file_is_read_without_the_settings_model(
    daemon: Served, tmp_path: Path
) -> None:
    settings = tmp_path / "settings.yaml"
    settings.write_text(f"api_address: '{daemon.address}'\n")
    code, modules, out = await imported_by(tmp_path, "status", "--settings", str(settings))
    assert code == 0, out
    assert "APP" in out
    assert not {m for m in modules if m.split(".")[0] in {"pydantic", "pydantic_settings"}}


async def test_a_command_that_polls_gets_an_event_loop(daemon: Served, tmp_path: Path) -> None:
    """``fleet sync --wait`` sleeps between polls: it runs on asyncio, and works."""
    code, modules, out = await imported_by(
        tmp_path, "sync", "api", "--wait", "--timeout", "30", "--address", daemon.address
    )
    assert code == 0, out
    assert "asyncio" in modules
    assert "Succeeded" in out
