"""``render:`` in the daemon settings: sizes, durations and their bounds, and where they go."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleet.config import ConfigError
from fleet.config.settings import load_settings
from fleet.runtime.rendering import render_limits


@pytest.fixture(autouse=True)
def _no_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FLEET_SETTINGS", raising=False)


def test_defaults_bound_every_render() -> None:
    limits = render_limits(load_settings())
    assert (limits.max_file_bytes, limits.max_rendered_bytes) == (16 << 20, 64 << 20)
    assert (limits.max_objects, limits.cpu_seconds, limits.timeout_seconds) == (10_000, 60, 120)
    assert limits.memory_bytes == 2 << 30


def test_file_and_environment_set_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = tmp_path / "settings.yaml"
    settings.write_text(
        "render:\n  max_file_size: 1MiB\n  max_rendered_size: 512Ki\n  cpu_time: 5s\n"
        "  max_objects: 50\n  memory: 1073741824\n"
    )
    monkeypatch.setenv("FLEET_RENDER__TIMEOUT", "1m30s")
    loaded = load_settings(settings)
    limits = render_limits(loaded)
    assert limits.max_file_bytes == 1 << 20
    assert limits.max_rendered_bytes == 512 << 10
    assert (limits.cpu_seconds, limits.timeout_seconds, limits.max_objects) == (5, 90, 50)
    assert limits.memory_bytes == 1 << 30
    assert loaded.render.workers == 2


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("  max_file_size: huge", "invalid size 'huge': write bytes or a number with KiB"),
        ("  memory: 100MiB", "render.memory must be at least 512MiB"),
        ("  max_objects: 0", "greater than or equal to 1"),
        ("  workers: 0", "greater than or equal to 1"),
        ("  cpu_time: forever", "invalid duration 'forever'"),
        ("  max_object: 5", "unknown key 'max_object' (did you mean 'max_objects'?)"),
    ],
)
def test_bad_values_are_refused_with_their_line(tmp_path: Path, line: str, message: str) -> None:
    settings = tmp_path / "settings.yaml"
    settings.write_text(f"render:\n{line}\n")
    with pytest.raises(ConfigError) as raised:
        load_settings(settings)
    assert "settings.yaml:2:" in str(raised.value), raised.value
    assert message in str(raised.value)
