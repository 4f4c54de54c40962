"""``fleet run``: a local config or a config source, never both, never neither."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fleet.cli import main


@pytest.fixture(autouse=True)
def no_fleet_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.upper().startswith("FLEET_"):
            monkeypatch.delenv(name)


def run(tmp_path: Path, settings: str, *extra: str) -> int:
    path = tmp_path / "settings.yaml"
    path.write_text(f"state_dir: {tmp_path / 'state'}\n{settings}")
    try:
        return main(["run", "--settings", str(path), *extra])
    except SystemExit as stop:  # pragma: no cover - main may exit instead of returning
        return int(stop.code or 0)


SOURCE = "config_source: {url: 'https://git.example.com/fleet.git', branch: main}\n"


def test_config_flag_and_config_source_are_refused_together(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(tmp_path, SOURCE, "--config", "fleet.yaml") == 2
    err = capsys.readouterr().err
    assert "--config names a local file but the settings name config_source" in err


def test_neither_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(tmp_path, "") == 2
    assert "give --config FILE, or set config or config_source" in capsys.readouterr().err


def test_both_in_the_settings_name_the_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(tmp_path, "config: fleet.yaml\n" + SOURCE) == 1
    err = capsys.readouterr().err
    assert "settings.yaml:3:" in err
    assert "not both" in err
