"""Lua health checks never stall the daemon's event loop.

A ticker task sleeps 10 ms at a time and records the longest gap between its wake-ups
while the daemon's judging path runs: ``prepare_health`` (scripts in a worker thread)
then the engine's synchronous ``app_health``. A script that loops until the one-second
limit stops it must leave the loop's longest pause under 0.1 s.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import pytest

from fleet.config import FleetConfig
from fleet.engine.health import app_health
from fleet.model.health import HealthStatus
from fleet.model.refs import ObjectRef
from fleet.runtime.health_checks import HealthCheckBoard
from fleet.runtime.health_ready import prepare_health

pytestmark = pytest.mark.anyio

LOOPING = "while true do end\n"
QUICK = 'return {status = "Progressing", message = "rolling"}\n'


def rollout(version: str) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": "web", "namespace": "shop", "uid": "u1", "resourceVersion": version},
    }


def certificate() -> dict[str, Any]:
    return {
        "apiVersion": "cert-manager.io/v1",
        "kind": "Certificate",
        "metadata": {"name": "tls", "namespace": "shop", "uid": "u2", "resourceVersion": "7"},
    }


def daemon_board() -> HealthCheckBoard:
    board = HealthCheckBoard(inline=False)
    config = FleetConfig.model_validate(
        {"health": {"lua": {"argoproj.io/Rollout": LOOPING, "cert-manager.io/Certificate": QUICK}}}
    )
    assert board.configure(config) == []
    return board


async def longest_pause(work: Callable[[], Awaitable[None]]) -> float:
    """The longest the event loop went without running a 10 ms ticker while ``work`` ran."""
    longest = 0.0
    done = anyio.Event()

    async def tick() -> None:
        nonlocal longest
        last = time.monotonic()
        while not done.is_set():
            await anyio.sleep(0.01)
            now = time.monotonic()
            longest = max(longest, now - last)
            last = now

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(tick)
        await anyio.sleep(0.05)
        await work()
        done.set()
    return longest


async def test_a_looping_script_does_not_pause_the_event_loop() -> None:
    # A machine shared with other work can deschedule the ticker for a while on its
    # own; a stall from Lua on the loop (a full second) shows in every attempt, so the
    # best of three attempts is what is asserted.
    pauses = []
    for _attempt in range(3):
        pause, health, board = await judge_with_a_looping_script()
        pauses.append(pause)
        if pause < 0.1:
            break
    print(f"longest event-loop pause while a looping script ran: {min(pauses) * 1000:.1f} ms")
    assert min(pauses) < 0.1
    assert health.status is HealthStatus.UNKNOWN
    assert "ran longer than 1 s and was stopped" in health.message
    cert = board(certificate())
    assert cert is not None
    assert cert.health.status is HealthStatus.PROGRESSING


async def judge_with_a_looping_script() -> tuple[float, Any, HealthCheckBoard]:
    board = daemon_board()
    objects = [rollout("1"), certificate()]
    judged: list[Any] = []

    async def judge() -> None:
        started = time.monotonic()
        await prepare_health(board, objects)
        judged.append(time.monotonic() - started)
        refs = [(ObjectRef.of(obj), obj) for obj in objects]
        judged.append(app_health(refs, (), board))

    pause = await longest_pause(judge)
    assert judged[0] >= 0.9  # the script did run to its one-second limit, off the loop
    return pause, judged[1], board


async def test_an_unprepared_object_is_judged_in_the_background_not_on_the_loop() -> None:
    board = daemon_board()
    obj = rollout("2")
    started = time.monotonic()
    first = board(obj)
    assert time.monotonic() - started < 0.1
    assert first is not None
    assert first.health.status is HealthStatus.UNKNOWN
    assert first.health.message.endswith("being evaluated")
    deadline = time.monotonic() + 5
    while "being evaluated" in board(obj).health.message:  # type: ignore[union-attr]
        assert time.monotonic() < deadline
        await anyio.sleep(0.05)
    later = board(obj)
    assert later is not None
    assert "was stopped" in later.health.message


async def test_commands_still_judge_inline() -> None:
    board = HealthCheckBoard()
    board.configure(
        FleetConfig.model_validate({"health": {"lua": {"cert-manager.io/Certificate": QUICK}}})
    )
    verdict = board(certificate())
    assert verdict is not None
    assert verdict.health.message == "rolling"
