"""One kubeconfig naming many clusters: every context checked, the file parsed once."""

from __future__ import annotations

import pytest
import yaml

from fleet.config import check_fleet_config
from fleet.config import files as config_files
from tests.config.conftest import WriteConfig


def fleet_with(contexts: list[str]) -> str:
    clusters = "".join(
        f"  - {{name: c{i}, kubeconfig: kubeconfigs/prod.yaml, context: {name}}}\n"
        for i, name in enumerate(contexts)
    )
    return f"clusters:\n{clusters}sources: []\napps: []\n"


def test_a_kubeconfig_shared_by_clusters_is_parsed_once(
    write_config: WriteConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    parses: list[str] = []
    real = yaml.safe_load

    def counting(text: str) -> object:
        parses.append(text)
        return real(text)

    monkeypatch.setattr(config_files.yaml, "safe_load", counting)
    path = write_config(fleet_with(["prod-eu-1", "prod-us-1", "prod-eu-1", "prod-us-1"]))
    _, issues = check_fleet_config(path)
    assert list(issues) == []
    assert sum("prod-us-1" in text for text in parses) == 1


def test_each_cluster_still_gets_its_own_context_checked(write_config: WriteConfig) -> None:
    path = write_config(fleet_with(["prod-eu-1", "prod-eu-9", "prod-us-1", "prod-us-7"]))
    _, issues = check_fleet_config(path)
    found = [str(issue) for issue in issues]
    assert len(found) == 2, found
    assert "clusters[1].context: no context named 'prod-eu-9'" in found[0]
    assert "clusters[3].context: no context named 'prod-us-7'" in found[1]
