"""``ha.shards`` and ``ha.shard``: the shard table, this instance's shard, and refusals."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fleet.config import ConfigError, load_settings

BASE = "ha:\n  lease: {kubeconfig: /k}\n"
TABLE = "  shards: {eu: {region: eu}, us: {region: us}}\n"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.upper().startswith("FLEET_") or name in ("STATE_DIRECTORY", "XDG_STATE_HOME"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)


def load(text: str) -> object:
    path = Path("settings.yaml")
    path.write_text(text)
    return load_settings(path)


def test_a_shard_has_its_own_lease() -> None:
    settings = load(BASE + TABLE + "  shard: eu\n  peer_token_file: peer.token\n")
    ha = settings.ha  # type: ignore[attr-defined]
    assert ha.shard == "eu"
    assert ha.shards == {"eu": {"region": "eu"}, "us": {"region": "us"}}
    assert ha.shard_lease_name() == "fleet-leader-eu"
    assert ha.shard_lease_name("us") == "fleet-leader-us"
    assert ha.peer_token_file == Path("peer.token").absolute()


def test_without_shards_the_lease_is_the_plain_one() -> None:
    ha = load(BASE).ha  # type: ignore[attr-defined]
    assert (ha.shard, ha.shards, ha.shard_lease_name()) == (None, None, "fleet-leader")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("  shard: eu\n", "go together"),
        (TABLE, "go together"),
        (TABLE + "  shard: asia\n", "'asia' is not one of ha.shards (eu, us)"),
        ("  shards: {eu: {}}\n  shard: eu\n", "empty selector"),
        ("  shards: {Bad_Name: {a: b}}\n  shard: eu\n", "not a valid shard name"),
        ("  shard_label: region\n", "ha.shard_label is not a setting"),
        ("  peer_token_file: /t\n", "need ha.shards"),
        (TABLE + "  shard: EU\n", "should match pattern"),
    ],
)
def test_refusals(extra: str, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load(BASE + extra)
    found = [str(e) for e in raised.value.errors]
    assert any(message in line for line in found), found
    assert all(line.startswith("settings.yaml:") for line in found), found


def test_the_settings_docs_shards_md_shows_load() -> None:
    docs = Path(__file__).resolve().parents[2] / "docs" / "shards.md"
    text = docs.read_text()
    block = text.split("```yaml\n", 1)[1].split("```", 1)[0]
    settings = load(block)
    ha = settings.ha  # type: ignore[attr-defined]
    assert (ha.shard, ha.shard_lease_name(), ha.shards["us"]) == (
        "eu",
        "fleet-leader-eu",
        {"region": "us"},
    )
    assert ha.advertise_url == "https://fleet-eu.internal:8787"
