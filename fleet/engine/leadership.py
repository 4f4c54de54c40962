"""Leader election decisions and write fencing, given a Lease record and the time.

The rules are client-go's ``leaderelection``, so a fleet instance and a client-go
candidate read the same Lease the same way:

- a lease held by someone else is valid until ``leaseDuration`` has passed since this
  candidate last *saw the record change* (its own clock, never the holder's
  ``renewTime``: hosts' clocks disagree, and a local observation cannot be skewed);
- a candidate takes the lease when there is none, when it is released (no holder) or
  when it has expired, and renews it when it holds it; every write carries the
  ``resourceVersion`` it read, so of two candidates racing only one succeeds;
- a holder that has not renewed within ``renewDeadline`` of its last successful renewal
  is deposed, and must stop writing.

Fencing: a leader may start a write only while its term is valid, i.e. before
``renewDeadline`` has passed since the *start* of its last successful renewal request.
Others take over no earlier than ``leaseDuration`` after they saw that renewal, which is
after it started, so ``leaseDuration - renewDeadline`` is the margin left for a write in
flight to finish before anyone else may begin. Pure: no clock, no I/O; the runtime
(fleet.runtime.leadership) supplies ``now`` and performs the decisions.
"""

from __future__ import annotations

from dataclasses import dataclass

from fleet.model.refs import ObjectRef


@dataclass(frozen=True, slots=True)
class LeaseRecord:
    """What a Lease's spec says (times in seconds since the epoch), and its version."""

    holder: str
    lease_duration: float
    acquire_time: float | None
    renew_time: float | None
    transitions: int
    resource_version: str


@dataclass(frozen=True, slots=True)
class Create:
    """No Lease exists: create it, holding it."""


@dataclass(frozen=True, slots=True)
class Acquire:
    """Take the Lease over (released or expired): a new term, one more transition."""

    previous_holder: str


@dataclass(frozen=True, slots=True)
class Renew:
    """We hold the Lease: write a new ``renewTime``."""


@dataclass(frozen=True, slots=True)
class Wait:
    """Someone else holds a valid Lease, which expires for us at ``expires_at``."""

    leader: str
    #: When the lease expires for us if it does not change before (our clock).
    expires_at: float


Decision = Create | Acquire | Renew | Wait


def decide(record: LeaseRecord | None, observed_at: float, now: float, identity: str) -> Decision:
    """What ``identity`` does with the Lease it read (first seen as it is at ``observed_at``)."""
    if record is None:
        return Create()
    if record.holder == identity:
        return Renew()
    if not record.holder:
        return Acquire(previous_holder="")
    expires_at = observed_at + record.lease_duration
    if now < expires_at:
        return Wait(leader=record.holder, expires_at=expires_at)
    return Acquire(previous_holder=record.holder)


def next_record(
    record: LeaseRecord | None,
    decision: Create | Acquire | Renew,
    identity: str,
    now: float,
    lease_duration: float,
) -> LeaseRecord:
    """The spec to write for ``decision`` (its resourceVersion is the one read)."""
    if isinstance(decision, Renew) and record is not None:
        return LeaseRecord(
            holder=identity,
            lease_duration=lease_duration,
            acquire_time=record.acquire_time if record.acquire_time is not None else now,
            renew_time=now,
            transitions=record.transitions,
            resource_version=record.resource_version,
        )
    transitions = 0 if record is None else record.transitions + 1
    return LeaseRecord(
        holder=identity,
        lease_duration=lease_duration,
        acquire_time=now,
        renew_time=now,
        transitions=transitions,
        resource_version="" if record is None else record.resource_version,
    )


def changed(before: LeaseRecord | None, after: LeaseRecord | None) -> bool:
    """The record moved (a renewal, a new holder): the observation clock restarts."""
    if before is None or after is None:
        return before is not after
    return (before.holder, before.renew_time, before.resource_version) != (
        after.holder,
        after.renew_time,
        after.resource_version,
    )


def term_valid_until(renew_started: float, renew_deadline: float) -> float:
    """The end of the term a renewal (or acquisition) sent at ``renew_started`` gives."""
    return renew_started + renew_deadline


def write_refusal(valid_until: float | None, now: float) -> str | None:
    """Why a write may not start now, or None when the term allows it."""
    if valid_until is None:
        return "this instance does not hold the leader lease"
    if now >= valid_until:
        late = now - valid_until
        return (
            f"the leader lease was not renewed in time ({late:.1f}s past its renew deadline):"
            " this instance may have been deposed"
        )
    return None


def check_timings(lease_duration: float, renew_deadline: float, retry_period: float) -> str | None:
    """client-go's constraints on the three durations, or None when they hold."""
    if not lease_duration > renew_deadline:
        return "lease_duration must be longer than renew_deadline"
    if not renew_deadline > retry_period * 1.2:
        return "renew_deadline must be longer than 1.2 x retry_period"
    return None


@dataclass(frozen=True, slots=True)
class InventoryCheck:
    """A restored inventory set against what a cluster says an app owns."""

    inventory: frozenset[ObjectRef]
    #: Tracked on the cluster by this app but missing from the restored inventory: the
    #: old leader applied them after the replica's last copy.
    added: frozenset[ObjectRef]
    #: In the restored inventory but no longer on the cluster (the old leader pruned
    #: them after the replica's last copy, or someone deleted them): nothing to prune.
    gone: frozenset[ObjectRef]


def check_restored_inventory(
    restored: frozenset[ObjectRef],
    tracked_live: frozenset[ObjectRef],
    live: frozenset[ObjectRef],
    listed_kinds: frozenset[tuple[str, str]],
) -> InventoryCheck:
    """The inventory a new leader prunes against, after a takeover.

    ``tracked_live`` are the live objects whose tracking annotation names the app and
    themselves (fleet.engine.prune.rebuild_inventory), ``live`` every object the cache
    holds, ``listed_kinds`` the (group, kind) pairs it has listed. A restored entry of a
    listed kind that is not live any more is dropped; one of a kind not listed is kept
    (its absence proves nothing); every object the cluster says the app owns is added.
    Pruning still reads each object's annotation before deleting it, so a stale entry
    can never delete what is not the app's.
    """
    gone = frozenset(
        ref for ref in restored if (ref.group, ref.kind) in listed_kinds and ref not in live
    )
    added = tracked_live - restored
    return InventoryCheck(inventory=(restored - gone) | tracked_live, added=added, gone=gone)
