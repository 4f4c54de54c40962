"""The daemon's in-memory view of every app on every cluster, served by the API.

History (SQLite) is the durable record; this is what ``fleet status`` shows right now,
including what history cannot know yet (a sync in progress, its current step).

It never shows more than the daemon knows: while the cluster cannot be reached, sync
and health are Unknown (the last comparison may no longer hold) and the message says
since when and why; the next comparison after it comes back replaces all three.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class AppClusterStatus:
    app: str
    cluster: str
    #: The revision the cluster last synced successfully (None: never).
    revision: str | None = None
    #: The revision the cluster should be at (released by the rollout, or pinned).
    target_revision: str | None = None
    #: What that revision was resolved from: the ref or tag (a tag range's pick,
    #: ``refs/tags/v1.4.2``) or a chart source's ``chart version`` (``podinfo 6.1.0``).
    target_ref: str | None = None
    #: Synced, OutOfSync or Unknown.
    sync: str = "Unknown"
    health: str = "Unknown"
    message: str = ""
    #: "Syncing" while a sync runs, with the current step in ``step``.
    operation: str = ""
    step: str = ""
    last_sync_id: int | None = None
    last_result: str | None = None
    last_finished_at: datetime | None = None
    pinned_revision: str | None = None
    reachable: bool | None = None
    #: When the daemon lost the cluster (None while it is reachable).
    unreachable_since: datetime | None = None
    out_of_sync: list[str] = field(default_factory=list)
    updated_at: datetime = field(default_factory=utc_now)
    #: Suspended (the app here, the app everywhere, or the cluster): no automated sync
    #: and no self-heal (fleet.runtime.holds).
    suspended: bool = False
    #: Why an automated sync that would run now waits: {kind, reason, until, subject}
    #: (fleet.engine.holds.Hold.as_json); None when nothing waits.
    hold: dict[str, Any] | None = None

    def mark_unreachable(self, since: datetime | None, reason: str) -> None:
        """The cluster cannot be reached: what was compared before no longer holds."""
        self.reachable = False
        self.unreachable_since = since or self.unreachable_since or utc_now()
        self.sync, self.health = "Unknown", "Unknown"
        self.message = unreachable_message(self.unreachable_since, reason)
        self.updated_at = utc_now()

    def mark_reachable(self) -> None:
        """The cluster answers again (the comparison that follows sets the rest)."""
        if self.reachable is False and self.message.startswith("unreachable since "):
            self.message = ""
        self.reachable = True
        self.unreachable_since = None

    def __setattr__(self, name: str, value: Any) -> None:
        # Any field set makes the row ``as_json`` keeps stale. (Its list and dict are
        # only ever replaced, never changed in place.)
        object.__setattr__(self, name, value)
        object.__setattr__(self, "_shown", None)

    def as_json(self) -> dict[str, Any]:
        """The row ``GET /api/v1/status`` shows: a fresh dict, list and hold each call.

        A status poll of a large fleet asks for one per app and cluster, several times a
        second while a client watches, and most rows have not changed since the last
        poll: the row is built once per change (``__setattr__`` forgets it) and copied.
        """
        shown: dict[str, Any] | None = self.__dict__.get("_shown")
        if shown is None:
            # Field by field rather than dataclasses.asdict, which deep-copies.
            shown = {name: getattr(self, name) for name in _FIELD_NAMES}
            for key in _TIMES:
                when = shown[key]
                if when is not None:
                    shown[key] = when.isoformat()
            object.__setattr__(self, "_shown", shown)
        data = dict(shown)
        data["out_of_sync"] = list(self.out_of_sync)
        data["hold"] = dict(self.hold) if self.hold is not None else None
        return data


#: The fields ``as_json`` copies, in their declared order (that of the JSON's keys).
_FIELD_NAMES = tuple(f.name for f in fields(AppClusterStatus))
_TIMES = ("updated_at", "last_finished_at", "unreachable_since")


def unreachable_message(since: datetime, reason: str) -> str:
    """``unreachable since 2026-05-01 12:00:03 UTC: connection refused``."""
    when = since.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    reason = reason.removeprefix("unreachable: ")
    return f"unreachable since {when}: {reason}" if reason else f"unreachable since {when}"
