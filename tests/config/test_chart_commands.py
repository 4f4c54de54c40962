"""``fleet validate --render`` and ``fleet render`` with a chart source, as the README shows."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
import yaml

from fleet.cli import render as render_command
from fleet.cli import validate as validate_command
from tests.config.conftest import KUBECONFIG
from tests.support.charts import ChartRepository, package_chart, sha256


def run(capsys: pytest.CaptureFixture[str], state: Path, *argv: str) -> tuple[int, str]:
    parser = argparse.ArgumentParser(prog="fleet")
    subparsers = parser.add_subparsers()
    validate_command.register(subparsers)
    render_command.register(subparsers)
    args = parser.parse_args([*argv, "--state-dir", str(state)])
    capsys.readouterr()
    code = args.handler(args)
    return code, capsys.readouterr().out


def test_validate_renders_the_version_the_range_picks_and_render_takes_an_older_id(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("FLEET_SETTINGS", "FLEET_STATE_DIR", "FLEET_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "kubeconfig").write_text(KUBECONFIG)
    with ChartRepository() as served:
        for version in ("1.0.0", "1.1.0", "2.0.0"):
            served.add("demo", version, package_chart("demo", version))
        config = tmp_path / "fleet.yaml"
        config.write_text(
            "clusters: [{name: eu, kubeconfig: kubeconfig, context: prod-eu-1}]\n"
            "sources:\n"
            f"  - {{name: charts, chart: {{repository: '{served.url}', name: demo, "
            "version: '^1'}}\n"
            "apps:\n"
            "  - {name: demo, source: charts, path: ., namespace: demo,"
            " helm: {values: {color: red}}}\n"
        )
        state = tmp_path / "state"
        code, out = run(capsys, state, "validate", "--config", str(config), "--render", "--json")
        assert code == 0, out
        report = json.loads(out)
        newest = f"demo@1.1.0@sha256:{sha256(package_chart('demo', '1.1.0'))}"
        assert report["sources"]["charts"] == {"revision": newest, "ref": "demo 1.1.0"}
        older = f"demo@1.0.0@sha256:{sha256(package_chart('demo', '1.0.0'))}"
        argv = ["render", "demo", "--cluster", "eu", "--config", str(config), "--revision", older]
        code, out = run(capsys, state, *argv)
        assert code == 0, out
        (config_map,) = [doc for doc in yaml.safe_load_all(out) if doc]
        assert config_map["metadata"]["namespace"] == "demo"
        assert config_map["data"] == {"chartVersion": "1.0.0", "color": "red"}
