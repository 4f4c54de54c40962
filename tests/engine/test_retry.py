"""Retry decisions: which errors, how long, how many times."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fleet.engine.retry import (
    ApiError,
    RetryPolicy,
    backoff_delay,
    decide_retry,
    is_retryable,
    stable_random,
)

CLASSIFICATION: list[tuple[str, ApiError, bool]] = [
    ("no answer (connection refused, timeout)", ApiError(0, "ConnectionError"), True),
    ("429 throttled", ApiError(429, "TooManyRequests"), True),
    ("500 internal error", ApiError(500, "InternalError"), True),
    ("503 unavailable", ApiError(503, "ServiceUnavailable"), True),
    ("504 gateway timeout", ApiError(504, "Timeout"), True),
    ("409 conflict (optimistic concurrency)", ApiError(409, "Conflict"), True),
    ("a retryable reason under another status", ApiError(400, "ServerTimeout"), True),
    ("409 already exists is final", ApiError(409, "AlreadyExists"), False),
    ("400 bad request", ApiError(400, "BadRequest"), False),
    ("401 unauthorized", ApiError(401, "Unauthorized"), False),
    ("403 forbidden", ApiError(403, "Forbidden"), False),
    ("404 not found", ApiError(404, "NotFound"), False),
    ("422 invalid", ApiError(422, "Invalid"), False),
    ("500 carrying a final reason", ApiError(500, "Invalid"), False),
]


@pytest.mark.parametrize(
    ("error", "retryable"),
    [(e, r) for _, e, r in CLASSIFICATION],
    ids=[row[0] for row in CLASSIFICATION],
)
def test_classification(error: ApiError, retryable: bool) -> None:
    assert is_retryable(error) is retryable


NO_JITTER = RetryPolicy(base_delay=1.0, factor=2.0, max_delay=60.0, jitter=0.0)


@pytest.mark.parametrize(
    ("attempt", "delay"), [(1, 1.0), (2, 2.0), (3, 4.0), (6, 32.0), (7, 60.0), (50, 60.0)]
)
def test_exponential_with_a_cap(attempt: int, delay: float) -> None:
    assert backoff_delay(attempt, NO_JITTER, lambda: 0.5) == delay


@settings(database=None)
@given(st.integers(1, 40), st.floats(0.0, 0.999999))
def test_jitter_stays_within_its_band_and_the_cap(attempt: int, random: float) -> None:
    policy = RetryPolicy(jitter=0.2)
    plain = backoff_delay(attempt, RetryPolicy(jitter=0.0), lambda: random)
    delay = backoff_delay(attempt, policy, lambda: random)
    assert 0.8 * plain - 1e-9 <= delay <= min(1.2 * plain, policy.max_delay) + 1e-9


def test_give_up_after_max_attempts_and_say_why() -> None:
    policy = RetryPolicy(max_attempts=3)
    error = ApiError(503, "ServiceUnavailable", "etcd leader changed")
    assert decide_retry(error, 2, policy, lambda: 0.5).retry
    final = decide_retry(error, 3, policy, lambda: 0.5)
    assert not final.retry
    assert "gave up after 3 attempts" in final.reason
    assert "etcd leader changed" in final.reason
    assert "not retryable" in decide_retry(ApiError(422, "Invalid"), 1, policy, lambda: 0.5).reason


def test_retry_after_is_honoured_up_to_the_cap() -> None:
    policy = RetryPolicy(jitter=0.0, max_delay=30.0)
    assert (
        decide_retry(ApiError(429, "TooManyRequests", retry_after=7), 1, policy, lambda: 0.0).delay
        == 7.0
    )
    assert (
        decide_retry(
            ApiError(429, "TooManyRequests", retry_after=600), 1, policy, lambda: 0.0
        ).delay
        == 30.0
    )


def test_stable_random_is_a_pure_function() -> None:
    first = stable_random("sync", "apply x", 1)()
    assert first == stable_random("sync", "apply x", 1)()
    assert first != stable_random("sync", "apply x", 2)()
    assert 0.0 <= first < 1.0


def test_error_text() -> None:
    assert str(ApiError(422, "Invalid", "spec.replicas: must be >= 0")) == (
        "422 Invalid: spec.replicas: must be >= 0"
    )
    assert str(ApiError(0, "ConnectionError")) == "ConnectionError"
