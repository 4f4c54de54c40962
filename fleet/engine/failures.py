"""Whether a failed sync may pass if it is simply run again: the sync retry's question.

A sync retries its own requests (fleet.engine.retry); when it still fails, the runtime
may start the whole sync again later (``syncPolicy.retry``, fleet.runtime.retries). That
is worth it only when every failure could go away by itself:

- may pass: a request that got no answer (cluster unreachable), 5xx, 429, a conflict
  (409 Conflict, not AlreadyExists), or a server timeout; a wait that passed its
  deadline (something slow, or a cluster that stopped answering);
- will not pass: a render error, an empty render, an unreadable annotation, a duplicate,
  an object of another app or outside the project, a refused prune, a request the API
  server refused for good (400, 401, 403, 404, 422, AlreadyExists), a Degraded resource,
  a failed hook. Running the same revision again would fail the same way; it takes a
  new commit, a fix on the cluster or a person.

One failure that will not pass is enough: the sync is not retried. Pure and table-tested.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from fleet.engine.decisions import Failed
from fleet.engine.prepare import Reason
from fleet.engine.progress import Failure
from fleet.engine.retry import RetryPolicy, backoff_delay, is_retryable

#: Failures that carry the API's answer to one request.
REQUEST_FAILURES = frozenset(
    {
        Reason.DRY_RUN_FAILED,
        Reason.APPLY_FAILED,
        Reason.PRUNE_FAILED,
        Reason.HOOK_CREATE_FAILED,
        Reason.HOOK_DELETE_FAILED,
    }
)
#: Failures the engine found itself that may go away: a wait past its deadline.
PASSING_FAILURES = frozenset({Reason.TIMEOUT})


@dataclass(frozen=True, slots=True)
class RetryVerdict:
    """Whether running the sync again may succeed, and the failure that says so."""

    may_pass: bool
    reason: str


def failure_may_pass(failure: Failure) -> bool:
    """Whether this one failure could go away without a change to Git or the cluster."""
    if failure.reason in REQUEST_FAILURES:
        return failure.error is not None and is_retryable(failure.error)
    return failure.reason in PASSING_FAILURES


def sync_may_pass(verdict: Failed) -> RetryVerdict:
    """Whether the whole failed sync is worth running again (every failure may pass)."""
    if not verdict.failures:
        return RetryVerdict(False, "the sync failed without naming a failure")
    for failure in verdict.failures:
        if not failure_may_pass(failure):
            return RetryVerdict(False, f"will not pass by itself: {failure}")
    return RetryVerdict(True, f"may pass: {verdict.failures[0]}")


@dataclass(frozen=True, slots=True)
class SyncRetry:
    """Run the failed sync again after ``delay`` seconds, or not, and why."""

    retry: bool
    delay: float = 0.0
    reason: str = ""


def decide_sync_retry(
    verdict: Failed, retries_done: int, policy: RetryPolicy, random: Callable[[], float]
) -> SyncRetry:
    """The sync retry after a failed sync (``retries_done`` retries of it so far).

    ``policy`` is the app's ``syncPolicy.retry``: at most ``max_attempts`` retries, the
    n-th after ``backoff_delay(n)`` (exponential, jittered, capped); a Retry-After the
    server sent is waited for at least (within the cap).
    """
    passing = sync_may_pass(verdict)
    if not passing.may_pass:
        return SyncRetry(False, reason=passing.reason)
    if retries_done >= policy.max_attempts:
        return SyncRetry(False, reason=f"gave up after {retries_done} retries")
    delay = backoff_delay(retries_done + 1, policy, random)
    asked = [f.error.retry_after for f in verdict.failures if f.error and f.error.retry_after]
    if asked:
        delay = max(delay, min(max(asked), policy.max_delay))
    return SyncRetry(True, delay, passing.reason)
