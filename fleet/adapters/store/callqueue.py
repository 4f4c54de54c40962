"""Blocking calls run in a worker thread, one at a time, many per thread hop.

Each hop to a worker thread and back costs the event loop more than a small SQLite
write itself: waking the thread, then being woken by it, while both want the GIL. A
daemon syncing many clusters makes its history calls in bursts (every cluster's sync
records its step at about the same moment), so the calls that queue up while one hop is
out are all run by the next hop, in the order they were made.

What a caller sees is what ``anyio.to_thread.run_sync`` under a one-slot limiter gave:
its call runs in a worker thread, after every call made before it and alone; its answer
or exception comes back to it. A caller cancelled before its call started leaves the
queue and the call never runs; once started, the call runs to its end and the caller
waits for it (a write is never cut in half by a cancel scope).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import anyio
import anyio.to_thread

T = TypeVar("T")


@dataclass(eq=False)
class _Call(Generic[T]):
    run: Callable[[], T]
    started: bool = False
    ran: bool = False
    done: bool = False
    value: Any = None
    error: BaseException | None = None

    def execute(self) -> None:
        """In the worker thread: run, keeping the answer or the exception."""
        try:
            self.value = self.run()
        except BaseException as error:  # handed to the caller, re-raised there
            self.error = error
        self.ran = True


class CallQueue:
    """Runs blocking calls in a worker thread, one at a time, in the order made.

    No task of its own: a caller whose call is still queued when no hop is out makes
    the next hop, for every call queued by then.
    """

    def __init__(self) -> None:
        self._queue: list[_Call[Any]] = []
        self._draining = False
        #: Set (and replaced) after every hop: the callers waiting look again.
        self._hop_ended = anyio.Event()
        #: Thread hops made, and calls run (for tests and profiles).
        self.hops = 0
        self.calls = 0

    async def run(self, call: Callable[[], T]) -> T:
        item: _Call[T] = _Call(call)
        self._queue.append(item)
        try:
            while not item.done:
                if self._draining:
                    await self._hop_ended.wait()
                else:
                    await self._hop()
        except anyio.get_cancelled_exc_class():
            if not item.started:
                self._queue.remove(item)
                raise
            with anyio.CancelScope(shield=True):  # started: it runs to its end
                while not item.done:
                    await self._hop_ended.wait()
            raise
        if item.error is not None:
            raise item.error
        return item.value  # type: ignore[no-any-return]

    async def _hop(self) -> None:
        """One thread hop running every call queued now, in order."""
        batch, self._queue = self._queue, []
        for item in batch:
            item.started = True
        self._draining = True
        self.hops += 1
        self.calls += len(batch)
        try:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(_execute_all, batch)
        except BaseException as error:  # no thread to run them: each caller hears why
            for item in batch:
                if not item.ran:
                    item.error = error
            raise
        finally:
            for item in batch:
                item.done = True
            self._draining = False
            ended, self._hop_ended = self._hop_ended, anyio.Event()
            ended.set()


def _execute_all(batch: list[_Call[Any]]) -> None:
    for item in batch:
        item.execute()
