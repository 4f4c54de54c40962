"""``fleet validate --expand``: a config's generators listed against a real repository."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from fleet.cli import validate as validate_command
from tests.config.seed import seed_repository, write_fleet_config

GENERATOR: dict[str, Any] = {
    "name": "folders",
    "gitDirectories": {"source": "platform", "include": ["apps/*"], "exclude": ["apps/web"]},
    "template": {
        "name": "gen-{path.basename}",
        "source": "platform",
        "path": "{path}",
        "namespace": "{path.basename}",
        "renderer": "plain",
        "clusters": {"names": ["prod-eu-1", "dev-1"]},
    },
}


def run(
    config: Path, state: Path, capsys: pytest.CaptureFixture[str], *argv: str
) -> tuple[int, str]:
    parser = argparse.ArgumentParser(prog="fleet")
    validate_command.register(parser.add_subparsers())
    args = parser.parse_args(
        ["validate", "--config", str(config), *argv, "--state-dir", str(state)]
    )
    capsys.readouterr()
    code = args.handler(args)
    return code, capsys.readouterr().out


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("FLEET_SETTINGS", "FLEET_STATE_DIR", "FLEET_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    _, bare = seed_repository(tmp_path)
    return write_fleet_config(tmp_path / "etc", bare)


def with_generator(config: Path, **changes: object) -> Path:
    data = yaml.safe_load(config.read_text())
    data["generators"] = [{**GENERATOR, **changes}]
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    return config


def test_expand_shows_each_generated_app_and_its_clusters(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = run(with_generator(config), tmp_path / "state", capsys, "--expand")
    assert code == 0, out
    assert "generator folders (platform@" in out
    assert "): 1 app\n" in out
    assert "  gen-plain: apps/plain -> dev-1, prod-eu-1" in out
    assert "gen-web" not in out  # excluded
    assert out.strip().endswith("4 apps (9 app x cluster pairs)")


def test_without_expand_nothing_is_fetched(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = run(with_generator(config), tmp_path / "state", capsys)
    assert code == 0, out
    assert "generator" not in out
    assert not (tmp_path / "state").exists()


def test_render_renders_generated_apps_too(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    include = {**GENERATOR["gitDirectories"], "include": ["apps/plain"]}
    path = with_generator(config, gitDirectories=include)
    # The exit code is not asserted: web and api need Kustomize and Helm, which this
    # test does not require; the generated plain app needs neither.
    _, out = run(path, tmp_path / "state", capsys, "--render", "--json")
    report = json.loads(out)
    assert {
        "generator": "folders",
        "app": "gen-plain",
        "path": "apps/plain",
        "clusters": ["dev-1", "prod-eu-1"],
    } in report["generated"]
    rendered = {(r["app"], r["cluster"]) for r in report["renders"]}
    assert {("gen-plain", "prod-eu-1"), ("gen-plain", "dev-1")} <= rendered


def test_generator_problems_fail_with_file_line_and_field(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    everything = {**GENERATOR["gitDirectories"], "exclude": []}
    path = with_generator(config, maxApps=1, gitDirectories=everything)
    code, out = run(path, tmp_path / "state", capsys, "--expand")
    assert code == 1
    [line] = [line for line in out.splitlines() if "maxApps" in line]
    assert line.startswith(f"{config}:")
    assert "generators[0].maxApps: generator folders: more than maxApps (1) directories" in line
    assert out.strip().endswith("invalid: 1 generator problem")


def test_a_generator_source_that_cannot_be_fetched_is_named(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = with_generator(config)
    data = yaml.safe_load(path.read_text())
    data["sources"][0]["url"] = (tmp_path / "missing.git").as_uri()
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    code, out = run(path, tmp_path / "state", capsys, "--expand", "--json")
    assert code == 1
    report = json.loads(out)
    assert report["valid"] is False
    assert report["generatorProblems"][0].startswith("source platform: ")
    assert report["generated"] == []


def test_fleet_render_names_a_generated_app_like_a_written_one(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from fleet.cli import render as render_command

    parser = argparse.ArgumentParser(prog="fleet")
    render_command.register(parser.add_subparsers())
    argv = ["render", "gen-plain", "--cluster", "dev-1", "--config", str(with_generator(config))]
    args = parser.parse_args([*argv, "--state-dir", str(tmp_path / "state"), "--json"])
    capsys.readouterr()
    assert args.handler(args) == 0
    captured = capsys.readouterr()
    assert "# app gen-plain, cluster dev-1: " in captured.err
    assert "from apps/plain at" in captured.err
    objects = json.loads(captured.out)
    assert {(o["kind"], o["metadata"]["name"]) for o in objects} >= {("ConfigMap", "plain")}
