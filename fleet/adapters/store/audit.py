"""The audit log: every request to change something through the API, and its answer.

One row per write request (a manual sync, a pin, a webhook delivery ...), refused ones
too: who (the token's name, never its value), what (method, route and target app), when,
from which address, and the answer's status. ``fleet audit`` and ``GET /api/v1/audit``
read it. Messages and details are redacted like the rest of history. Rows older than
the history retention go, and at most ``MAX_AUDIT_ROWS`` are kept, so a flood of
refused requests cannot fill the disk.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from fleet.adapters.store.codec import decode_json, decode_time, encode_json, encode_time
from fleet.adapters.store.connection import write_transaction
from fleet.adapters.store.core import StoreCore, require_limit
from fleet.adapters.store.records import InvalidRecordError
from fleet.adapters.store.redaction import redact, redact_details

MAX_AUDIT_ROWS = 100_000
_COLUMNS = "id, at, principal, method, route, path, app, remote, status, message, details"


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One write request and its answer, as the API saw it."""

    principal: str
    method: str
    route: str
    path: str
    remote: str
    status: int
    app: str | None = None
    message: str = ""
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AuditRecord:
    id: int
    at: datetime
    entry: AuditEntry

    @property
    def result(self) -> str:
        status = self.entry.status
        if status < 400:
            return "ok"
        return "denied" if status in (401, 403, 409, 429) else "failed"

    def as_json(self) -> dict[str, Any]:
        entry = self.entry
        return {
            "id": self.id,
            "at": self.at.isoformat(),
            "principal": entry.principal,
            "method": entry.method,
            "route": entry.route,
            "path": entry.path,
            "app": entry.app,
            "remote": entry.remote,
            "status": entry.status,
            "result": self.result,
            "message": entry.message,
            "details": entry.details,
        }


class AuditLog(StoreCore):
    def add_audit(self, entry: AuditEntry, at: datetime | None = None) -> int:
        """Record one request; message and details are redacted. Returns the row id."""
        if not 100 <= entry.status <= 599:
            raise InvalidRecordError(f"audit status must be an HTTP status, got {entry.status}")
        details = encode_json(redact_details(entry.details), "audit details")
        with write_transaction(self.db):
            cursor = self.db.execute(
                f"INSERT INTO audit ({_COLUMNS.removeprefix('id, ')})"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    self._stamp(at),
                    entry.principal[:200],
                    entry.method[:16],
                    entry.route[:200],
                    redact(entry.path[:1000]),
                    entry.app,
                    entry.remote[:200],
                    entry.status,
                    redact(entry.message),
                    details,
                ],
            )
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def audit_entries(
        self,
        *,
        limit: int = 100,
        before_id: int | None = None,
        principal: str | None = None,
        app: str | None = None,
    ) -> list[AuditRecord]:
        """Newest first; page with ``before_id`` (the smallest id of the last page)."""
        require_limit(limit)
        where: list[str] = []
        params: list[Any] = []
        for column, value in (("principal", principal), ("app", app)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        if before_id is not None:
            where.append("id < ?")
            params.append(before_id)
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        rows = self.db.query(
            f"SELECT {_COLUMNS} FROM audit{clause} ORDER BY id DESC LIMIT ?", [*params, limit]
        )
        return [_record(row) for row in rows]

    def prune_audit(self, older_than: datetime, keep_at_most: int = MAX_AUDIT_ROWS) -> int:
        """Delete rows older than ``older_than`` and all but the newest ``keep_at_most``."""
        with write_transaction(self.db):
            aged = self.db.execute(
                "DELETE FROM audit WHERE at < ?", [encode_time(older_than)]
            ).rowcount
            extra = self.db.execute(
                "DELETE FROM audit WHERE id <= (SELECT id FROM audit ORDER BY id DESC"
                " LIMIT 1 OFFSET ?)",
                [keep_at_most],
            ).rowcount
        return int(aged) + int(extra)


def _record(row: dict[str, Any]) -> AuditRecord:
    return AuditRecord(
        id=row["id"],
        at=decode_time(row["at"]),
        entry=AuditEntry(
            principal=row["principal"],
            method=row["method"],
            route=row["route"],
            path=row["path"],
            remote=row["remote"],
            status=row["status"],
            app=row["app"],
            message=row["message"],
            details=decode_json(row["details"]) or {},
        ),
    )
