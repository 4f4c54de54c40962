"""Which failed syncs are worth running again, and when (fleet.engine.failures)."""

from __future__ import annotations

import pytest

from fleet.engine import ApiError, Failed, Failure, Reason, RetryPolicy
from fleet.engine.failures import decide_sync_retry, failure_may_pass, sync_may_pass
from fleet.model.refs import ObjectRef

REF = ObjectRef("apps", "Deployment", "web", "api")


def failed(*failures: Failure) -> Failed:
    return Failed(tuple(failures), frozenset())


def request(
    reason: str, status: int, api_reason: str = "", retry_after: float | None = None
) -> Failure:
    return Failure(reason, "x", REF, error=ApiError(status, api_reason, "m", retry_after))


@pytest.mark.parametrize(
    ("failure", "may_pass"),
    [
        # requests: the API's answer decides
        (request(Reason.APPLY_FAILED, 0, "ConnectionError"), True),  # unreachable
        (request(Reason.APPLY_FAILED, 500, "InternalError"), True),
        (request(Reason.APPLY_FAILED, 502), True),
        (request(Reason.DRY_RUN_FAILED, 503, "ServiceUnavailable"), True),
        (request(Reason.PRUNE_FAILED, 504, "Timeout"), True),
        (request(Reason.APPLY_FAILED, 429, "TooManyRequests"), True),
        (request(Reason.HOOK_CREATE_FAILED, 409, "Conflict"), True),
        (request(Reason.HOOK_DELETE_FAILED, 500, "ServerTimeout"), True),
        (request(Reason.HOOK_CREATE_FAILED, 409, "AlreadyExists"), False),
        (request(Reason.DRY_RUN_FAILED, 422, "Invalid"), False),
        (request(Reason.DRY_RUN_FAILED, 400, "BadRequest"), False),
        (request(Reason.APPLY_FAILED, 403, "Forbidden"), False),
        (request(Reason.APPLY_FAILED, 401, "Unauthorized"), False),
        (request(Reason.DRY_RUN_FAILED, 404, "NotFound"), False),
        (request(Reason.APPLY_FAILED, 500, "Invalid"), False),  # a final reason wins
        (Failure(Reason.APPLY_FAILED, "no answer kept", REF), False),  # saved before errors
        # what the engine found itself
        (Failure(Reason.TIMEOUT, "not healthy after 300s", REF), True),
        (Failure(Reason.DEGRADED, "ProgressDeadlineExceeded", REF), False),
        (Failure(Reason.HOOK_FAILED, "BackoffLimitExceeded", REF), False),
        (Failure(Reason.RENDER_FAILED, "kustomize: no such file"), False),
        (Failure(Reason.EMPTY_RENDER, "empty"), False),
        (Failure(Reason.INVALID_ANNOTATION, "sync-wave: x", REF), False),
        (Failure(Reason.DUPLICATE_OBJECT, "twice", REF), False),
        (Failure(Reason.SHARED_RESOURCE, "app b", REF), False),
        (Failure(Reason.PRUNE_REFUSED, "guard"), False),
        (Failure("SomethingNew", "a reason this table does not know"), False),
    ],
)
def test_failure_may_pass(failure: Failure, may_pass: bool) -> None:
    assert failure_may_pass(failure) is may_pass


def test_one_failure_that_will_not_pass_is_enough_to_not_retry() -> None:
    verdict = failed(
        request(Reason.APPLY_FAILED, 500, "InternalError"),
        Failure(Reason.DEGRADED, "ImagePullBackOff", REF),
    )
    passing = sync_may_pass(verdict)
    assert not passing.may_pass
    assert "Degraded" in passing.reason
    assert sync_may_pass(failed(request(Reason.APPLY_FAILED, 503))).may_pass
    assert not sync_may_pass(failed()).may_pass


POLICY = RetryPolicy(max_attempts=3, base_delay=5.0, factor=2.0, max_delay=12.0, jitter=0.2)
TRANSIENT = failed(request(Reason.APPLY_FAILED, 500, "InternalError"))


@pytest.mark.parametrize(
    ("retries_done", "random", "retry", "delay"),
    [
        (0, 0.5, True, 5.0),  # first retry: the base delay
        (1, 0.5, True, 10.0),  # then doubled
        (2, 0.5, True, 12.0),  # capped at maxDuration
        (3, 0.5, False, 0.0),  # the limit reached
        (0, 0.0, True, 4.0),  # jitter: -20 %
        (0, 1.0, True, 6.0),  # jitter: +20 %
        (2, 1.0, True, 12.0),  # never past the cap, jitter or not
    ],
)
def test_sync_retry_backs_off_exponentially_with_jitter_up_to_the_limit(
    retries_done: int, random: float, retry: bool, delay: float
) -> None:
    decision = decide_sync_retry(TRANSIENT, retries_done, POLICY, lambda: random)
    assert decision.retry is retry
    assert decision.delay == pytest.approx(delay)
    if not retry:
        assert "gave up after 3 retries" in decision.reason


def test_a_sync_that_will_not_pass_is_not_retried_whatever_the_limit() -> None:
    verdict = failed(Failure(Reason.HOOK_FAILED, "migration failed", REF))
    decision = decide_sync_retry(verdict, 0, POLICY, lambda: 0.5)
    assert not decision.retry
    assert "HookFailed" in decision.reason


def test_a_retry_after_from_the_server_is_honoured_within_the_cap() -> None:
    verdict = failed(request(Reason.APPLY_FAILED, 429, "TooManyRequests", retry_after=9.0))
    assert decide_sync_retry(verdict, 0, POLICY, lambda: 0.5).delay == pytest.approx(9.0)
    verdict = failed(request(Reason.APPLY_FAILED, 429, "TooManyRequests", retry_after=600.0))
    assert decide_sync_retry(verdict, 0, POLICY, lambda: 0.5).delay == pytest.approx(12.0)


def test_a_limit_of_zero_never_retries() -> None:
    policy = RetryPolicy(max_attempts=0)
    assert not decide_sync_retry(TRANSIENT, 0, policy, lambda: 0.5).retry
