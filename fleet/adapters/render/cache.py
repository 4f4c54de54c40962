"""A bounded render cache whose concurrent misses for one key run once (single flight).

A fleet of a hundred clusters sharing an overlay asks for the same render a hundred
times at once when a commit lands. The first caller for a key renders; the others wait
for its result instead of starting ninety-nine identical builds. A failed render is
shared with the callers waiting on it, but not remembered: the next request tries again
(a missing tool may have been installed meanwhile). If the rendering caller is
cancelled, one of the waiters takes over.
"""

from __future__ import annotations

import copy
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import anyio

T = TypeVar("T")


@dataclass
class CacheStats:
    """Counters for metrics: hits include waiters served by another caller's render."""

    hits: int = 0
    misses: int = 0
    coalesced: int = 0
    evictions: int = 0


@dataclass
class _Flight(Generic[T]):
    done: anyio.Event = field(default_factory=anyio.Event)
    result: T | None = None
    error: Exception | None = None


class SingleFlight(Generic[T]):
    """Runs one computation per key at a time; callers that overlap share its outcome."""

    def __init__(self) -> None:
        self._flights: dict[str, _Flight[T]] = {}

    async def run(self, key: str, compute: Callable[[], Awaitable[T]]) -> tuple[T, bool]:
        """The value, and whether it was computed by another caller."""
        while (flight := self._flights.get(key)) is not None:
            await flight.done.wait()
            if flight.error is not None:
                raise copy.copy(flight.error)
            if flight.result is not None:
                return flight.result, True
            # The computing caller was cancelled: loop, and perhaps take over.
        flight = _Flight[T]()
        self._flights[key] = flight
        try:
            flight.result = await compute()
        except Exception as error:
            flight.error = error
            raise
        finally:
            del self._flights[key]
            flight.done.set()
        return flight.result, False


class SingleFlightCache(Generic[T]):
    """LRU of at most ``max_entries`` values, with coalesced misses."""

    def __init__(self, max_entries: int = 256) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.max_entries = max_entries
        self.stats = CacheStats()
        self._entries: OrderedDict[str, T] = OrderedDict()
        self._flights: SingleFlight[T] = SingleFlight()

    def __len__(self) -> int:
        return len(self._entries)

    def peek(self, key: str) -> T | None:
        """The cached value, marked recently used, or None."""
        value = self._entries.get(key)
        if value is not None:
            self._entries.move_to_end(key)
        return value

    def clear(self) -> None:
        self._entries.clear()

    async def get_or_compute(self, key: str, compute: Callable[[], Awaitable[T]]) -> tuple[T, bool]:
        """The value for ``key`` and whether it came from the cache (or another caller)."""
        cached = self.peek(key)
        if cached is not None:
            self.stats.hits += 1
            return cached, True

        async def compute_and_store() -> T:
            self.stats.misses += 1
            value = await compute()
            self._store(key, value)
            return value

        value, shared = await self._flights.run(key, compute_and_store)
        if shared:
            self.stats.hits += 1
            self.stats.coalesced += 1
        return value, shared

    def _store(self, key: str, value: T) -> None:
        self._entries[key] = value
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
            self.stats.evictions += 1
