"""``fleet health test`` on a tree of 50 checks in Argo CD's layout (tests/adapters/health/
argo_tree.py writes it): every case passes, each decided by the script beside its test
file, in reasonable time; a wrong expectation fails."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import yaml

from fleet.cli import main
from tests.adapters.health.argo_tree import write_argo_tree

KINDS = 50


def test_fleet_health_test_passes_a_50_kind_argo_tree_in_reasonable_time(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "resource_customizations"
    cases = write_argo_tree(root, KINDS)
    assert len(list(root.rglob("health.lua"))) == KINDS
    capsys.readouterr()
    started = time.monotonic()
    code = main(["health", "test", str(root), "--json"])
    took = time.monotonic() - started
    results = json.loads(capsys.readouterr().out)
    print(f"fleet health test: {len(results)} cases of {KINDS} checks in {took:.2f} s")
    assert code == 0
    assert len(results) == cases
    failed = [r for r in results if not r["passed"]]
    assert failed == []
    # Decided by the script beside the test file, wildcard directory included.
    for result in results:
        beside = Path(result["testFile"]).parent / "health.lua"
        assert str(beside) in result["decidedBy"], result
    assert took < 30.0  # about 1 ms per case plus start-up on a shared 2-core machine


def test_a_wrong_expectation_in_the_tree_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "resource_customizations"
    write_argo_tree(root, 5)
    test_file = root / "g0.example.io" / "Thing1" / "health_test.yaml"
    tests = yaml.safe_load(test_file.read_text())
    tests["tests"][0]["healthStatus"]["message"] = "something else"
    test_file.write_text(yaml.safe_dump(tests))
    capsys.readouterr()
    assert main(["health", "test", str(root)]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out
    assert "1 failed" in out
