"""``fleet health`` and ``fleet health test`` on a tree in Argo CD's layout.

The fixture tree (fixtures/resource_customizations) holds checks written for these
tests: a Rollout-like kind, a cert-manager-like Certificate and a wildcard directory for
every ``*.crossplane.io`` kind, each with Argo CD's health_test.yaml and testdata.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from fleet.adapters.health.loading import read_tree
from fleet.cli import main

TREE = Path(__file__).parent / "fixtures" / "resource_customizations"
ROLLOUT = TREE / "argoproj.io" / "Rollout"


def test_read_tree_keys_follow_argo_layout() -> None:
    loaded = read_tree(TREE)
    assert loaded.problems == []
    assert sorted(c.key for c in loaded.checks) == [
        "*.crossplane.io/*",
        "argoproj.io/Rollout",
        "cert-manager.io/Certificate",
    ]
    rollout = next(c for c in loaded.checks if c.key == "argoproj.io/Rollout")
    assert rollout.origin == f"{TREE}/argoproj.io/Rollout/health.lua"


def test_health_test_runs_every_case_of_the_tree(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["health", "test", str(TREE)]) == 0
    out = capsys.readouterr().out
    assert out.count("PASS ") == 11
    assert out.rstrip().endswith("11 passed, 0 failed")


def test_health_test_fails_on_a_wrong_expectation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tree = tmp_path / "resource_customizations"
    shutil.copytree(TREE, tree)
    test_file = tree / "argoproj.io" / "Rollout" / "health_test.yaml"
    test_file.write_text(
        test_file.read_text().replace("message: Rollout is paused", "message: paused")
    )
    assert main(["health", "test", str(tree)]) == 1
    out = capsys.readouterr().out
    assert "FAIL " in out
    assert "paused.yaml: expected Suspended 'paused'" in out
    assert "got      Suspended 'Rollout is paused'" in out
    assert out.rstrip().endswith("10 passed, 1 failed")


def test_health_test_compares_messages_exactly_as_argo_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A case without a message expects an empty one.
    tree = tmp_path / "tree"
    shutil.copytree(TREE / "cert-manager.io", tree / "cert-manager.io")
    test_file = tree / "cert-manager.io" / "Certificate" / "health_test.yaml"
    test_file.write_text(
        "tests:\n  - healthStatus: {status: Healthy}\n    inputPath: testdata/ready.yaml\n"
    )
    assert main(["health", "test", str(tree)]) == 1
    assert "0 passed, 1 failed" in capsys.readouterr().out


def test_health_test_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["health", "test", str(ROLLOUT), "--json"]) == 0
    cases = json.loads(capsys.readouterr().out)
    assert len(cases) == 5
    assert all(case["passed"] for case in cases)
    assert {case["decidedBy"] for case in cases} == {f"Lua {ROLLOUT}/health.lua"}


def test_health_test_without_test_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["health", "test", str(tmp_path)]) == 1
    assert "no health_test.yaml" in capsys.readouterr().out


def test_health_test_uses_the_configured_checks_for_a_directory_without_script(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tree = tmp_path / "tests" / "argoproj.io" / "Rollout"
    shutil.copytree(ROLLOUT / "testdata", tree / "testdata")
    shutil.copy(ROLLOUT / "health_test.yaml", tree / "health_test.yaml")
    config = tmp_path / "fleet.yaml"
    config.write_text(f"health:\n  luaDirectories:\n    - path: {TREE}\n")
    assert main(["health", "test", str(tmp_path / "tests")]) == 1  # generic rule: fails
    capsys.readouterr()
    assert main(["health", "test", str(tmp_path / "tests"), "--config", str(config)]) == 0
    assert "5 passed, 0 failed" in capsys.readouterr().out


def test_health_of_an_object_names_the_check_that_decided(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "fleet.yaml"
    config.write_text(
        "health:\n"
        "  lua:\n"
        "    cert-manager.io/Certificate: |\n"
        '      return {status = "Suspended", message = "inline wins"}\n'
        f"  luaDirectories:\n    - path: {TREE}\n"
    )
    objects = tmp_path / "objects.yaml"
    objects.write_text(
        (ROLLOUT / "testdata" / "updating.yaml").read_text()
        + "---\n"
        + (TREE / "cert-manager.io/Certificate/testdata/ready.yaml").read_text()
        + "---\n"
        + "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n"
    )
    assert main(["health", str(objects), "--config", str(config), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["status"], r["decidedBy"]) for r in rows] == [
        ("Progressing", f"Lua {ROLLOUT}/health.lua"),
        ("Suspended", f"Lua {config} health.lua[cert-manager.io/Certificate]"),
        ("Healthy", "generic (kstatus)"),
    ]
    assert rows[0]["message"] == "Waiting for roll out to finish: 1 of 3 updated"
    assert main(["health", str(objects)]) == 0
    out = capsys.readouterr().out
    assert "Rollout.argoproj.io shop/web: " in out
    assert "decided by: generic (kstatus)" in out  # no config: the generic rule
    assert "Lua" not in out


def test_health_with_an_app_applies_its_declarative_rules_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    token = tmp_path / "token"
    token.write_text("t")
    token.chmod(0o600)
    config = tmp_path / "fleet.yaml"
    config.write_text(
        "sources: [{name: s, url: 'https://example.com/r.git', branch: main}]\n"
        f"clusters: [{{name: c, server: 'https://127.0.0.1:1', tokenFile: {token}}}]\n"
        "apps:\n"
        "  - name: web\n"
        "    source: s\n"
        "    path: web\n"
        "    health:\n"
        "      - group: argoproj.io\n"
        "        kind: Rollout\n"
        "        checkObservedGeneration: false\n"
        "        rules: [{when: [], health: Degraded, message: app rule}]\n"
        f"health:\n  luaDirectories:\n    - path: {TREE}\n"
    )
    objects = ROLLOUT / "testdata" / "healthy.yaml"
    assert main(["health", str(objects), "--config", str(config), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["decidedBy"] == (f"Lua {ROLLOUT}/health.lua")
    args = ["health", str(objects), "--config", str(config), "--app", "web", "--json"]
    assert main(args) == 0
    row = json.loads(capsys.readouterr().out)[0]
    assert (row["status"], row["message"]) == ("Degraded", "app rule")
    assert row["decidedBy"] == "rule set for group argoproj.io kind Rollout"
