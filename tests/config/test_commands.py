"""``fleet validate`` and ``fleet render`` end to end, on a real Git repository (file://)."""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from fleet.cli import render as render_command
from fleet.cli import validate as validate_command
from tests.config.seed import REPLICAS, seed_repository, write_fleet_config
from tests.support.gitrepos import WorkRepo


def _kustomize_missing() -> str | None:
    from fleet.adapters.render import RendererUnavailableError, find_backend

    try:
        find_backend("auto")
    except RendererUnavailableError as exc:
        return str(exc)
    return None


pytestmark = pytest.mark.skipif(
    _kustomize_missing() is not None, reason=f"no Kustomize: {_kustomize_missing()}"
)


@dataclass
class Result:
    code: int
    out: str
    err: str


@dataclass
class Fleet:
    config: Path
    work: WorkRepo
    state: Path
    capsys: pytest.CaptureFixture[str]

    def run(self, *argv: str) -> Result:
        parser = argparse.ArgumentParser(prog="fleet")
        subparsers = parser.add_subparsers()
        validate_command.register(subparsers)
        render_command.register(subparsers)
        args = parser.parse_args([*argv, "--state-dir", str(self.state)])
        self.capsys.readouterr()
        code = args.handler(args)
        captured = self.capsys.readouterr()
        return Result(code, captured.out, captured.err)


