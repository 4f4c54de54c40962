"""The CLI's quick read of the API address and token file agrees with the full loader."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleet.cli.daemonsettings import QuickSettings, read_quickly
from fleet.config import load_settings


@pytest.mark.parametrize(
    ("file_text", "environment", "expected"),
    [
        (None, {}, ("127.0.0.1:8787", None)),
        (None, {"FLEET_API_ADDRESS": "unix:/run/fleet.sock"}, ("unix:/run/fleet.sock", None)),
        (None, {"fleet_api_address": "127.0.0.2:9000"}, ("127.0.0.2:9000", None)),
        (
            None,
            {"FLEET_API_TOKEN_FILE": "/etc/fleet/token"},
            ("127.0.0.1:8787", "/etc/fleet/token"),
        ),
        ("api_address: 127.0.0.1:9999\n", {}, ("127.0.0.1:9999", None)),
        ("api_token_file: token\n", {}, ("127.0.0.1:8787", "{dir}/token")),
        ("api_token_file: /abs/token\n", {}, ("127.0.0.1:8787", "/abs/token")),
        (
            "api_address: 127.0.0.1:1\n",
            {"FLEET_API_ADDRESS": "127.0.0.1:2"},
            ("127.0.0.1:2", None),
        ),
        ("", {}, ("127.0.0.1:8787", None)),
    ],
)
def test_plain_settings_are_read_as_the_loader_reads_them(
    file_text: str | None,
    environment: dict[str, str],
    expected: tuple[str, str | None],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = None
    if file_text is not None:
        path = tmp_path / "settings.yaml"
        path.write_text(file_text)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    address, token = expected
    want = QuickSettings(address, Path(token.format(dir=tmp_path)) if token else None)
    assert read_quickly(path) == want
    full = load_settings(path)
    assert (full.api_address, full.api_token_file) == (want.api_address, want.api_token_file)


@pytest.mark.parametrize(
    ("file_text", "environment"),
    [
        ("api_address: [1, 2]\n", {}),
        ("api_address: nowhere\n", {}),
        ("- a list\n", {}),
        ("api_address: '127.0.0.1:1\n", {}),
        (None, {"FLEET_API_TOKEN_FILE": ""}),
        (None, {"FLEET_API_ADDRESS": "no-port"}),
        ("api_token_file: ''\n", {}),
    ],
)
def test_anything_unusual_is_left_to_the_full_loader(
    file_text: str | None,
    environment: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = None
    if file_text is not None:
        path = tmp_path / "settings.yaml"
        path.write_text(file_text)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    assert read_quickly(path) is None


def test_a_missing_file_is_left_to_the_full_loader(tmp_path: Path) -> None:
    assert read_quickly(tmp_path / "absent.yaml") is None
