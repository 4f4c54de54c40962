"""Inline Lua that does not compile is a config error, refused like any other.

The daemon refuses such a config at start, on SIGHUP and from a config source (see
tests/e2e/test_daemon_lua_health.py for SIGHUP); here the check itself and the config
source path, against a real ``git daemon`` on loopback. Scripts in directories are not
part of the check: those in Git are repository content, judged at run time.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from fleet.adapters.git.specs import GitTimeouts
from fleet.adapters.health.validation import inline_lua_issues, refuse_uncompilable_lua
from fleet.adapters.telemetry.config_metrics import ConfigMetrics
from fleet.config import ConfigError, load_fleet_config
from fleet.config.config_source import ConfigSource
from fleet.runtime.config_source import ConfigSourceWatcher, ConfigState
from tests.support.gitrepos import WorkRepo, init_bare
from tests.support.gitservers import GitDaemon

BROKEN = """\
clusters: []
health:
  lua:
    argoproj.io/Rollout: |
      if obj.status == nil then
        return {status = "Progressing"
      end
      return {status = "Healthy"}
"""
GOOD = BROKEN.replace('"Progressing"\n', '"Progressing"}\n')


def test_a_block_script_that_does_not_compile_is_named_at_its_own_line(tmp_path: Path) -> None:
    path = tmp_path / "fleet.yaml"
    path.write_text(BROKEN)
    config = load_fleet_config(path)  # the schema is happy: only Lua can tell
    [issue] = inline_lua_issues(config)
    # Lua's line 3 (the `end` where `}` was expected) is the file's line 4 + 3.
    assert (issue.file, issue.line, issue.column) == (str(path), 7, 7)
    assert issue.path == ("health", "lua", "argoproj.io/Rollout")
    assert "Lua syntax error: health.lua[argoproj.io/Rollout]:3:" in issue.message
    assert "'}' expected" in issue.message
    with pytest.raises(ConfigError) as refused:
        refuse_uncompilable_lua(config)
    assert str(refused.value.errors[0]).startswith(f"{path}:7:7: health.lua[")


def test_a_quoted_script_is_named_at_its_key(tmp_path: Path) -> None:
    path = tmp_path / "fleet.yaml"
    path.write_text('clusters: []\nhealth:\n  lua:\n    Pod: "return {"\n')
    [issue] = inline_lua_issues(load_fleet_config(path))
    assert issue.line == 4
    assert "health.lua[Pod]:1:" in issue.message


def test_scripts_that_compile_and_directories_are_not_refused(tmp_path: Path) -> None:
    tree = tmp_path / "tree" / "example.com" / "Widget"
    tree.mkdir(parents=True)
    (tree / "health.lua").write_text("return {\n")  # run-time Unknown, not a config error
    path = tmp_path / "fleet.yaml"
    path.write_text(GOOD + f"  luaDirectories:\n    - path: {tmp_path / 'tree'}\n")
    config = load_fleet_config(path)
    assert inline_lua_issues(config) == []
    assert refuse_uncompilable_lua(config) is config


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[WorkRepo, str]]:
    bare = init_bare(tmp_path / "served" / "config.git")
    with GitDaemon(tmp_path / "served") as server:
        yield WorkRepo(tmp_path / "work", bare), server.url("config.git")


@pytest.mark.anyio
async def test_a_config_commit_with_broken_inline_lua_is_refused(
    served: tuple[WorkRepo, str], tmp_path: Path
) -> None:
    work, url = served
    work.write("fleet.yaml", GOOD)
    work.commit("good")
    work.push()
    events: list[tuple[str, str]] = []

    async def event(kind: str, message: str, *_: object) -> None:
        events.append((kind, message))

    source = ConfigSource(url=url, branch="main")
    state = ConfigState(None, source, ConfigMetrics(CollectorRegistry()))
    watcher = ConfigSourceWatcher(
        source, tmp_path / "state", GitTimeouts(5, 10), 60.0, state, event
    )
    first = await watcher.first_config()
    assert "argoproj.io/Rollout" in first.health.lua

    work.write("fleet.yaml", BROKEN)
    bad = work.commit("broken lua")
    work.push()
    assert await watcher._next_config() is None  # refused: the good config stays
    [(kind, message)] = events
    assert kind == "config_rejected"
    assert bad[:12] in message
    assert "fleet.yaml:7:7" in message
    assert "'}' expected" in message
