"""The event log: what happened besides syncs (drift, unreachable clusters, reloads...).

Event ids come from ``AUTOINCREMENT`` and are never reused, so ``fleet events --follow``
can poll :meth:`EventLog.events_after` with the last id it printed and never miss or
repeat an event, even across retention passes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from fleet.adapters.store.codec import decode_json, decode_time, encode_json
from fleet.adapters.store.connection import write_transaction
from fleet.adapters.store.core import StoreCore, require_limit, require_name
from fleet.adapters.store.records import EventRecord, InvalidRecordError
from fleet.adapters.store.redaction import redact, redact_details

#: Kinds the daemon records; others are allowed if they look like these (snake_case).
KNOWN_EVENT_KINDS = frozenset(
    {
        "drift",
        "cluster_unreachable",
        "cluster_reachable",
        "config_reloaded",
        "config_rejected",
        "prune_refused",
        "sync_failed",
        "sync_retrying",
        "sync_interrupted",
        "app_removed",
        "inventory_rebuilt",
        "pinned",
        "unpinned",
    }
)
_KIND = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_COLUMNS = "id, at, kind, app, cluster, sync_id, message, details"


class EventLog(StoreCore):
    def add_event(
        self,
        kind: str,
        message: str,
        *,
        app: str | None = None,
        cluster: str | None = None,
        sync_id: int | None = None,
        details: Mapping[str, Any] | None = None,
        at: datetime | None = None,
    ) -> int:
        """Record an event and return its id. Message and details are redacted."""
        if not isinstance(kind, str) or not _KIND.match(kind):
            raise InvalidRecordError(f"event kind must be snake_case, got {kind!r}")
        if app is not None:
            require_name(app, "app")
        if cluster is not None:
            require_name(cluster, "cluster")
        details_text = encode_json(redact_details(details or {}), f"details of {kind} event")
        with write_transaction(self.db):
            cursor = self.db.execute(
                "INSERT INTO events (at, kind, app, cluster, sync_id, message, details)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                [self._stamp(at), kind, app, cluster, sync_id, redact(message), details_text],
            )
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def events_after(
        self,
        after_id: int = 0,
        *,
        limit: int = 500,
        app: str | None = None,
        cluster: str | None = None,
        kinds: Iterable[str] | None = None,
    ) -> list[EventRecord]:
        """Events with id greater than ``after_id``, oldest first (for following the feed)."""
        where, params = _filters(app, cluster, kinds)
        rows = self.db.query(
            f"SELECT {_COLUMNS} FROM events WHERE id > ?{where} ORDER BY id LIMIT ?",
            [after_id, *params, require_limit(limit)],
        )
        return [_event_from_row(row) for row in rows]

    def recent_events(
        self,
        *,
        limit: int = 50,
        app: str | None = None,
        cluster: str | None = None,
        kinds: Iterable[str] | None = None,
    ) -> list[EventRecord]:
        """The newest ``limit`` events, returned oldest first (as a feed prints them)."""
        where, params = _filters(app, cluster, kinds)
        rows = self.db.query(
            f"SELECT {_COLUMNS} FROM events WHERE 1{where} ORDER BY id DESC LIMIT ?",
            [*params, require_limit(limit)],
        )
        return [_event_from_row(row) for row in reversed(list(rows))]

    def last_event_id(self) -> int:
        """The highest event id ever issued (0 if none): follow from here to see only new ones."""
        rows = list(self.db.query("SELECT seq FROM sqlite_sequence WHERE name = 'events'"))
        return int(rows[0]["seq"]) if rows else 0


def _filters(
    app: str | None, cluster: str | None, kinds: Iterable[str] | None
) -> tuple[str, list[Any]]:
    where = ""
    params: list[Any] = []
    if app is not None:
        where += " AND app = ?"
        params.append(app)
    if cluster is not None:
        where += " AND cluster = ?"
        params.append(cluster)
    if kinds is not None:
        wanted = sorted({kinds} if isinstance(kinds, str) else set(kinds))
        if not wanted:
            raise InvalidRecordError("kinds, when given, must name at least one event kind")
        where += f" AND kind IN ({', '.join('?' * len(wanted))})"
        params.extend(wanted)
    return where, params


def _event_from_row(row: dict[str, Any]) -> EventRecord:
    return EventRecord(
        id=row["id"],
        at=decode_time(row["at"]),
        kind=row["kind"],
        app=row["app"],
        cluster=row["cluster"],
        sync_id=row["sync_id"],
        message=row["message"],
        details=decode_json(row["details"]) or {},
    )
