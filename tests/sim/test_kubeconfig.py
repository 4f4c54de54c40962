"""kubeconfig files of a simulated fleet, as kubectl and kubernetes_asyncio read them."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import yaml

from fleet.sim import kubeconfig


def test_names_that_yaml_1_1_reads_as_booleans_stay_strings(tmp_path: Path) -> None:
    names = ["n", "y", "on", "No"]
    credentials = [
        kubeconfig.Credentials(name, f"https://127.0.0.1:{i}", f"t{i}", tmp_path / "ca.crt")
        for i, name in enumerate(names, start=1)
    ]
    path = kubeconfig.write(tmp_path / "kubeconfig", credentials)
    # JSON: every name quoted, so Go's YAML 1.1 parser (kubectl) cannot take "n" for false.
    doc = json.loads(path.read_text())
    assert [c["name"] for c in doc["contexts"]] == names
    assert [c["name"] for c in doc["clusters"]] == names
    assert doc["current-context"] == "n"
    assert yaml.safe_load(path.read_text()) == doc  # still a YAML document
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
