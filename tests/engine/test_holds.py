"""Why a sync waits: suspension, windows and dependsOn, for each sort of sync."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from fleet.engine.holds import (
    DependencyState,
    HoldInputs,
    HoldKind,
    Suspension,
    SyncKind,
    decide,
)
from fleet.engine.windows import SyncWindow

NOW = datetime(2026, 3, 2, 23, 0, tzinfo=UTC)
SHA, NEXT = "a" * 40, "b" * 40

READY = DependencyState("db", sync="Synced", health="Healthy", revision=SHA, target_revision=SHA)
OUT_OF_SYNC = DependencyState(
    "db", sync="OutOfSync", health="Healthy", revision=SHA, target_revision=SHA
)
DEGRADED_AFTER_FAILURE = DependencyState(
    "db", sync="Synced", health="Degraded", revision=SHA, target_revision=SHA, last_result="Failed"
)
BEHIND = DependencyState("db", sync="Synced", health="Healthy", revision=SHA, target_revision=NEXT)
SYNCING = DependencyState(
    "db", sync="Synced", health="Healthy", revision=SHA, target_revision=SHA, operation="Syncing"
)
NOTHING_RELEASED = DependencyState("db", sync="Unknown", health="Unknown")
ABSENT = DependencyState("db", present=False)

NIGHT = SyncWindow("night", "deny", "0 22 * * *", timedelta(hours=8))
NIGHT_MANUAL_OK = SyncWindow("night", "deny", "0 22 * * *", timedelta(hours=8), manual_sync=True)
SUSPENDED = Suspension("cluster prod", "kernel upgrade")


def inputs(**kwargs: object) -> HoldInputs:
    return HoldInputs(app="web", cluster="prod", now=NOW, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("dependency", "waits_for"),
    [
        (READY, None),
        (ABSENT, None),
        (OUT_OF_SYNC, "waiting for app db on this cluster: OutOfSync"),
        (DEGRADED_AFTER_FAILURE, "waiting for app db on this cluster: last sync failed, Degraded"),
        (BEHIND, "waiting for app db on this cluster: not yet at bbbbbbb"),
        (SYNCING, "waiting for app db on this cluster: syncing"),
        (NOTHING_RELEASED, "waiting for app db on this cluster: no revision released yet"),
    ],
)
@pytest.mark.parametrize("sync", [SyncKind.AUTOMATED, SyncKind.SELF_HEAL, SyncKind.MANUAL])
def test_a_dependency_holds_until_synced_and_healthy_at_its_target(
    dependency: DependencyState, waits_for: str | None, sync: SyncKind
) -> None:
    hold = decide(inputs(dependencies=(dependency,)), sync)
    if waits_for is None:
        assert hold is None
    else:
        assert hold is not None
        assert hold.kind is HoldKind.DEPENDENCY
        assert hold.reason == waits_for
        assert hold.subject == "db"
        assert hold.until is None  # woken when the dependency changes, not by a timer


def test_every_dependency_must_be_ready_and_the_first_not_ready_is_named() -> None:
    cache = DependencyState("cache", sync="OutOfSync", health="Missing", target_revision=SHA)
    hold = decide(inputs(dependencies=(READY, cache, OUT_OF_SYNC)), SyncKind.AUTOMATED)
    assert hold is not None
    assert hold.reason == "waiting for app cache on this cluster: OutOfSync"


@pytest.mark.parametrize(
    ("sync", "force", "held"),
    [
        (SyncKind.AUTOMATED, False, True),
        (SyncKind.SELF_HEAL, False, True),
        (SyncKind.AUTOMATED, True, True),  # force is for manual syncs only
        (SyncKind.MANUAL, False, True),
        (SyncKind.MANUAL, True, False),
    ],
)
def test_suspended_holds_everything_but_a_forced_manual_sync(
    sync: SyncKind, force: bool, held: bool
) -> None:
    hold = decide(inputs(suspensions=(SUSPENDED,)), sync, force=force)
    assert (hold is not None) is held
    if hold is not None:
        assert hold.kind is HoldKind.SUSPENDED
        assert hold.reason == "suspended: cluster prod (kernel upgrade)"


@pytest.mark.parametrize(
    ("window", "sync", "force", "held"),
    [
        (NIGHT, SyncKind.AUTOMATED, False, True),
        (NIGHT, SyncKind.SELF_HEAL, False, True),
        (NIGHT, SyncKind.MANUAL, False, True),
        (NIGHT, SyncKind.MANUAL, True, True),  # force does not open a window
        (NIGHT_MANUAL_OK, SyncKind.MANUAL, False, False),
        (NIGHT_MANUAL_OK, SyncKind.AUTOMATED, False, True),
    ],
)
def test_a_closed_window_holds_with_its_end(
    window: SyncWindow, sync: SyncKind, force: bool, held: bool
) -> None:
    hold = decide(inputs(windows=(window,)), sync, force=force)
    assert (hold is not None) is held
    if hold is not None:
        assert hold.kind is HoldKind.WINDOW
        assert hold.subject == "night"
        assert hold.until == datetime(2026, 3, 3, 6, 0, tzinfo=UTC)
        assert hold.reason == "blocked by window night until 2026-03-03 06:00 UTC"


def test_the_window_is_open_again_after_its_end() -> None:
    later = HoldInputs(app="web", cluster="prod", now=NOW + timedelta(hours=7), windows=(NIGHT,))
    assert decide(later, SyncKind.AUTOMATED) is None


@pytest.mark.parametrize(
    ("given", "first"),
    [
        (
            {"suspensions": (SUSPENDED,), "windows": (NIGHT,), "dependencies": (OUT_OF_SYNC,)},
            "suspended",
        ),
        ({"windows": (NIGHT,), "dependencies": (OUT_OF_SYNC,)}, "window"),
        ({"dependencies": (OUT_OF_SYNC,)}, "dependency"),
    ],
)
def test_reasons_in_order_suspended_window_dependency(given: dict[str, object], first: str) -> None:
    hold = decide(inputs(**given), SyncKind.AUTOMATED)
    assert hold is not None
    assert str(hold.kind) == first


def test_a_forced_manual_sync_still_respects_a_window_but_not_a_dependency() -> None:
    forced = decide(inputs(dependencies=(OUT_OF_SYNC,)), SyncKind.MANUAL, force=True)
    assert forced is None
    hold = decide(
        inputs(windows=(NIGHT,), dependencies=(OUT_OF_SYNC,)), SyncKind.MANUAL, force=True
    )
    assert hold is not None
    assert hold.kind is HoldKind.WINDOW


def test_the_hold_as_json_says_kind_reason_until_and_subject() -> None:
    hold = decide(inputs(windows=(NIGHT,)), SyncKind.AUTOMATED)
    assert hold is not None
    assert hold.as_json() == {
        "kind": "window",
        "reason": "blocked by window night until 2026-03-03 06:00 UTC",
        "until": "2026-03-03T06:00:00+00:00",
        "subject": "night",
    }
