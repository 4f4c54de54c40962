"""State and helpers shared by the parts of the history store.

The store is one class assembled from small mixins (sync writes, queries, events,
inventory, status and pins, retention), each in its own module. They all sit on
:class:`StoreCore`, which holds the database, the clock and the row converters.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from fleet.adapters.store.codec import (
    decode_json,
    decode_optional_time,
    decode_time,
    encode_time,
)
from fleet.adapters.store.records import (
    RUNNING,
    InvalidRecordError,
    SyncNotRunningError,
    SyncRecord,
    UnknownSyncError,
)

Clock = Callable[[], datetime]

SYNC_COLUMNS = (
    "id, app, cluster, revision, triggered_by, dry_run, started_at, applied_at, healthy_at,"
    " finished_at, result, message, trace_id, resumed_from, config_revision"
)


def utc_now() -> datetime:
    return datetime.now(UTC)


class StoreCore:
    """The database, the clock, and conversions between rows and records."""

    def __init__(self, db: Database, path: Path, clock: Clock = utc_now) -> None:
        self.db = db
        self.path = path
        self._clock = clock
        #: The fleet config revision in force, recorded on every sync that starts.
        self.config_revision: str | None = None

    def _stamp(self, at: datetime | None) -> str:
        """``at`` (or now) as stored text."""
        return encode_time(self._clock() if at is None else at)

    def _fetch_sync_row(self, sync_id: int, *, with_progress: bool = False) -> dict[str, Any]:
        columns = SYNC_COLUMNS + (", progress" if with_progress else "")
        rows = list(self.db.query(f"SELECT {columns} FROM syncs WHERE id = ?", [sync_id]))
        if not rows:
            raise UnknownSyncError(f"no sync with id {sync_id}")
        return rows[0]

    def _require_running(self, sync_id: int) -> dict[str, Any]:
        row = self._fetch_sync_row(sync_id)
        if row["result"] != RUNNING:
            raise SyncNotRunningError(
                f"sync {sync_id} ({row['app']} on {row['cluster']}) already finished"
                f" as {row['result']}"
            )
        return row


def sync_from_row(row: Mapping[str, Any]) -> SyncRecord:
    return SyncRecord(
        id=row["id"],
        app=row["app"],
        cluster=row["cluster"],
        revision=row["revision"],
        trigger=row["triggered_by"],
        dry_run=bool(row["dry_run"]),
        started_at=decode_time(row["started_at"]),
        applied_at=decode_optional_time(row["applied_at"]),
        healthy_at=decode_optional_time(row["healthy_at"]),
        finished_at=decode_optional_time(row["finished_at"]),
        result=row["result"],
        message=row["message"],
        trace_id=row["trace_id"],
        resumed_from=row["resumed_from"],
        progress=decode_json(row.get("progress")),
        config_revision=row.get("config_revision"),
    )


def require_name(value: str, what: str) -> str:
    """``value`` if it is a non-empty string without surrounding blanks."""
    if not isinstance(value, str) or not value or value != value.strip():
        raise InvalidRecordError(f"{what} must be a non-empty string, got {value!r}")
    return value


def require_choice(value: str, allowed: frozenset[str], what: str) -> str:
    if value not in allowed:
        raise InvalidRecordError(f"{what} {value!r} is not one of {', '.join(sorted(allowed))}")
    return value


def require_limit(limit: int, maximum: int = 10_000) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= maximum:
        raise InvalidRecordError(f"limit must be an integer from 1 to {maximum}, got {limit!r}")
    return limit
