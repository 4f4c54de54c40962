"""A worker's retries of a failed sync (fleet.runtime.retries)."""

from __future__ import annotations

import random

import anyio
import pytest

from fleet.engine import ApiError, Failed, Failure, Reason, RetryPolicy
from fleet.runtime.mailbox import Mailbox, Trigger
from fleet.runtime.retries import ConfigResync, SyncRetries

pytestmark = pytest.mark.anyio

POLICY = RetryPolicy(max_attempts=2, base_delay=10.0, factor=2.0, max_delay=60.0, jitter=0.0)
SERVER_ERROR = Failed(
    (Failure(Reason.APPLY_FAILED, "500", error=ApiError(500, "InternalError")),), frozenset()
)
DEGRADED = Failed((Failure(Reason.DEGRADED, "ImagePullBackOff"),), frozenset())


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def retries() -> tuple[SyncRetries, Clock]:
    clock = Clock()
    return SyncRetries(clock, random.Random(1)), clock


def test_a_transient_failure_is_retried_after_its_back_off_up_to_the_limit() -> None:
    sync, clock = retries()
    sync.starting(Trigger("poll"))
    assert sync.failed("abc", SERVER_ERROR, POLICY, reachable=True).delay == 10.0
    assert not sync.due("abc", reachable=True)
    clock.now += 10.0
    assert not sync.due("other", reachable=True), "only the revision that failed"
    assert sync.due("abc", reachable=True)
    trigger = sync.take()
    assert (trigger.reason, trigger.revision) == ("retry", "abc")
    sync.starting(trigger)
    assert sync.failed("abc", SERVER_ERROR, POLICY, reachable=True).delay == 20.0
    clock.now += 20.0
    sync.starting(sync.take())
    decision = sync.failed("abc", SERVER_ERROR, POLICY, reachable=True)
    assert not decision.retry
    assert "gave up after 2 retries" in decision.reason
    assert not sync.pending


def test_a_failure_that_will_not_pass_and_a_heal_or_dry_run_are_not_retried() -> None:
    sync, _ = retries()
    sync.starting(Trigger("webhook"))
    assert not sync.failed("abc", DEGRADED, POLICY, reachable=True).retry
    for trigger in (Trigger("drift"), Trigger("manual", dry_run=True)):
        sync.starting(trigger)
        assert not sync.failed("abc", SERVER_ERROR, POLICY, reachable=True).retry
        assert not sync.pending


def test_an_unreachable_cluster_uses_up_no_retry_and_is_retried_once_back() -> None:
    sync, clock = retries()
    sync.starting(Trigger("poll"))
    sync.failed("abc", SERVER_ERROR, POLICY, reachable=True)
    clock.now += 60.0
    assert not sync.due("abc", reachable=False), "waits for the cluster"
    assert sync.pending
    clock.now -= 59.0  # back before its back-off is over: at once all the same
    assert sync.due("abc", reachable=True)


def test_success_and_a_new_revision_start_the_count_again() -> None:
    sync, clock = retries()
    sync.starting(Trigger("poll"))
    sync.failed("abc", SERVER_ERROR, POLICY, reachable=True)
    clock.now += 10.0
    sync.starting(sync.take())
    sync.succeeded()
    assert not sync.pending
    sync.starting(Trigger("poll"))
    assert sync.failed("abc", SERVER_ERROR, POLICY, reachable=True).delay == 10.0
    sync.starting(Trigger("poll"))
    assert sync.failed("def", SERVER_ERROR, POLICY, reachable=True).delay == 10.0


async def test_the_mailbox_is_awaited_only_until_the_retry_is_due() -> None:
    sync, clock = retries()
    mailbox = Mailbox()
    sync.starting(Trigger("poll"))
    sync.failed("abc", SERVER_ERROR, POLICY, reachable=True)
    clock.now += 9.95  # due in 50 ms
    with anyio.fail_after(2):
        taken = await sync.next_triggers(mailbox, reachable=True)
    assert [t.reason for t in taken] == ["retry"]
    # while the cluster is out of reach, only the mailbox wakes the worker
    mailbox.post(Trigger("poll", detail="cluster reachable again"))
    with anyio.fail_after(2):
        taken = await sync.next_triggers(mailbox, reachable=False)
    assert [t.detail for t in taken] == ["cluster reachable again"]
    with anyio.move_on_after(0.2) as waited:
        await sync.next_triggers(mailbox, reachable=False)
    assert waited.cancelled_caught, "an overdue retry does not spin while unreachable"


def test_a_config_change_asks_for_one_resync() -> None:
    resync, mailbox = ConfigResync(), Mailbox()
    resync.config_changed(mailbox)
    assert mailbox.pending()
    assert resync.take()
    assert not resync.take()


async def test_a_retry_that_cannot_run_wakes_the_worker_once_not_in_a_loop() -> None:
    sync, clock = retries()
    mailbox = Mailbox()
    sync.starting(Trigger("poll"))
    sync.failed("abc", SERVER_ERROR, POLICY, reachable=True)
    clock.now += 10.0
    with anyio.fail_after(2):
        assert [t.reason for t in await sync.next_triggers(mailbox, reachable=True)] == ["retry"]
    # the target moved on (a new commit): the worker does not take the retry ...
    assert not sync.due("def", reachable=True)
    with anyio.move_on_after(0.2) as waited:
        await sync.next_triggers(mailbox, reachable=True)
    assert waited.cancelled_caught, "... and is not woken for it again"
    assert sync.due("abc", reachable=True), "still due should the revision come back"
