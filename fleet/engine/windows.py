"""Sync windows: when automated (and manual) syncs may run, given the time.

A window opens at each time its cron schedule names, in its time zone, and stays open
for its duration (elapsed time, so a window across a DST change lasts as long as it
says). An *allow* window lets syncs run while open; a *deny* window stops them while
open. The rules are Argo CD's (``SyncWindows.CanSync``):

- a deny window that is open blocks automated syncs; a manual sync passes only if every
  open deny window has ``manual_sync``;
- otherwise an open allow window lets everything through;
- otherwise, if allow windows exist (all closed), automated syncs wait, and a manual sync
  passes if one of them has ``manual_sync``;
- with no window at all, everything may run.

Schedules are wall-clock times in the window's zone, as cron reads them: on the night
clocks go forward, a start in the skipped hour happens when the clock jumps (02:30 ->
03:00); on the night they go back, a start in the repeated hour happens twice, once in
each offset. Pure: the caller passes ``now`` (an aware datetime); croniter and zoneinfo
only compute.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadCronError, CroniterBadDateError, croniter

WindowKind = Literal["allow", "deny"]

#: How many window edges ``blocked_until`` follows before it gives up (chained windows).
MAX_EDGES = 64
#: Starts chained back to back beyond which a window counts as open for good.
MAX_STARTS = 50
#: The end of a window that stays open as far as fleet looks.
FOREVER = datetime.max.replace(tzinfo=UTC)


class WindowError(ValueError):
    """A schedule or time zone that cannot be evaluated."""


@dataclass(frozen=True, slots=True)
class SyncWindow:
    name: str
    kind: WindowKind
    schedule: str
    duration: timedelta
    time_zone: str = "UTC"
    manual_sync: bool = False


@dataclass(frozen=True, slots=True)
class WindowVerdict:
    """Whether a sync may run now; if not, which window says so and until when."""

    allowed: bool
    #: The window that blocks (a deny window open, or the allow windows all closed).
    window: str = ""
    #: When the sync may run again, if known within ``MAX_EDGES`` window edges.
    until: datetime | None = None

    @property
    def reason(self) -> str:
        if self.allowed:
            return ""
        when = f" until {self.until.astimezone(UTC):%Y-%m-%d %H:%M} UTC" if self.until else ""
        return f"blocked by window {self.window}{when}"


def check_schedule(schedule: str) -> None:
    """Raise WindowError unless ``schedule`` is a five-field cron schedule that fires."""
    fields = schedule.split()
    if len(fields) != 5 or not croniter.is_valid(schedule):
        raise WindowError(
            f"invalid schedule {schedule!r}: write five cron fields "
            "(minute hour day-of-month month day-of-week), like '0 22 * * 1-5'"
        )
    try:
        croniter(schedule, datetime(2000, 1, 1, tzinfo=UTC)).get_next(datetime)
    except (CroniterBadDateError, CroniterBadCronError):
        raise WindowError(f"schedule {schedule!r} never fires") from None


def zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name`` (``Europe/Berlin``); WindowError if unknown."""
    try:
        return _zone(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise WindowError(
            f"unknown time zone {name!r}: use an IANA name like Europe/Berlin"
        ) from None


@lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def _starts_after(window: SyncWindow, moment: datetime) -> Iterator[datetime]:
    """The window's starts strictly after ``moment``, in UTC, oldest first.

    Always forward: croniter's backward search goes wrong in the hour clocks repeat in
    autumn, its forward one does not.
    """
    starts = croniter(window.schedule, moment.astimezone(zone(window.time_zone)))
    while True:
        try:
            start: datetime = starts.get_next(datetime)
        except (CroniterBadDateError, CroniterBadCronError):
            return
        yield start.astimezone(UTC)


def is_open(window: SyncWindow, now: datetime) -> bool:
    """Did the window start in (now - duration, now]? (Argo CD's test, with zones right.)"""
    first = next(_starts_after(window, now - window.duration), None)
    return first is not None and first <= now


def next_start(window: SyncWindow, now: datetime) -> datetime | None:
    """The first time after ``now`` the window opens (None: never again)."""
    return next(_starts_after(window, now), None)


def open_until(window: SyncWindow, now: datetime) -> datetime | None:
    """When the window closes, if it is open at ``now``; None when it is closed.

    Starts that come before the previous opening ended keep it open (a window longer
    than its period, or both starts of an hour repeated in autumn); ``FOREVER`` when it
    is still open after ``MAX_STARTS`` of them. Durations are elapsed time: the end is
    computed in UTC, not on the wall clock.
    """
    starts = _starts_after(window, now - window.duration)
    first = next(starts, None)
    if first is None or first > now:
        return None
    end = first + window.duration
    for _ in range(MAX_STARTS):
        following = next(starts, None)
        if following is None or following > end:
            return end
        end = max(end, following + window.duration)
    return FOREVER


def evaluate(windows: Sequence[SyncWindow], now: datetime, *, manual: bool) -> WindowVerdict:
    """May a sync (manual or automated) run at ``now`` under ``windows``?"""
    if not windows:
        return WindowVerdict(True)
    blocker = _blocker(windows, now, manual=manual)
    if blocker is None:
        return WindowVerdict(True)
    return WindowVerdict(False, blocker, blocked_until(windows, now, manual=manual))


def _blocker(windows: Sequence[SyncWindow], now: datetime, *, manual: bool) -> str | None:
    """The name of the window that blocks at ``now``, or None."""
    open_denies = [w for w in windows if w.kind == "deny" and is_open(w, now)]
    if open_denies:
        closed_to_manual = [w for w in open_denies if not w.manual_sync]
        if manual and not closed_to_manual:
            return None
        return (closed_to_manual or open_denies)[0].name
    allows = [w for w in windows if w.kind == "allow"]
    if not allows or any(is_open(w, now) for w in allows):
        return None
    if manual and any(w.manual_sync for w in allows):
        return None
    return allows[0].name


def blocked_until(
    windows: Sequence[SyncWindow], now: datetime, *, manual: bool = False
) -> datetime | None:
    """The first moment after ``now`` a sync may run, following window edges.

    From a blocked moment the next candidate is the end of every open deny window, or
    the next start of an allow window; windows can chain (one deny closing as another
    opens), so the walk goes on until a moment is free, up to ``MAX_EDGES`` edges.
    """
    moment = now
    for _ in range(MAX_EDGES):
        if _blocker(windows, moment, manual=manual) is None:
            return moment if moment != now else None
        candidates: list[datetime] = []
        ends = [open_until(w, moment) for w in windows if w.kind == "deny"]
        open_ends = [end for end in ends if end is not None]
        if open_ends:
            if max(open_ends) == FOREVER:
                return None
            candidates.append(max(open_ends))
        else:
            starts = [next_start(w, moment) for w in windows if w.kind == "allow"]
            candidates += [start for start in starts if start is not None]
        if not candidates:
            return None
        moment = min(candidates)
    return None
