"""After a burst of syncs the daemon frees what the burst left in reference cycles."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator
from types import SimpleNamespace

import anyio
import pytest

from fleet.runtime.daemon import Daemon

pytestmark = pytest.mark.anyio


class _Node:
    other: _Node | None = None


def _garbage_cycle() -> weakref.ref[_Node]:
    """Two objects holding each other and nothing else: only the collector frees them."""
    first, second = _Node(), _Node()
    first.other, second.other = second, first
    return weakref.ref(first)


@pytest.fixture
def no_automatic_collection() -> Iterator[None]:
    """As in a quiet daemon, whose young generation is collected rarely: no collection
    starts on its own while the test runs."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class _Trims:
    """Stands in for ``release_free_heap`` (called on a worker thread): at each call, notes
    whether every cycle watched was freed by then."""

    def __init__(self) -> None:
        self.cycles: list[weakref.ref[_Node]] = []
        self.freed: list[bool] = []
        self._called = anyio.Event()

    def __call__(self) -> bool:
        self.freed.append(all(cycle() is None for cycle in self.cycles))
        anyio.from_thread.run_sync(self._called.set)
        return True

    async def wait(self, calls: int) -> None:
        while len(self.freed) < calls:
            await self._called.wait()
            self._called = anyio.Event()


@pytest.mark.usefixtures("no_automatic_collection")
async def test_a_quiet_daemon_frees_cycles_left_by_a_burst_before_it_trims_the_heap(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    trims = _Trims()
    trims.cycles.append(_garbage_cycle())
    monkeypatch.setattr("fleet.adapters.heap.release_free_heap", trims)
    # A burst ended (one sync), none is running.
    daemon = SimpleNamespace(_ctx=SimpleNamespace(running=0, ended=1))
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(Daemon._release_memory, daemon, 0.01)  # type: ignore[arg-type]
        with anyio.fail_after(10):
            await trims.wait(1)
        tasks.cancel_scope.cancel()
    assert trims.freed == [True]


@pytest.mark.usefixtures("no_automatic_collection")
async def test_cycles_made_after_the_burst_are_freed_by_one_more_pass(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The burst's idle connections close a keep-alive after it: freed by a second pass."""
    trims = _Trims()
    monkeypatch.setattr("fleet.adapters.heap.release_free_heap", trims)
    daemon = SimpleNamespace(_ctx=SimpleNamespace(running=0, ended=1))
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(Daemon._release_memory, daemon, 0.01, 0.2)  # type: ignore[arg-type]
        with anyio.fail_after(10):
            await trims.wait(1)
            trims.cycles.append(_garbage_cycle())  # a connection closing on its keep-alive
            await trims.wait(2)
        with anyio.move_on_after(0.5):  # then nothing more until the next burst
            await trims.wait(3)
        tasks.cancel_scope.cancel()
    assert trims.freed == [True, True]


@pytest.mark.usefixtures("no_automatic_collection")
async def test_no_collection_while_syncs_run(monkeypatch: pytest.MonkeyPatch) -> None:
    cycle = _garbage_cycle()
    trims: list[None] = []
    monkeypatch.setattr("fleet.adapters.heap.release_free_heap", lambda: trims.append(None))
    daemon = SimpleNamespace(_ctx=SimpleNamespace(running=2, ended=1))
    with anyio.move_on_after(0.2):
        await Daemon._release_memory(daemon, 0.01)  # type: ignore[arg-type]
    assert trims == []
    assert cycle() is not None
