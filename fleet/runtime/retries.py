"""A worker's retries of a failed sync: run it again on its own, later or at once.

A sync that failed for a reason that may pass (fleet.engine.failures: no answer, 5xx,
429, a conflict, a wait past its deadline) is run again with the app's
``syncPolicy.retry``: up to ``limit`` times, the n-th after an exponential, jittered
back-off. No timer task is needed: the worker waits for its mailbox only until the
retry is due (``next_triggers``), then gets a ``retry`` trigger. A cluster that cannot be
reached does not use up retries: the retry waits for it, and runs at once when the
cluster is seen again (the daemon wakes the workers then), whatever its back-off said.

Not retried: a dry run, a self-heal (self-heal has its own back-off), and any sync whose
failure will not pass by itself (a Degraded resource, a failed hook, a 4xx, a render
error). A success, or another revision, starts the count again. While a retry is
pending within its back-off the rollout is not told of the failure: the cluster is still
on its way. A cluster out of reach is reported failed at once (the rollout's failure
budget decides whether the rollout goes on without it), and Succeeded once it is back
and the retry succeeds.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import anyio

from fleet.engine import Failed, RetryPolicy
from fleet.engine.failures import SyncRetry, decide_sync_retry
from fleet.runtime.mailbox import Mailbox, Trigger

#: The back-off jitter of every (app, cluster) without a generator of its own: one for all,
#: as each holds 2.5 KiB of state and there is a SyncRetries per app on every cluster.
_JITTER = random.Random()


class SyncRetries:
    """The pending retry of one (app, cluster), if any."""

    def __init__(self, clock: Callable[[], float], rng: random.Random | None = None) -> None:
        self._clock = clock
        self._rng = rng or _JITTER
        #: The revision whose failed sync is retried, and the retries made for it.
        self.revision: str | None = None
        self.done = 0
        #: When the pending retry is due (None: no retry pending).
        self.due_at: float | None = None
        #: The cluster was out of reach since the failure: retry as soon as it is back.
        self._lost_cluster = False
        self._eligible = False
        #: The back-off's wake-up was handed out: the worker is not woken twice for it.
        self._woken = False
        self.last = SyncRetry(False)

    @property
    def pending(self) -> bool:
        return self.due_at is not None

    # -- a sync starts and ends ----------------------------------------------------------

    def starting(self, trigger: Trigger) -> None:
        """A sync starts: only those of a revision (not dry runs, not heals) are retried."""
        self._eligible = not trigger.dry_run and trigger.reason != "drift"

    def succeeded(self) -> None:
        self.revision, self.done, self.due_at = None, 0, None
        self._lost_cluster = False

    def failed(
        self, revision: str, verdict: Failed, policy: RetryPolicy, reachable: bool | None
    ) -> SyncRetry:
        """Decide the retry of a failed sync; the decision says whether one is pending."""
        if not self._eligible:
            self.due_at = None
            self.last = SyncRetry(False, reason="not retried: a dry run or a self-heal")
            return self.last
        if revision != self.revision:
            self.revision, self.done = revision, 0
        self.last = decide_sync_retry(verdict, self.done, policy, self._rng.random)
        self._lost_cluster = reachable is False
        self._woken = False
        self.due_at = self._clock() + self.last.delay if self.last.retry else None
        return self.last

    # -- when to run it ------------------------------------------------------------------

    def due(self, revision: str, reachable: bool | None) -> bool:
        """Whether the retry of ``revision`` should run now (the cluster answering)."""
        if self.due_at is None or revision != self.revision:
            return False
        if reachable is False:
            self._lost_cluster = True
            return False
        return self._lost_cluster or self._clock() >= self.due_at

    def take(self) -> Trigger:
        """The trigger of the retry that runs now; counts it."""
        self.done += 1
        self.due_at = None
        self._lost_cluster = False
        return Trigger("retry", revision=self.revision, detail=f"retry {self.done}")

    async def next_triggers(self, mailbox: Mailbox, reachable: bool | None) -> list[Trigger]:
        """What the mailbox holds, or a ``retry`` trigger once the pending retry is due.

        While the cluster is out of reach the retry waits for the mailbox (the daemon
        posts to it when the cluster comes back), so an overdue retry never spins.
        """
        if self.due_at is None or self._woken or reachable is False:
            return await mailbox.take()
        with anyio.move_on_after(max(0.0, self.due_at - self._clock())):
            return await mailbox.take()
        # Once: a retry that cannot run now (held, or its revision no longer the target)
        # must not wake the worker in a loop; the next trigger looks at it again.
        self._woken = True
        return [Trigger("retry", revision=self.revision, detail="back-off over")]

    def announcement(self, retry: SyncRetry, policy: RetryPolicy, reachable: bool | None) -> str:
        """The ``sync_retrying`` event's message for a retry just decided."""
        when = (
            "when the cluster answers again"
            if reachable is False
            else f"in {retry.delay:.1f}s (or when the cluster is back, if it goes away)"
        )
        return f"retry {self.done + 1} of {policy.max_attempts} {when}; {retry.reason}"


class ConfigResync:
    """A reload changed an app, its cluster or its source: its (new) worker syncs once,
    at once, if what it renders now differs from the cluster (automated apps only)."""

    def __init__(self) -> None:
        self.pending = False

    def config_changed(self, mailbox: Mailbox) -> None:
        self.pending = True
        mailbox.post(Trigger("config", detail="the app's config changed"))

    def take(self) -> bool:
        pending, self.pending = self.pending, False
        return pending
