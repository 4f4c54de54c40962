"""A token bucket per cluster: QPS with a burst, as client-go's default rate limiter.

anyio offers concurrency limits but no rate limiter, and the few PyPI rate limiters are
either unmaintained or asyncio-only with their own clocks; this is twenty lines.
"""

from __future__ import annotations

import anyio


class TokenBucket:
    """Allows ``burst`` requests at once, refilled at ``qps`` per second. qps <= 0: no limit."""

    def __init__(self, qps: float, burst: int) -> None:
        self.qps = qps
        self.burst = max(1, burst)
        self._tokens = float(self.burst)
        self._stamp: float | None = None
        self._lock = anyio.Lock()

    async def acquire(self) -> None:
        if self.qps <= 0:
            return
        if not self._lock.locked() and self._take():
            return  # a token at hand and nobody queued before us: no lock to go through
        async with self._lock:
            if not self._take():
                await anyio.sleep((1 - self._tokens) / self.qps)
                self._stamp = anyio.current_time()
                self._tokens = 0.0

    def _take(self) -> bool:
        """Refill, then take a token if one is there (no await: atomic on the loop)."""
        now = anyio.current_time()
        if self._stamp is not None:
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.qps)
        self._stamp = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True
