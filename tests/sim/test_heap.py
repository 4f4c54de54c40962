"""The garbage collector's settings of ``fleet sim up`` (fleet.sim.heap), read from a real
started simulator through its admin endpoint, and left alone by an in-process fleet."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from fleet.sim.fleet import SimFleet
from fleet.sim.heap import YOUNG_GENERATION_LIMIT


def _read_until(process: subprocess.Popen[str], marker: str, within: float = 30.0) -> None:
    """Read the simulator's stdout until ``marker`` (its start-up is then complete)."""
    assert process.stdout is not None
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if marker in line:
            return
        assert line or process.poll() is None, process.communicate()
    raise AssertionError(f"{marker!r} never printed")


def _get(admin: dict[str, str], path: str) -> Any:
    request = urllib.request.Request(
        admin["url"] + path, headers={"Authorization": f"Bearer {admin['token']}"}
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback
    with opener.open(request, timeout=10) as response:
        return json.loads(response.read())


def test_sim_up_freezes_its_startup_and_collects_young_less_often(tmp_path: Path) -> None:
    directory = tmp_path / "fleet"
    command = [
        *(sys.executable, "-m", "fleet", "sim", "up", "--clusters", "2"),
        *("--dir", str(directory), "--no-controllers"),
    ]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    ) as process:
        try:
            _read_until(process, "press Ctrl-C")
            admin = json.loads((directory / "admin.json").read_text())
            state = _get(admin, "/gc")
            process.terminate()
            process.communicate(timeout=20)
        finally:
            if process.poll() is None:
                process.kill()
    assert state["threshold"][0] == YOUNG_GENERATION_LIMIT
    assert state["threshold"][1:] == list(gc.get_threshold()[1:])  # older ones kept
    # The imports alone (aiohttp, kubernetes_asyncio's models) are tens of thousands.
    assert state["frozen"] > 10_000
    assert len(state["generations"]) == 3


@pytest.mark.anyio
async def test_an_in_process_fleet_leaves_the_collector_alone(tmp_path: Path) -> None:
    threshold, frozen = gc.get_threshold(), gc.get_freeze_count()
    async with SimFleet.start(tmp_path / "sim", count=1, controllers=False):
        assert (gc.get_threshold(), gc.get_freeze_count()) == (threshold, frozen)
