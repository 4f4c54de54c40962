"""A de-duplicating work queue with delayed re-adds, after client-go's workqueue.

A key is queued at most once; a key being processed is never handed to a second worker,
and if it is added meanwhile it is queued again once the first worker is done. So each
object is reconciled by one worker at a time, and a burst of watch events for it costs
one sync.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Hashable
from itertools import count
from typing import Generic, TypeVar

import anyio

K = TypeVar("K", bound=Hashable)


class WorkQueue(Generic[K]):
    def __init__(self) -> None:
        self._ready: deque[K] = deque()
        self._queued: set[K] = set()
        self._active: set[K] = set()
        self._again: set[K] = set()
        self._wakeup = anyio.Event()
        self._timers: list[tuple[float, int, K]] = []
        self._due: dict[K, float] = {}
        self._timer_wakeup = anyio.Event()
        self._order = count()

    def __len__(self) -> int:
        return len(self._ready)

    def add(self, key: K) -> None:
        if key in self._active:
            self._again.add(key)
        elif key not in self._queued:
            self._queued.add(key)
            self._ready.append(key)
            self._wakeup.set()

    def add_after(self, key: K, delay: float) -> None:
        if delay <= 0:
            self.add(key)
            return
        due = anyio.current_time() + delay
        if key in self._due and self._due[key] <= due:
            return
        self._due[key] = due
        heapq.heappush(self._timers, (due, next(self._order), key))
        self._timer_wakeup.set()

    async def get(self) -> K:
        while not self._ready:
            event = self._wakeup
            await event.wait()
            if self._wakeup is event:
                self._wakeup = anyio.Event()
        key = self._ready.popleft()
        self._queued.discard(key)
        self._active.add(key)
        return key

    def done(self, key: K) -> None:
        self._active.discard(key)
        if key in self._again:
            self._again.discard(key)
            self.add(key)

    async def run_timers(self) -> None:
        """Move delayed keys to the queue when due; runs until cancelled."""
        while True:
            now = anyio.current_time()
            while self._timers and self._timers[0][0] <= now:
                due, _, key = heapq.heappop(self._timers)
                if self._due.get(key) == due:
                    del self._due[key]
                    self.add(key)
            wait = self._timers[0][0] - now if self._timers else None
            self._timer_wakeup = anyio.Event()
            with anyio.move_on_after(wait):
                await self._timer_wakeup.wait()
