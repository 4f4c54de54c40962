"""``fleet render`` and ``fleet validate --render`` on a hostile commit: a clear error, at once.

Before render limits, ``fleet render`` of a commit holding a 420-byte YAML alias bomb
hung while memory grew by gigabytes. The commands render under the settings' limits
(``render:``), in render processes, like the daemon.
"""

from __future__ import annotations

import time
from pathlib import Path

from tests.config.test_commands import Fleet, fleet, pytestmark  # noqa: F401 (fixture, skip)

BOMB = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: bomb}\ndata:\n" + "".join(
    f"  l{level}: &l{level} [{', '.join([f'*l{level - 1}'] * 9)}]\n"
    if level
    else "  l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
    for level in range(9)
)


def test_render_refuses_an_alias_bomb_at_once(fleet: Fleet) -> None:  # noqa: F811
    fleet.work.write("apps/plain/bomb.yaml", BOMB)
    fleet.work.commit("a bomb in the plain app")
    fleet.work.push()
    started = time.monotonic()
    result = fleet.run("render", "plain", "--cluster", "prod-eu-1", "--config", str(fleet.config))
    assert time.monotonic() - started < 30
    assert result.code == 1
    assert "apps/plain/bomb.yaml:1: excessive aliasing" in result.err, result.err


def test_validate_render_takes_the_limits_from_the_settings(
    fleet: Fleet,  # noqa: F811
    tmp_path: Path,
) -> None:
    settings = tmp_path / "settings.yaml"
    settings.write_text("render:\n  max_objects: 1\n")
    result = fleet.run(
        "validate", "--config", str(fleet.config), "--render", "--settings", str(settings)
    )
    assert result.code == 1
    failures = [line for line in result.out.splitlines() if line.startswith("render: ")]
    assert any(
        "app plain" in line and "more than 1 objects" in line and "render.max_objects" in line
        for line in failures
    ), result.out
