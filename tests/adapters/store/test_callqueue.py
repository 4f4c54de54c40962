"""Blocking calls in a worker thread: alone, in order, many per hop, cancel-safe."""

from __future__ import annotations

import threading
import time

import anyio
import anyio.lowlevel
import pytest

from fleet.adapters.store.callqueue import CallQueue

pytestmark = pytest.mark.anyio


async def test_calls_made_during_a_hop_share_the_next_one_in_order() -> None:
    queue = CallQueue()
    order: list[int] = []
    threads: set[int] = set()
    inside = 0
    most_inside = 0
    lock = threading.Lock()

    def work(n: int) -> int:
        nonlocal inside, most_inside
        with lock:
            inside += 1
            most_inside = max(most_inside, inside)
        threads.add(threading.get_ident())
        time.sleep(0.005)
        order.append(n)
        with lock:
            inside -= 1
        return n * n

    answers: dict[int, int] = {}

    async def call(n: int) -> None:
        answers[n] = await queue.run(lambda: work(n))

    async with anyio.create_task_group() as group:
        for n in range(30):
            group.start_soon(call, n)
            await anyio.lowlevel.checkpoint()
    assert answers == {n: n * n for n in range(30)}
    assert order == list(range(30)), "run in the order made"
    assert most_inside == 1, "one at a time"
    assert threading.get_ident() not in threads, "never on the event loop's thread"
    assert queue.calls == 30
    assert queue.hops < 30, "calls queued during a hop went together"


async def test_errors_reach_their_own_caller_only() -> None:
    queue = CallQueue()

    def fail() -> None:
        raise ValueError("this one")

    results: list[object] = []

    async def call(fn: object) -> None:
        try:
            results.append(await queue.run(fn))  # type: ignore[arg-type]
        except ValueError as error:
            results.append(error)

    async with anyio.create_task_group() as group:
        group.start_soon(call, lambda: 1)
        group.start_soon(call, fail)
        group.start_soon(call, lambda: 3)
    assert results[0] == 1
    assert isinstance(results[1], ValueError)
    assert results[2] == 3


async def test_a_cancelled_call_runs_to_its_end_once_started_and_never_if_not() -> None:
    queue = CallQueue()
    ran: list[str] = []
    gate = threading.Event()

    def slow() -> None:
        gate.wait(2)
        ran.append("slow")

    def queued() -> None:
        ran.append("queued")

    async def first() -> None:
        with anyio.move_on_after(0.05) as scope:
            await queue.run(slow)
        assert scope.cancel_called
        assert ran == ["slow"], "its caller waited for the started call to end"

    async def second() -> None:
        with anyio.move_on_after(0.05):
            await queue.run(queued)

    async with anyio.create_task_group() as group:
        group.start_soon(first)
        await anyio.lowlevel.checkpoint()
        group.start_soon(second)
        await anyio.sleep(0.2)
        gate.set()
    await queue.run(lambda: None)
    assert ran == ["slow"], "a call cancelled before it started never ran"
