"""When to try a failed request again, and how long to wait first.

Pure functions: the random source for jitter is passed in, so the same inputs always give
the same delay. The engine passes a deterministic source derived from the action and the
attempt (so a replayed sync waits the same); the runtime can pass ``random.random`` for its
own back-offs (a cluster that is down).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

#: HTTP statuses worth another try: conflicts on optimistic concurrency, throttling, and
#: server-side trouble. Everything else (400, 401, 403, 404, 422 ...) will fail again.
RETRYABLE_STATUSES = frozenset({409, 429, 500, 502, 503, 504})
#: Kubernetes Status reasons worth another try, whatever the HTTP status.
RETRYABLE_REASONS = frozenset(
    {
        "Conflict",
        "ServerTimeout",
        "Timeout",
        "TooManyRequests",
        "ServiceUnavailable",
        "InternalError",
        "ConnectionError",
    }
)
#: Reasons that never succeed on retry even under a retryable status.
FINAL_REASONS = frozenset(
    {
        "AlreadyExists",
        "Invalid",
        "Forbidden",
        "Unauthorized",
        "BadRequest",
        "NotFound",
        "MethodNotAllowed",
        "Gone",
        "RequestEntityTooLarge",
        "UnsupportedMediaType",
        "NotAcceptable",
    }
)


@dataclass(frozen=True, slots=True)
class ApiError:
    """What a failed request said. ``status`` 0 means no HTTP answer (network trouble)."""

    status: int
    reason: str = ""
    message: str = ""
    #: Seconds from a Retry-After header, if the server sent one.
    retry_after: float | None = None

    def __str__(self) -> str:
        code = f"{self.status} " if self.status else ""
        return f"{code}{self.reason}: {self.message}" if self.message else f"{code}{self.reason}"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential back-off with proportional jitter and a cap."""

    max_attempts: int = 5
    base_delay: float = 1.0
    factor: float = 2.0
    max_delay: float = 60.0
    #: Each delay is scaled by a random factor in [1 - jitter, 1 + jitter].
    jitter: float = 0.2


def is_retryable(error: ApiError) -> bool:
    """Whether the same request might succeed later."""
    if error.reason in FINAL_REASONS:
        return False
    return (
        error.status == 0
        or error.status in RETRYABLE_STATUSES
        or (error.reason in RETRYABLE_REASONS)
    )


def backoff_delay(attempt: int, policy: RetryPolicy, random: Callable[[], float]) -> float:
    """Seconds to wait after the ``attempt``-th failure (1-based), jittered, at most max."""
    raw = policy.base_delay * policy.factor ** max(attempt - 1, 0)
    scale = 1.0 - policy.jitter + 2.0 * policy.jitter * random()
    return min(policy.max_delay, min(raw, policy.max_delay) * scale)


@dataclass(frozen=True, slots=True)
class RetryDecision:
    retry: bool
    delay: float = 0.0
    reason: str = ""


def decide_retry(
    error: ApiError, attempt: int, policy: RetryPolicy, random: Callable[[], float]
) -> RetryDecision:
    """Retry after ``delay`` seconds, or give up and say why."""
    if not is_retryable(error):
        return RetryDecision(False, reason=f"not retryable: {error}")
    if attempt >= policy.max_attempts:
        return RetryDecision(False, reason=f"gave up after {attempt} attempts: {error}")
    delay = backoff_delay(attempt, policy, random)
    if error.retry_after is not None:
        delay = max(delay, min(error.retry_after, policy.max_delay))
    return RetryDecision(True, delay=delay)


def stable_random(*parts: object) -> Callable[[], float]:
    """A 'random' source in [0, 1) that is a pure function of ``parts``."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    value = int.from_bytes(digest[:8], "big") / 2**64
    return lambda: value
