"""``ha:`` in the daemon settings: defaults, paths, and every refusal with its place."""

from __future__ import annotations

import os
import socket
from datetime import timedelta
from pathlib import Path

import pytest

from fleet.config import ConfigError, load_settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.upper().startswith("FLEET_") or name in ("STATE_DIRECTORY", "XDG_STATE_HOME"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)


def settings_file(text: str) -> Path:
    path = Path("settings.yaml")
    path.write_text(text)
    return path


def errors(text: str) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        load_settings(settings_file(text))
    return [str(e) for e in raised.value.errors]


def test_defaults_are_client_go_s() -> None:
    settings = load_settings(settings_file("ha:\n  lease: {cluster: prod-eu}\n"))
    ha = settings.ha
    assert ha is not None
    assert (ha.lease.cluster, ha.lease.namespace, ha.lease.name) == (
        "prod-eu",
        "default",
        "fleet-leader",
    )
    assert (ha.lease_duration, ha.renew_deadline, ha.retry_period) == (
        timedelta(seconds=15),
        timedelta(seconds=10),
        timedelta(seconds=2),
    )
    assert ha.identity == f"{socket.gethostname()}-{os.getpid()}"
    assert ha.replica is None
    assert load_settings(settings_file("{}\n")).ha is None


def test_paths_are_taken_from_the_settings_file_s_folder(tmp_path: Path) -> None:
    folder = tmp_path / "etc"
    folder.mkdir()
    path = folder / "settings.yaml"
    path.write_text(
        "ha:\n"
        "  lease: {kubeconfig: home.kubeconfig, context: home}\n"
        "  replica:\n"
        "    url: s3://bucket/fleet\n"
        "    access_key_id_file: keys/id\n"
        "    secret_access_key_file: keys/secret\n"
        "    litestream: bin/litestream\n"
    )
    ha = load_settings(path).ha
    assert ha is not None
    assert ha.lease.kubeconfig == folder / "home.kubeconfig"
    assert ha.replica is not None
    assert ha.replica.access_key_id_file == folder / "keys/id"
    assert ha.replica.secret_access_key_file == folder / "keys/secret"
    assert ha.replica.litestream == folder / "bin/litestream"


def test_the_environment_sets_ha_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLEET_HA__LEASE__CLUSTER", "home")
    monkeypatch.setenv("FLEET_HA__IDENTITY", "host-b")
    monkeypatch.setenv("FLEET_HA__RETRY_PERIOD", "1s")
    ha = load_settings().ha
    assert ha is not None
    assert (ha.lease.cluster, ha.identity, ha.retry_period) == (
        "home",
        "host-b",
        timedelta(1 / 86400),
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("ha:\n  lease: {}\n", "either cluster"),
        ("ha:\n  lease: {cluster: a, kubeconfig: /k}\n", "not both"),
        ("ha:\n  lease: {cluster: a, context: c}\n", "context needs ha.lease.kubeconfig"),
        ("ha:\n  lease: {cluster: a, name: Not_A_Name}\n", "should match pattern"),
        (
            "ha:\n  lease: {cluster: a}\n  lease_duration: 10s\n  renew_deadline: 10s\n",
            "lease_duration must be longer than renew_deadline",
        ),
        (
            "ha:\n  lease: {cluster: a}\n  retry_period: 9s\n",
            "renew_deadline must be longer than 1.2 x retry_period",
        ),
        ("ha:\n  lease: {cluster: a}\n  shards: 4\n", "expected a mapping"),
        ("ha:\n  lease: {cluster: a}\n  shard_selector: {a: b}\n", "is not a setting"),
        ("ha:\n  lease: {cluster: a}\n  replica: {url: /srv/replica}\n", "file:///ABSOLUTE"),
        ("ha:\n  lease: {cluster: a}\n  replica: {url: 'file://relative'}\n", "file:///ABSOLUTE"),
        (
            "ha:\n  lease: {cluster: a}\n  replica: {url: 'file:///r', endpoint: 'http://x'}\n",
            "only apply to an s3:// replica",
        ),
        (
            "ha:\n  lease: {cluster: a}\n  replica: {url: 's3://b/p', access_key_id_file: /k}\n",
            "give both",
        ),
        ("ha:\n  lease: {cluster: a}\n  lease_ttl: 5s\n", "unknown key"),
    ],
)
def test_refusals(text: str, message: str) -> None:
    found = errors(text)
    assert any(message in line for line in found), found
    assert all(line.startswith("settings.yaml:") for line in found), found
