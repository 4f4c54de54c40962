"""Sync windows, evaluated at a given time: allow, deny, manualSync, time zones, DST."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from fleet.engine.windows import (
    SyncWindow,
    WindowError,
    blocked_until,
    check_schedule,
    evaluate,
    open_until,
    zone,
)

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def deny(schedule: str, hours: float, *, tz: str = "UTC", manual: bool = False, name: str = "d"):
    return SyncWindow(name, "deny", schedule, timedelta(hours=hours), tz, manual)


def allow(schedule: str, hours: float, *, tz: str = "UTC", manual: bool = False, name: str = "a"):
    return SyncWindow(name, "allow", schedule, timedelta(hours=hours), tz, manual)


#: Nightly freeze 22:00-06:00 UTC.
NIGHT = deny("0 22 * * *", 8, name="night")
#: Office hours Monday-Friday 09:00-17:00 UTC.
OFFICE = allow("0 9 * * 1-5", 8, name="office")


@pytest.mark.parametrize(
    ("now", "is_open", "closes"),
    [
        (utc(2026, 3, 2, 21, 59), False, None),
        (utc(2026, 3, 2, 22, 0), True, utc(2026, 3, 3, 6, 0)),  # opens exactly at start
        (utc(2026, 3, 3, 3, 0), True, utc(2026, 3, 3, 6, 0)),  # across midnight
        (utc(2026, 3, 3, 5, 59, 59), True, utc(2026, 3, 3, 6, 0)),
        (utc(2026, 3, 3, 6, 0), False, None),  # closed exactly at the end
    ],
)
def test_a_window_is_open_from_its_start_for_its_duration(
    now: datetime, is_open: bool, closes: datetime | None
) -> None:
    assert open_until(NIGHT, now) == closes
    assert (open_until(NIGHT, now) is not None) is is_open


@pytest.mark.parametrize(
    ("windows", "now", "manual", "allowed", "blocker", "until"),
    [
        # No window: everything runs.
        ((), utc(2026, 3, 2, 23, 0), False, True, "", None),
        # A deny window open blocks automated syncs until it closes.
        ((NIGHT,), utc(2026, 3, 2, 23, 0), False, False, "night", utc(2026, 3, 3, 6, 0)),
        ((NIGHT,), utc(2026, 3, 2, 12, 0), False, True, "", None),
        # ... and manual ones, unless it has manualSync.
        ((NIGHT,), utc(2026, 3, 2, 23, 0), True, False, "night", utc(2026, 3, 3, 6, 0)),
        ((deny("0 22 * * *", 8, manual=True),), utc(2026, 3, 2, 23, 0), True, True, "", None),
        # Outside every allow window: automated waits until the next one opens.
        ((OFFICE,), utc(2026, 3, 2, 8, 0), False, False, "office", utc(2026, 3, 2, 9, 0)),
        ((OFFICE,), utc(2026, 3, 2, 10, 0), False, True, "", None),
        # Friday evening: the next allow window is Monday morning.
        ((OFFICE,), utc(2026, 3, 6, 18, 0), False, False, "office", utc(2026, 3, 9, 9, 0)),
        # Manual outside an allow window: only if one of them allows manual syncs.
        ((OFFICE,), utc(2026, 3, 2, 8, 0), True, False, "office", utc(2026, 3, 2, 9, 0)),
        ((allow("0 9 * * 1-5", 8, manual=True),), utc(2026, 3, 2, 8, 0), True, True, "", None),
        # Deny wins over an open allow window.
        (
            (allow("0 0 * * *", 24), deny("0 12 * * *", 1, name="lunch")),
            utc(2026, 3, 2, 12, 30),
            False,
            False,
            "lunch",
            utc(2026, 3, 2, 13, 0),
        ),
        # Every open deny window must allow manual syncs for a manual one to pass.
        (
            (deny("0 12 * * *", 2, manual=True), deny("0 12 * * *", 1, name="strict")),
            utc(2026, 3, 2, 12, 30),
            True,
            False,
            "strict",
            utc(2026, 3, 2, 14, 0),
        ),
    ],
)
def test_evaluate_follows_argo_cd_rules(
    windows: tuple[SyncWindow, ...],
    now: datetime,
    manual: bool,
    allowed: bool,
    blocker: str,
    until: datetime | None,
) -> None:
    verdict = evaluate(windows, now, manual=manual)
    assert verdict.allowed is allowed
    assert verdict.window == blocker
    assert verdict.until == until
    if not allowed:
        assert verdict.reason.startswith(f"blocked by window {blocker}")


def test_blocked_until_follows_chained_windows() -> None:
    # Two deny windows back to back (22:00-02:00, then 02:00-05:00), then an allow window
    # that opens at 07:00: the first free moment is 07:00.
    windows = (
        deny("0 22 * * *", 4, name="first"),
        deny("0 2 * * *", 3, name="second"),
        allow("0 7 * * *", 10, name="day"),
    )
    now = utc(2026, 3, 2, 23, 0)
    assert blocked_until(windows, now) == utc(2026, 3, 3, 7, 0)
    assert evaluate(windows, now, manual=False).reason == (
        "blocked by window first until 2026-03-03 07:00 UTC"
    )


def test_a_window_that_never_closes_has_no_end() -> None:
    always = deny("* * * * *", 1, name="freeze")
    verdict = evaluate((always,), utc(2026, 3, 2, 12, 0), manual=False)
    assert not verdict.allowed
    assert verdict.until is None
    assert verdict.reason == "blocked by window freeze"


@pytest.mark.parametrize(
    ("tz", "now", "is_open"),
    [
        # 22:00 in Berlin is 21:00 UTC in winter (CET, +1) ...
        ("Europe/Berlin", utc(2026, 1, 15, 20, 59), False),
        ("Europe/Berlin", utc(2026, 1, 15, 21, 0), True),
        # ... and 20:00 UTC in summer (CEST, +2).
        ("Europe/Berlin", utc(2026, 7, 15, 19, 59), False),
        ("Europe/Berlin", utc(2026, 7, 15, 20, 0), True),
        # New York: 22:00 EST is 03:00 UTC the next day.
        ("America/New_York", utc(2026, 1, 16, 2, 59), False),
        ("America/New_York", utc(2026, 1, 16, 3, 0), True),
    ],
)
def test_schedules_are_read_in_the_windows_time_zone(tz: str, now: datetime, is_open: bool) -> None:
    window = deny("0 22 * * *", 1, tz=tz)
    assert (open_until(window, now) is not None) is is_open


def test_spring_forward_a_start_in_the_skipped_hour_happens_when_the_clock_jumps() -> None:
    # 2026-03-29 in Berlin: 02:00 CET jumps to 03:00 CEST; 02:30 does not exist that night.
    window = deny("30 2 * * *", 1, tz="Europe/Berlin")
    jump = datetime(2026, 3, 29, 3, 0, tzinfo=BERLIN).astimezone(UTC)  # 01:00 UTC
    assert jump == utc(2026, 3, 29, 1, 0)
    assert open_until(window, jump - timedelta(seconds=1)) is None
    assert open_until(window, jump) == jump + timedelta(hours=1)
    # The night after, the usual time again (02:30 CEST = 00:30 UTC).
    assert open_until(window, utc(2026, 3, 30, 0, 30)) == utc(2026, 3, 30, 1, 30)


def test_spring_forward_durations_are_elapsed_time() -> None:
    # 22:00 CET + 8 h elapsed = 06:00 UTC... which is 07:00 on the wall clock after the jump.
    window = deny("0 22 * * *", 8, tz="Europe/Berlin")
    closes = open_until(window, utc(2026, 3, 29, 2, 0))
    assert closes == utc(2026, 3, 29, 5, 0)
    assert closes.astimezone(BERLIN).hour == 7


def test_fall_back_a_start_in_the_repeated_hour_happens_in_both_offsets() -> None:
    # 2026-10-25 in Berlin: 03:00 CEST goes back to 02:00 CET; 02:30 comes twice.
    window = deny("30 2 * * *", 0.5, tz="Europe/Berlin")
    first = utc(2026, 10, 25, 0, 30)  # 02:30 CEST
    second = utc(2026, 10, 25, 1, 30)  # 02:30 CET
    assert open_until(window, first) == first + timedelta(minutes=30)
    assert open_until(window, first + timedelta(minutes=45)) is None
    assert open_until(window, second) == second + timedelta(minutes=30)
    assert blocked_until((window,), first) == first + timedelta(minutes=30)


def test_fall_back_a_window_lasting_past_the_repeat_merges_both_starts() -> None:
    window = deny("30 2 * * *", 1.5, tz="Europe/Berlin", name="n")
    verdict = evaluate((window,), utc(2026, 10, 25, 0, 45), manual=False)
    # Open from 00:30 UTC; the second start (01:30 UTC) keeps it open until 03:00 UTC.
    assert verdict.until == utc(2026, 10, 25, 3, 0)


@pytest.mark.parametrize(
    "schedule", ["0 22 * *", "0 0 22 * * *", "61 * * * *", "every day", "", "0 0 30 2 *"]
)
def test_bad_schedules_are_refused(schedule: str) -> None:
    with pytest.raises(WindowError):
        check_schedule(schedule)


def test_unknown_time_zones_are_refused() -> None:
    with pytest.raises(WindowError, match="unknown time zone 'Mars/Olympus'"):
        zone("Mars/Olympus")
    with pytest.raises(WindowError):
        zone("../../etc/passwd")
    assert zone("America/New_York") == NEW_YORK
