"""Daemon settings: defaults, a YAML file, FLEET_* variables winning over it, bad input."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from fleet.config import ConfigError, load_settings
from fleet.config.settings import parse_listen_address


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(__import__("os").environ):
        if name.upper().startswith("FLEET_") or name in ("STATE_DIRECTORY", "XDG_STATE_HOME"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)


def test_defaults(tmp_path: Path) -> None:
    settings = load_settings(None)
    assert settings.state_dir == tmp_path / "home" / ".local" / "state" / "fleet"
    assert settings.api_address == "127.0.0.1:8787"
    assert settings.listen.is_loopback
    assert settings.poll_interval == timedelta(seconds=15)
    assert (settings.max_concurrent_syncs, settings.cluster_qps, settings.cluster_burst) == (
        50,
        50.0,
        100,
    )
    assert (settings.log_level, settings.log_format) == ("INFO", "human")
    assert settings.history_retention == timedelta(days=30)


def test_systemd_state_directory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STATE_DIRECTORY", "/var/lib/fleet")
    assert load_settings(None).state_dir == Path("/var/lib/fleet")


def test_file_then_environment_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "etc").mkdir()
    path = tmp_path / "etc" / "settings.yaml"
    path.write_text(
        "state_dir: state\n"
        "poll_interval: 1m\n"
        "max_concurrent_syncs: 4\n"
        "log_level: debug\n"
        "otel: {endpoint: 'http://127.0.0.1:4318', service_name: from-file}\n"
    )
    settings = load_settings(path)
    assert settings.state_dir == tmp_path / "etc" / "state"  # relative to the file
    assert settings.poll_interval == timedelta(minutes=1)
    assert settings.log_level == "DEBUG"
    assert settings.otel.service_name == "from-file"

    monkeypatch.setenv("FLEET_POLL_INTERVAL", "5s")
    monkeypatch.setenv("FLEET_STATE_DIR", "/srv/fleet")
    monkeypatch.setenv("FLEET_API_ADDRESS", "unix:/run/fleet/api.sock")
    monkeypatch.setenv("FLEET_OTEL__SERVICE_NAME", "from-env")
    settings = load_settings(path)
    assert settings.poll_interval == timedelta(seconds=5)
    assert settings.state_dir == Path("/srv/fleet")
    assert settings.max_concurrent_syncs == 4  # not overridden: the file's value stands
    assert settings.listen.unix_path == Path("/run/fleet/api.sock")
    assert settings.otel.service_name == "from-env"
    assert settings.otel.endpoint == "http://127.0.0.1:4318"


def test_settings_file_named_by_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "s.yaml").write_text("log_format: json\n")
    monkeypatch.setenv("FLEET_SETTINGS", str(tmp_path / "s.yaml"))
    assert load_settings(None).log_format == "json"


def test_named_file_missing_is_an_error() -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings(Path("missing.yaml"))
    assert str(raised.value) == "missing.yaml: file not found"


def test_errors_point_into_the_file(tmp_path: Path) -> None:
    path = Path("settings.yaml")
    path.write_text("poll_interval: soon\nlog_formt: json\nmax_concurrent_syncs: 0\n")
    with pytest.raises(ConfigError) as raised:
        load_settings(path)
    assert [str(e) for e in raised.value.errors] == [
        "settings.yaml:1:16: poll_interval: invalid duration 'soon': write a number with a "
        "unit (ms, s, m, h, d), like 30s or 1h30m",
        "settings.yaml:2:1: log_formt: unknown key 'log_formt' (did you mean 'log_format'?)",
        "settings.yaml:3:23: max_concurrent_syncs: Input should be greater than or equal to 1",
    ]


def test_errors_name_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLEET_CLUSTER_BURST", "many")
    monkeypatch.setenv("FLEET_LOG_FORMAT", "xml")
    with pytest.raises(ConfigError) as raised:
        load_settings(None)
    assert [str(e) for e in raised.value.errors] == [
        "FLEET_CLUSTER_BURST: expected a whole number",
        "FLEET_LOG_FORMAT: 'xml' is not one of json, human",
    ]


def test_off_loopback_needs_a_token(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FLEET_API_ADDRESS", "0.0.0.0:8787")
    with pytest.raises(ConfigError) as raised:
        load_settings(None)
    assert str(raised.value) == (
        "FLEET_API_ADDRESS: api_address 0.0.0.0:8787 is reachable from other hosts: "
        "set api_token_file or api_tokens too"
    )
    monkeypatch.setenv("FLEET_API_TOKEN_FILE", str(tmp_path / "token"))
    assert not load_settings(None).listen.is_loopback


@pytest.mark.parametrize(
    ("text", "shown", "loopback"),
    [
        ("127.0.0.1:8787", "127.0.0.1:8787", True),
        ("[::1]:9000", "[::1]:9000", True),
        ("localhost:80", "localhost:80", True),
        ("10.0.0.5:8787", "10.0.0.5:8787", False),
        ("unix:/run/fleet/api.sock", "unix:/run/fleet/api.sock", True),
    ],
)
def test_listen_addresses(text: str, shown: str, loopback: bool) -> None:
    address = parse_listen_address(text)
    assert (str(address), address.is_loopback) == (shown, loopback)


@pytest.mark.parametrize("text", ["8787", "127.0.0.1:0", "127.0.0.1:70000", "unix:", "a b:1"])
def test_bad_listen_addresses(text: str) -> None:
    with pytest.raises(ValueError, match=r"address|socket path"):
        parse_listen_address(text)
