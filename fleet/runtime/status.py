"""The daemon's in-memory view of every app on every cluster, served by the API.

History (SQLite) is the durable record; this is what ``fleet status`` shows right now,
including what history cannot know yet (a sync in progress, its current step).
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
    out_of_sync: list[str] = field(default_factory=list)
    updated_at: datetime = field(default_factory=utc_now)

    def as_json(self) -> dict[str, Any]:
        # Field by field rather than dataclasses.asdict, which deep-copies recursively:
        # a status poll of a large fleet builds one of these per app and cluster.
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["out_of_sync"] = list(self.out_of_sync)
        for key in ("updated_at", "last_finished_at"):
            if data[key] is not None:
                data[key] = data[key].isoformat()
        return data
