"""Token buckets: how often one caller may ask for work that costs every cluster.

A diff or a plan dry-runs each of an app's objects on each of its clusters, so one
request is cheap to send and expensive to answer. Each caller (a token's name, or the
client address when reads are open) has a bucket of ``burst`` requests that refills at
``per_minute``; an empty bucket answers 429 with the seconds until the next request
fits. The clock is passed in, so tests drive it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

#: Buckets kept at most; a full table drops those that have refilled (they hold nothing).
MAX_BUCKETS = 10_000


@dataclass(slots=True)
class _Bucket:
    level: float
    at: float


class RateLimiter:
    def __init__(
        self,
        per_minute: float,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}

    def take(self, caller: str) -> float:
        """Spend one request of ``caller``'s; 0 if it may go on, else seconds to wait."""
        now = self._clock()
        bucket = self._buckets.get(caller)
        if bucket is None:
            if len(self._buckets) >= MAX_BUCKETS:
                self._forget_full(now)
            bucket = self._buckets[caller] = _Bucket(self.burst, now)
        bucket.level = min(self.burst, bucket.level + (now - bucket.at) * self.rate)
        bucket.at = now
        if bucket.level >= 1.0:
            bucket.level -= 1.0
            return 0.0
        return (1.0 - bucket.level) / self.rate

    def _forget_full(self, now: float) -> None:
        full = [
            name
            for name, bucket in self._buckets.items()
            if bucket.level + (now - bucket.at) * self.rate >= self.burst
        ]
        for name in full or list(self._buckets)[: len(self._buckets) // 2]:
            del self._buckets[name]


def retry_after(seconds: float) -> str:
    """A Retry-After value: whole seconds, rounded up, at least 1."""
    return str(max(1, math.ceil(seconds)))
