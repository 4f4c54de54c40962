"""Leader election, write fencing and the history replica: when this instance may write.

With ``ha`` in the settings, ``fleet run`` first stands by: it answers who leads on its
API address (fleet.adapters.http.standby) and tries the Lease every ``retry_period``
(the decisions are fleet.engine.leadership's). Once it holds the Lease it restores the
history from the replica, opens it and runs as a daemon does, renewing the Lease all
along. The ``Fence`` is the in-memory end of the current term: every write the executor
starts checks it first (fleet.runtime.executor), so a leader whose renewals fail stops
writing at the renew deadline even while its renewal request hangs, before anyone else
can take the Lease. When the term ends the instance stops Litestream at once, cancels
everything and exits with ``Deposed`` (exit code 75: systemd starts it again, as a
standby). On a graceful stop it releases the Lease, so a standby takes over at once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import anyio

from fleet.adapters.kube.leases import LeaseClient, LeaseConflict, LeaseError
from fleet.engine.leadership import (
    Acquire,
    Create,
    LeaseRecord,
    Renew,
    Wait,
    changed,
    decide,
    next_record,
    term_valid_until,
    write_refusal,
)

log = logging.getLogger(__name__)

#: ``fleet run``'s exit code once deposed (EX_TEMPFAIL): start again, as a standby.
DEPOSED_EXIT_CODE = 75


class HaError(Exception):
    """High availability cannot work as configured."""


class Deposed(HaError):
    """This instance lost the leader Lease: it has stopped writing and must exit."""


class NotLeader(Exception):
    """A write was about to start outside the leader's term (the fence refused it)."""


Clock = Callable[[], float]


@dataclass
class Fence:
    """The end of the current leader term, on the monotonic clock.

    ``unbounded`` (no ``ha`` settings): one instance, always allowed to write."""

    unbounded: bool = False
    valid_until: float | None = None
    clock: Clock = field(default=time.monotonic)
    #: Writes refused (the executor counts them here, tests read it).
    refused: int = 0

    def extend(self, renew_started: float, renew_deadline: float) -> None:
        self.valid_until = term_valid_until(renew_started, renew_deadline)

    def revoke(self) -> None:
        self.valid_until = None

    def refusal(self) -> str | None:
        if self.unbounded:
            return None
        return write_refusal(self.valid_until, self.clock())

    def check(self) -> None:
        """Raise NotLeader unless a write may start now."""
        reason = self.refusal()
        if reason is not None:
            self.refused += 1
            raise NotLeader(reason)


@dataclass(frozen=True, slots=True)
class Timings:
    lease_duration: float
    renew_deadline: float
    retry_period: float


class LeaderElector:
    """Tries for the Lease, then keeps renewing it (client-go's loop, one Lease)."""

    def __init__(
        self,
        leases: LeaseClient,
        identity: str,
        timings: Timings,
        fence: Fence,
        *,
        wall: Clock = time.time,
    ) -> None:
        self.leases = leases
        self.identity = identity
        self.timings = timings
        self.fence = fence
        self._wall = wall
        self._observed: LeaseRecord | None = None
        self._observed_at = 0.0
        #: The holder as last seen ("" before the first read).
        self.leader = ""
        self.acquired_at: float | None = None
        self.last_error = ""

    @property
    def clock(self) -> Clock:
        return self.fence.clock

    async def try_once(self, timeout: float) -> bool:  # noqa: ASYNC109
        """One read and maybe one write; True when we hold the Lease after it."""
        started = self.clock()
        record = await self.leases.read(timeout)
        if self._observed_at == 0.0 or changed(self._observed, record):
            self._observed, self._observed_at = record, self.clock()
        decision = decide(record, self._observed_at, self.clock(), self.identity)
        if isinstance(decision, Wait):
            self.leader = decision.leader
            return False
        assert isinstance(decision, Create | Acquire | Renew)
        wanted = next_record(
            record, decision, self.identity, self._wall(), self.timings.lease_duration
        )
        stored = await self.leases.write(wanted, timeout)
        # The term counts from before the read: others saw the renewal after that.
        self.fence.extend(started, self.timings.renew_deadline)
        self._observed, self._observed_at = stored, self.clock()
        if not isinstance(decision, Renew):
            log.info(
                "took the leader lease %s as %s%s",
                self.leases.where,
                self.identity,
                f" (from {decision.previous_holder})"
                if isinstance(decision, Acquire) and decision.previous_holder
                else "",
            )
        self.leader = self.identity
        return True

    async def acquire(self) -> None:
        """Return once this instance holds the Lease."""
        period = self.timings.retry_period
        while True:
            try:
                with anyio.move_on_after(period * 2):
                    if await self.try_once(period * 2):
                        self.acquired_at = self.clock()
                        return
            except LeaseConflict:
                pass  # someone else wrote first: read again
            except LeaseError as error:
                if str(error) != self.last_error:
                    log.warning("leader election: %s", error)
                self.last_error = str(error)
            await anyio.sleep(period)

    async def hold(self) -> str:
        """Renew every ``retry_period``; return why the term ended (the fence has
        already refused writes from that moment on)."""
        period = self.timings.retry_period
        while True:
            valid_until = self.fence.valid_until
            remaining = (valid_until - self.clock()) if valid_until is not None else 0.0
            if remaining <= 0:
                return (
                    f"could not renew the leader lease within renew_deadline "
                    f"({self.timings.renew_deadline:g}s): {self.last_error or 'no answer'}"
                )
            renewed = False
            try:
                with anyio.move_on_after(remaining):
                    renewed = await self.try_once(remaining)
                    if not renewed:
                        return f"the leader lease is held by {self.leader}"
            except LeaseConflict as error:
                self.last_error = str(error)
            except LeaseError as error:
                self.last_error = str(error)
                log.warning("leader lease renewal failed: %s", error)
            if renewed:
                self.last_error = ""
                await anyio.sleep(period)
            else:
                valid_until = self.fence.valid_until
                left = (valid_until - self.clock()) if valid_until is not None else 0.0
                await anyio.sleep(max(0.0, min(period, left)))

    async def release(self) -> None:
        """Give the Lease up (graceful stop): standbys take it at their next try."""
        record = self._observed
        if record is None or record.holder != self.identity:
            return
        released = LeaseRecord(
            holder="",
            lease_duration=1.0,
            acquire_time=record.acquire_time,
            renew_time=self._wall(),
            transitions=record.transitions,
            resource_version=record.resource_version,
        )
        self.fence.revoke()
        try:
            with anyio.move_on_after(self.timings.retry_period):
                await self.leases.write(released, self.timings.retry_period)
                log.info("released the leader lease %s", self.leases.where)
        except LeaseError as error:
            log.warning("could not release the leader lease: %s", error)