@pytest.fixture
def fleet(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Fleet:
    for name in ("FLEET_SETTINGS", "FLEET_STATE_DIR", "FLEET_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    work, bare = seed_repository(tmp_path)
    config = write_fleet_config(tmp_path / "etc", bare)
    return Fleet(config, work, tmp_path / "state", capsys)


def test_validate_config_only(fleet: Fleet) -> None:
    result = fleet.run("validate", "--config", str(fleet.config))
    assert result.code == 0, result.out
    assert result.out.strip().endswith(
        "valid: 3 clusters, 1 source, 3 apps (7 app x cluster pairs)"
    )
    assert not fleet.state.exists()  # no fetch without --render


def test_validate_render_everything(fleet: Fleet) -> None:
    result = fleet.run("validate", "--config", str(fleet.config), "--render", "--json")
    assert result.code == 0, result.out
    report = json.loads(result.out)
    assert report["valid"] is True
    assert report["sources"]["platform"]["revision"] == fleet.work.head()
    rendered = {(r["app"], r["cluster"]): r for r in report["renders"]}
    assert sorted(rendered) == sorted(
        [(app, c) for app in ("web", "api") for c in ("dev-1", "staging-1", "prod-eu-1")]
        + [("plain", "prod-eu-1")]
    )
    assert rendered[("web", "staging-1")]["path"] == "apps/web/overlays/staging"
    assert rendered[("web", "staging-1")]["renderer"] == "kustomize"
    assert rendered[("api", "dev-1")]["renderer"] == "helm"
    assert rendered[("plain", "prod-eu-1")]["objects"] == 2


def _documents(text: str) -> list[Any]:
    return [doc for doc in yaml.safe_load_all(text) if doc is not None]


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_render_overlay_per_environment(fleet: Fleet, env: str) -> None:
    cluster = {"dev": "dev-1", "staging": "staging-1", "prod": "prod-eu-1"}[env]
    result = fleet.run("render", "web", "--cluster", cluster, "--config", str(fleet.config))
    assert result.code == 0, result.err
    objects = _documents(result.out)
    assert [o["kind"] for o in objects] == ["Service", "Deployment"]  # sync order
    deployment = objects[1]
    assert deployment["metadata"] == {"name": "web", "namespace": "web"}
    assert deployment["spec"]["replicas"] == REPLICAS[env]
    assert "# Source: apps/web/" in result.out


def test_render_helm_with_values_per_label_and_hook_first(fleet: Fleet) -> None:
    result = fleet.run(
        "render", "api", "--cluster", "prod-eu-1", "--config", str(fleet.config), "--json"
    )
    assert result.code == 0, result.err
    objects = json.loads(result.out)
    assert [o["kind"] for o in objects] == ["Job", "Deployment"]  # the PreSync hook first
    job, deployment = objects
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install"
    assert deployment["metadata"]["name"] == "api"
    assert deployment["spec"]["replicas"] == 4  # values-prod.yaml
    assert deployment["metadata"]["labels"]["region"] == "eu"  # valuesByLabel


def test_render_plain_puts_the_namespace_first(fleet: Fleet) -> None:
    result = fleet.run("render", "plain", "--cluster", "prod-eu-1", "--config", str(fleet.config))
    assert result.code == 0, result.err
    assert [o["kind"] for o in _documents(result.out)] == ["Namespace", "ConfigMap"]


def test_render_an_older_revision(fleet: Fleet) -> None:
    first = fleet.work.head()
    fleet.work.write("apps/web/overlays/prod/replicas.yaml", _replicas(9))
    fleet.work.commit("prod: nine replicas")
    fleet.work.push()

    def replicas(*extra: str) -> int:
        result = fleet.run(
            "render", "web", "--cluster", "prod-eu-1", "--config", str(fleet.config), *extra
        )
        assert result.code == 0, result.err
        value = _documents(result.out)[1]["spec"]["replicas"]
        assert isinstance(value, int)
        return value

    assert replicas() == 9
    assert replicas("--revision", first) == 3
    assert replicas("--revision", first[:10]) == 3


def _replicas(count: int) -> str:
    return (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n"
        f"spec:\n  replicas: {count}\n"
    )


def test_validate_render_reports_every_failure(fleet: Fleet) -> None:
    fleet.work.write(
        "apps/web/overlays/staging/kustomization.yaml",
        "resources: [../../base, missing.yaml]\n",
    )
    fleet.work.write("charts/api/templates/broken.yaml", "metadata: {{ .Values.nope.deeper }}\n")
    fleet.work.commit("break staging and the chart")
    fleet.work.push()
    result = fleet.run("validate", "--config", str(fleet.config), "--render")
    assert result.code == 1
    lines = result.out.splitlines()
    failures = [line for line in lines if line.startswith("render: ")]
    assert len(failures) == 4  # the staging overlay, and the chart on three clusters
    assert any(
        "app web, cluster staging-1" in line and "apps/web/overlays/staging" in line
        for line in failures
    )
    assert sum("app api, cluster" in line and "broken.yaml" in line for line in failures) == 3
    assert lines[-2].startswith("rendered 3 of 7 app x cluster pairs")
    assert lines[-1].endswith(
        "invalid: 4 failures: 3 clusters, 1 source, 3 apps (7 app x cluster pairs)"
    )


def test_validate_render_reports_a_missing_branch(fleet: Fleet) -> None:
    fleet.config.write_text(fleet.config.read_text().replace("branch: main", "branch: mian"))
    result = fleet.run("validate", "--config", str(fleet.config), "--render")
    assert result.code == 1
    lines = [line for line in result.out.splitlines() if ": warning: " not in line]
    assert lines[0].startswith("source platform: ")
    assert "mian" in lines[0]


def test_validate_invalid_config(fleet: Fleet) -> None:
    fleet.config.write_text(
        fleet.config.read_text().replace("source: platform", "source: platfrom", 1)
    )
    result = fleet.run("validate", "--config", str(fleet.config), "--render")
    assert result.code == 1
    unbounded = "belongs to no project: it may write any object into any namespace"
    assert [line for line in result.out.splitlines() if unbounded not in line] == [
        f"{fleet.config}:13:13: apps[0].source: no source named 'platfrom' "
        "(did you mean 'platform'?)",
        f"{fleet.config}: invalid: 1 error, 3 warnings",
    ]
    assert not fleet.state.exists()  # an invalid config is never rendered

    as_json = json.loads(fleet.run("validate", "--config", str(fleet.config), "--json").out)
    assert as_json["valid"] is False
    errors = [issue for issue in as_json["issues"] if issue["severity"] == "error"]
    assert [issue["line"] for issue in errors] == [13]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["render", "wbe", "--cluster", "dev-1"], "no app named 'wbe' (did you mean 'web'?)"),
        (["render", "web", "--cluster", "dev1"], "no cluster named 'dev1' (did you mean 'dev-1'?)"),
        (
            ["render", "plain", "--cluster", "dev-1"],
            "app plain does not target cluster dev-1 (it targets: prod-eu-1)",
        ),
        (
            ["render", "web", "--cluster", "dev-1", "--revision", "v9.9.9"],
            "v9.9.9",
        ),
    ],
)
def test_render_refuses_clearly(fleet: Fleet, argv: list[str], message: str) -> None:
    result = fleet.run(*argv, "--config", str(fleet.config))
    assert result.code == 1
    assert message in result.err
    assert result.out == ""
