"""The examples users copy: config/, and the fleet config shown in docs/config.md."""

from __future__ import annotations

import argparse
import re
import shutil
from pathlib import Path

import pytest

from fleet.cli import render as render_command
from fleet.cli import validate as validate_command
from fleet.config import Settings, check_fleet_config, load_fleet_config, load_settings
from tests.support.gitrepos import WorkRepo, init_bare

ROOT = Path(__file__).resolve().parents[2]


def test_example_fleet_config_has_no_issue() -> None:
    config, issues = check_fleet_config(ROOT / "config" / "fleet.yaml")
    assert issues == []
    assert config is not None
    assert [w.wave.name for w in config.waves_for(config.app("web"))] == ["dev", "staging", "prod"]


def test_example_settings_show_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(__import__("os").environ):
        if name.upper().startswith("FLEET_"):
            monkeypatch.delenv(name)
    from_file = load_settings(ROOT / "config" / "settings.yaml")
    assert from_file == Settings()


def test_docs_example_validates(tmp_path: Path) -> None:
    text = (ROOT / "docs" / "config.md").read_text()
    blocks = [
        b for b in re.findall(r"```yaml\n(.*?)```", text, re.S) if b.startswith("# fleet.yaml")
    ]
    assert blocks, "docs/config.md shows a fleet config"
    for index, block in enumerate(blocks):
        path = tmp_path / f"example-{index}.yaml"
        path.write_text(block)
        config, issues = check_fleet_config(path, files=False)
        assert [str(i) for i in issues] == []
        assert config is not None


def test_example_renders_the_seed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """config/fleet.yaml, pointed at a repository made of the demo seed, renders."""
    from fleet.adapters.render import RendererUnavailableError, find_backend

    try:
        find_backend("auto")
    except RendererUnavailableError as exc:
        pytest.skip(f"no Kustomize: {exc}")
    monkeypatch.delenv("FLEET_SETTINGS", raising=False)
    bare = init_bare(tmp_path / "platform.git")
    work = WorkRepo(tmp_path / "work", bare)
    shutil.copytree(ROOT / "fleet" / "runtime" / "seed", work.path, dirs_exist_ok=True)
    work.commit("seed")
    work.push()
    shutil.copytree(ROOT / "config", tmp_path / "config")
    config_file = tmp_path / "config" / "fleet.yaml"
    config_file.write_text(
        config_file.read_text().replace("file:///tmp/fleet-demo/platform.git", bare.as_uri())
    )
    assert load_fleet_config(config_file).source("platform").url == bare.as_uri()

    parser = argparse.ArgumentParser(prog="fleet")
    subparsers = parser.add_subparsers()
    validate_command.register(subparsers)
    render_command.register(subparsers)
    state = ["--state-dir", str(tmp_path / "state")]
    args = parser.parse_args(["validate", "--config", str(config_file), "--render", *state])
    assert args.handler(args) == 0, capsys.readouterr().out
    assert "rendered 3 of 3 app x cluster pairs" in capsys.readouterr().out

    args = parser.parse_args(
        ["render", "web", "--cluster", "prod-eu-1", "--config", str(config_file), *state]
    )
    assert args.handler(args) == 0
    assert "replicas: 3" in capsys.readouterr().out
