"""The daemon's health-check board: inline scripts, host trees and trees in Git sources.

Git sources are real repositories (a bare one on disk, fetched through fleet's mirror),
so what is tested is what the daemon does: read the tree at the commit the source's ref
names, and again when it moves.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from fleet.config import FleetConfig
from fleet.engine.health import explain
from fleet.model.health import HealthStatus
from fleet.runtime.desired import DesiredStateBuilder
from fleet.runtime.health_checks import HealthCheckBoard
from tests.support.gitrepos import WorkRepo, init_bare

pytestmark = pytest.mark.anyio


def script(status: str, message: str) -> str:
    return f'return {{status = "{status}", message = "{message}"}}\n'


ROLLOUT: dict[str, Any] = {
    "apiVersion": "argoproj.io/v1alpha1",
    "kind": "Rollout",
    "metadata": {"name": "web", "namespace": "shop"},
}
CERTIFICATE: dict[str, Any] = {
    "apiVersion": "cert-manager.io/v1",
    "kind": "Certificate",
    "metadata": {"name": "tls", "namespace": "shop"},
}
DEPLOYMENT: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "shop", "generation": 1},
    "spec": {"replicas": 1},
    "status": {
        "observedGeneration": 1,
        "replicas": 1,
        "updatedReplicas": 1,
        "availableReplicas": 1,
    },
}


@pytest.fixture
def origin(tmp_path: Path) -> WorkRepo:
    work = WorkRepo(tmp_path / "work", init_bare(tmp_path / "served" / "checks.git"))
    work.write("custom/argoproj.io/Rollout/health.lua", script("Progressing", "from git v1"))
    work.commit("checks v1")
    work.push()
    return work


def fleet_config(origin: WorkRepo, health: dict[str, Any]) -> FleetConfig:
    return FleetConfig.model_validate(
        {
            "sources": [{"name": "checks", "url": origin.origin.as_uri(), "branch": "main"}],
            "health": health,
        }
    )


@pytest.fixture
async def builder(origin: WorkRepo, tmp_path: Path) -> AsyncIterator[DesiredStateBuilder]:
    async with DesiredStateBuilder(fleet_config(origin, {}), tmp_path / "state") as builder:
        yield builder


async def test_a_tree_in_a_git_source_is_read_at_its_commit_and_again_when_it_moves(
    origin: WorkRepo, builder: DesiredStateBuilder
) -> None:
    config = fleet_config(origin, {"luaDirectories": [{"source": "checks", "path": "custom"}]})
    board = HealthCheckBoard()
    assert board.configure(config) == []
    assert board.pending() == {"checks"}
    # Not read yet: a kind without a built-in rule waits (Unknown), a built-in kind does not.
    waiting = board(ROLLOUT)
    assert waiting is not None
    assert waiting.health.status is HealthStatus.UNKNOWN
    assert "waiting for the health checks of source checks" in waiting.health.message
    assert board(DEPLOYMENT) is None

    revision = await builder.fetch(config.source("checks"))
    assert await board.source_moved("checks", revision, builder) == []
    verdict = explain(ROLLOUT, (), board)
    assert (verdict.health.status, verdict.health.message) == (
        HealthStatus.PROGRESSING,
        "from git v1",
    )
    shown = f"source checks@{revision.short_sha}:custom/argoproj.io/Rollout/health.lua"
    assert verdict.decided_by == f"Lua {shown}"
    assert board(CERTIFICATE) is None  # no script: built-ins and kstatus decide

    origin.write("custom/argoproj.io/Rollout/health.lua", script("Healthy", "from git v2"))
    origin.write("custom/cert-manager.io/Certificate/health.lua", script("Degraded", "cert"))
    origin.commit("checks v2")
    origin.push()
    moved = await builder.fetch(config.source("checks"))
    await board.source_moved("checks", moved, builder)
    assert board(ROLLOUT) is not None
    assert board(ROLLOUT).health.message == "from git v2"  # type: ignore[union-attr]
    assert board(CERTIFICATE).health.status is HealthStatus.DEGRADED  # type: ignore[union-attr]


async def test_a_directory_missing_at_the_commit_keeps_its_kinds_unknown_with_the_reason(
    origin: WorkRepo, builder: DesiredStateBuilder
) -> None:
    config = fleet_config(origin, {"luaDirectories": [{"source": "checks", "path": "nothere"}]})
    board = HealthCheckBoard()
    board.configure(config)
    revision = await builder.fetch(config.source("checks"))
    problems = await board.source_moved("checks", revision, builder)
    assert problems
    assert "nothere: no such directory" in problems[0]
    verdict = board(ROLLOUT)
    assert verdict is not None
    assert verdict.health.status is HealthStatus.UNKNOWN
    assert "nothere: no such directory" in verdict.health.message


async def test_inline_scripts_come_before_directories_and_reloads_keep_what_was_read(
    origin: WorkRepo, builder: DesiredStateBuilder, tmp_path: Path
) -> None:
    host = tmp_path / "host"
    (host / "cert-manager.io" / "Certificate").mkdir(parents=True)
    (host / "cert-manager.io" / "Certificate" / "health.lua").write_text(
        script("Healthy", "from the host")
    )
    health = {
        "lua": {"argoproj.io/Rollout": script("Suspended", "inline")},
        "luaDirectories": [{"source": "checks", "path": "custom"}, {"path": str(host)}],
    }
    config = fleet_config(origin, health)
    board = HealthCheckBoard()
    board.configure(config)
    revision = await builder.fetch(config.source("checks"))
    await board.source_moved("checks", revision, builder)
    assert board(ROLLOUT).health.message == "inline"  # type: ignore[union-attr]
    assert board(CERTIFICATE).health.message == "from the host"  # type: ignore[union-attr]
    # The same section again (a reload that changed something else): nothing re-read,
    # nothing pending.
    assert board.configure(fleet_config(origin, health)) == []
    assert board.pending() == set()
    # Without the inline script, the Git tree decides the Rollout.
    del health["lua"]
    board.configure(fleet_config(origin, health))
    assert board.pending() == set()  # the source's tree was kept
    assert board(ROLLOUT).health.message == "from git v1"  # type: ignore[union-attr]


async def test_a_broken_script_makes_its_kind_unknown_naming_the_file(tmp_path: Path) -> None:
    host = tmp_path / "host" / "argoproj.io" / "Rollout"
    host.mkdir(parents=True)
    (host / "health.lua").write_text("return {\n")
    config = FleetConfig.model_validate(
        {"health": {"luaDirectories": [{"path": str(host.parent.parent)}]}}
    )
    board = HealthCheckBoard()
    problems = board.configure(config)
    assert problems == [f"{host}/health.lua:2: unexpected symbol near '<eof>'"]
    verdict = board(ROLLOUT)
    assert verdict is not None
    assert verdict.health.status is HealthStatus.UNKNOWN
    assert verdict.health.message == problems[0]


def test_validate_with_render_reads_the_checks_in_git_sources(
    origin: WorkRepo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from fleet.cli import main

    origin.write("custom/cert-manager.io/Certificate/health.lua", "return {\n")
    origin.commit("a broken check")
    origin.push()
    config = tmp_path / "fleet.yaml"
    config.write_text(
        f"sources: [{{name: checks, url: '{origin.origin.as_uri()}', branch: main}}]\n"
        "health:\n  luaDirectories: [{source: checks, path: custom}]\n"
    )
    state = ["--state-dir", str(tmp_path / "cache")]
    assert main(["validate", "--config", str(config), *state]) == 0  # no fetch without --render
    capsys.readouterr()
    assert main(["validate", "--config", str(config), "--render", *state]) == 1
    out = capsys.readouterr().out
    assert "health.luaDirectories: source checks@" in out
    assert ":custom/cert-manager.io/Certificate/health.lua:2: unexpected symbol near '<eof>'" in out
    origin.write("custom/cert-manager.io/Certificate/health.lua", "return {}\n")
    origin.commit("fixed")
    origin.push()
    assert main(["validate", "--config", str(config), "--render", *state]) == 0


def test_fleet_health_fetches_git_checks_into_the_state_dir(
    origin: WorkRepo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    import yaml

    from fleet.cli import main

    config = tmp_path / "fleet.yaml"
    config.write_text(
        f"sources: [{{name: checks, url: '{origin.origin.as_uri()}', branch: main}}]\n"
        "health:\n  luaDirectories: [{source: checks, path: custom}]\n"
    )
    objects = tmp_path / "rollout.yaml"
    objects.write_text(yaml.safe_dump(ROLLOUT))
    cache = tmp_path / "mirrors"
    args = ["health", str(objects), "--config", str(config), "--state-dir", str(cache)]
    assert main([*args, "--json"]) == 0
    row = json.loads(capsys.readouterr().out)[0]
    assert (row["status"], row["message"]) == ("Progressing", "from git v1")
    assert row["decidedBy"].startswith("Lua source checks@")
    assert any(cache.iterdir())  # the mirror went where --state-dir said


async def test_problems_become_one_event_per_load(
    origin: WorkRepo, builder: DesiredStateBuilder
) -> None:
    events: list[tuple[str, str, dict[str, Any]]] = []

    async def event(kind: str, message: str, app: Any, cluster: Any, details: Any) -> None:
        events.append((kind, message, dict(details)))

    origin.write("custom/cert-manager.io/Certificate/health.lua", "return {\n")
    origin.commit("a broken check")
    origin.push()
    config = fleet_config(origin, {"luaDirectories": [{"source": "checks", "path": "custom"}]})
    board = HealthCheckBoard(event)
    board.configure(config)
    revision = await builder.fetch(config.source("checks"))
    await board.source_moved("checks", revision, builder)
    assert len(events) == 1
    kind, message, details = events[0]
    assert kind == "health_checks_invalid"
    assert details == {"source": "checks"}
    assert "custom/cert-manager.io/Certificate/health.lua:2: unexpected symbol" in message
    # The broken script's kind is Unknown with the error; the others still work.
    assert board(CERTIFICATE).health.status is HealthStatus.UNKNOWN  # type: ignore[union-attr]
    assert board(ROLLOUT).health.message == "from git v1"  # type: ignore[union-attr]


async def test_a_directory_linking_out_of_the_repository_is_not_read(
    origin: WorkRepo, builder: DesiredStateBuilder, tmp_path: Path
) -> None:
    outside = tmp_path / "outside" / "argoproj.io" / "Rollout"
    outside.mkdir(parents=True)
    (outside / "health.lua").write_text(script("Healthy", "from the host"))
    origin.symlink("linked", str(tmp_path / "outside"))
    origin.commit("a link out")
    origin.push()
    config = fleet_config(origin, {"luaDirectories": [{"source": "checks", "path": "linked"}]})
    board = HealthCheckBoard()
    board.configure(config)
    revision = await builder.fetch(config.source("checks"))
    problems = await board.source_moved("checks", revision, builder)
    assert "a link out of the repository" in problems[0]
    verdict = board(ROLLOUT)
    assert verdict is not None
    assert verdict.health.status is HealthStatus.UNKNOWN  # never "from the host"
