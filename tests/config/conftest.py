"""Fixtures for config tests: a folder holding a fleet config and the files it names."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters:
  - name: prod
    cluster: {server: "https://127.0.0.1:6443"}
users:
  - name: admin
    user: {token: not-a-real-token}
contexts:
  - name: prod-eu-1
    context: {cluster: prod, user: admin}
  - name: prod-us-1
    context: {cluster: prod, user: admin}
current-context: prod-eu-1
"""


@pytest.fixture
def config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """tmp_path as the working directory, with a kubeconfig, a token and SSH files."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "kubeconfigs").mkdir()
    (tmp_path / "kubeconfigs" / "prod.yaml").write_text(KUBECONFIG)
    for name in ("token", "ca.crt", "id_ed25519", "known_hosts"):
        (tmp_path / name).write_text("placeholder\n")
        (tmp_path / name).chmod(0o600)
    return tmp_path


WriteConfig = Callable[[str], Path]


@pytest.fixture
def write_config(config_dir: Path) -> WriteConfig:
    """Write a fleet config (dedented) as ``fleet.yaml`` and return its relative path."""

    def write(text: str) -> Path:
        path = Path("fleet.yaml")
        (config_dir / path).write_text(textwrap.dedent(text))
        return path

    return write
