"""Leader election decisions, write fencing and the takeover inventory, as tables."""

from __future__ import annotations

import pytest

from fleet.engine.leadership import (
    Acquire,
    Create,
    LeaseRecord,
    Renew,
    Wait,
    changed,
    check_restored_inventory,
    check_timings,
    decide,
    next_record,
    term_valid_until,
    write_refusal,
)
from fleet.model.refs import ObjectRef


def lease(
    holder: str, renew: float = 100.0, version: str = "7", duration: float = 15.0
) -> LeaseRecord:
    return LeaseRecord(holder, duration, 50.0, renew, 3, version)


@pytest.mark.parametrize(
    ("record", "observed_at", "now", "expected"),
    [
        (None, 0.0, 100.0, Create()),
        (lease("me"), 100.0, 100.0, Renew()),
        # Ours even when long expired: renewing is how a holder comes back.
        (lease("me"), 0.0, 1000.0, Renew()),
        (lease(""), 100.0, 100.0, Acquire(previous_holder="")),
        (lease("other"), 100.0, 100.0, Wait("other", 115.0)),
        (lease("other"), 100.0, 114.9, Wait("other", 115.0)),
        (lease("other"), 100.0, 115.0, Acquire(previous_holder="other")),
        # Expiry counts from when *we* saw the record change, not from its renewTime
        # (the holder's clock may be hours off).
        (lease("other", renew=0.0), 100.0, 110.0, Wait("other", 115.0)),
        (lease("other", renew=10_000.0), 100.0, 116.0, Acquire(previous_holder="other")),
        (lease("other", duration=60.0), 100.0, 120.0, Wait("other", 160.0)),
    ],
)
def test_decide(
    record: LeaseRecord | None, observed_at: float, now: float, expected: object
) -> None:
    assert decide(record, observed_at, now, "me") == expected


def test_a_renewal_keeps_the_term_and_an_acquisition_starts_a_new_one() -> None:
    renewed = next_record(lease("me"), Renew(), "me", 200.0, 15.0)
    assert (renewed.acquire_time, renewed.renew_time, renewed.transitions) == (50.0, 200.0, 3)
    assert renewed.resource_version == "7"  # the write is conditional on what was read
    taken = next_record(lease("other"), Acquire("other"), "me", 200.0, 15.0)
    assert (taken.holder, taken.acquire_time, taken.transitions) == ("me", 200.0, 4)
    created = next_record(None, Create(), "me", 200.0, 20.0)
    assert (created.transitions, created.lease_duration, created.resource_version) == (0, 20.0, "")


@pytest.mark.parametrize(
    ("before", "after", "moved"),
    [
        (None, None, False),
        (None, lease("a"), True),
        (lease("a"), lease("a"), False),
        (lease("a"), lease("a", renew=101.0, version="8"), True),
        (lease("a"), lease("b"), True),
        (lease("a"), lease("a", version="8"), True),
    ],
)
def test_the_observation_clock_restarts_only_when_the_record_moves(
    before: LeaseRecord | None, after: LeaseRecord | None, moved: bool
) -> None:
    assert changed(before, after) is moved


@pytest.mark.parametrize(
    ("valid_until", "now", "allowed"),
    [
        (None, 0.0, False),  # a standby never writes
        (110.0, 100.0, True),
        (110.0, 109.99, True),
        (110.0, 110.0, False),  # the deadline itself is too late
        (110.0, 130.0, False),
    ],
)
def test_a_write_starts_only_inside_the_term(
    valid_until: float | None, now: float, allowed: bool
) -> None:
    assert (write_refusal(valid_until, now) is None) is allowed


def test_the_term_ends_before_anyone_else_may_take_the_lease() -> None:
    # Renewal sent at 100: others take over no earlier than 100 + leaseDuration (they
    # saw it after it was sent); the term ends renewDeadline after it was sent.
    lease_duration, renew_deadline = 15.0, 10.0
    end = term_valid_until(100.0, renew_deadline)
    assert end == 110.0
    others_earliest = 100.0 + lease_duration
    assert others_earliest - end == lease_duration - renew_deadline > 0


@pytest.mark.parametrize(
    ("durations", "problem"),
    [
        ((15.0, 10.0, 2.0), None),
        ((10.0, 10.0, 2.0), "lease_duration must be longer than renew_deadline"),
        ((15.0, 2.0, 2.0), "renew_deadline must be longer than 1.2 x retry_period"),
    ],
)
def test_timings(durations: tuple[float, float, float], problem: str | None) -> None:
    assert check_timings(*durations) == problem


A = ObjectRef("", "ConfigMap", "web", "a")
B = ObjectRef("", "ConfigMap", "web", "b")
C = ObjectRef("", "ConfigMap", "web", "c")
D = ObjectRef("apps", "Deployment", "web", "d")
CONFIGMAPS = frozenset({("", "ConfigMap")})


@pytest.mark.parametrize(
    ("restored", "tracked", "live", "inventory", "added", "gone"),
    [
        # Nothing happened between the replica's copy and the takeover.
        ({A, B}, {A, B}, {A, B}, {A, B}, set(), set()),
        # The old leader applied C after the last copy: it is the app's, and found.
        ({A}, {A, C}, {A, C}, {A, C}, {C}, set()),
        # The old leader pruned B after the last copy: nothing left to prune.
        ({A, B}, {A}, {A}, {A}, set(), {B}),
        # B is live but no longer tracked by the app (taken over by another): kept in
        # the inventory, and the prune step's annotation check will keep it alive.
        ({A, B}, {A}, {A, B}, {A, B}, set(), set()),
        # A kind that was not listed: absence proves nothing, the entry stays.
        ({A, D}, {A}, {A}, {A, D}, set(), set()),
        # A database lost entirely: everything comes from the cluster.
        (set(), {A, B}, {A, B}, {A, B}, {A, B}, set()),
    ],
)
def test_the_restored_inventory_is_checked_against_the_cluster(
    restored: set[ObjectRef],
    tracked: set[ObjectRef],
    live: set[ObjectRef],
    inventory: set[ObjectRef],
    added: set[ObjectRef],
    gone: set[ObjectRef],
) -> None:
    check = check_restored_inventory(
        frozenset(restored), frozenset(tracked), frozenset(live), CONFIGMAPS
    )
    assert (check.inventory, check.added, check.gone) == (inventory, added, gone)
