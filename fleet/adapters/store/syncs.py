"""Writing a sync's life: start, resource results, milestones, progress, finish.

A sync row is written when the sync starts (result ``Running``) and updated in place as it
goes; it is final once ``finish_sync`` sets its result, and any later write to it raises
:class:`SyncNotRunningError` (a bug in the caller, never something to paper over). Each
call is one short transaction, so a kill -9 between calls leaves the last state written.

Rows that were still ``Running`` when the daemon died are found by
:meth:`SyncWriter.interrupted_at_startup`, which marks them ``Interrupted`` and hands them
back, with their saved progress, for the daemon to run again.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from fleet.adapters.store.codec import encode_json
from fleet.adapters.store.connection import write_transaction
from fleet.adapters.store.core import (
    SYNC_COLUMNS,
    StoreCore,
    require_choice,
    require_name,
    sync_from_row,
)
from fleet.adapters.store.records import (
    ACTIONS,
    FINAL_RESULTS,
    TRIGGERS,
    InvalidRecordError,
    JSONValue,
    ResourceResult,
    SyncRecord,
)
from fleet.adapters.store.redaction import redact

_INSERT_RESULT = (
    "INSERT INTO resource_results (sync_id, phase, wave, api_group, kind, namespace, name,"
    " action, health, message, duration_ms, at) VALUES (:sync_id, :phase, :wave, :api_group,"
    " :kind, :namespace, :name, :action, :health, :message, :duration_ms, :at)"
)

INTERRUPTED_MESSAGE = "fleet stopped while this sync was running; it will be run again"


class SyncWriter(StoreCore):
    def start_sync(
        self,
        app: str,
        cluster: str,
        revision: str,
        trigger: str,
        *,
        dry_run: bool = False,
        trace_id: str | None = None,
        resumed_from: int | None = None,
        started_at: datetime | None = None,
    ) -> int:
        """Record a new running sync and return its id.

        A real (not dry-run) sync also becomes the target's "last sync" in the status
        table, so ``fleet status`` points at a sync as soon as it begins.
        """
        require_name(app, "app")
        require_name(cluster, "cluster")
        require_choice(trigger, TRIGGERS, "trigger")
        if not isinstance(revision, str):
            raise InvalidRecordError(f"revision must be a string, got {revision!r}")
        stamp = self._stamp(started_at)
        with write_transaction(self.db):
            cursor = self.db.execute(
                "INSERT INTO syncs (app, cluster, revision, triggered_by, dry_run, started_at,"
                " trace_id, resumed_from, config_revision) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    app,
                    cluster,
                    revision,
                    trigger,
                    int(dry_run),
                    stamp,
                    trace_id,
                    resumed_from,
                    self.config_revision,
                ],
            )
            sync_id = cursor.lastrowid
            assert sync_id is not None
            if not dry_run:
                self.db.execute(
                    "INSERT INTO app_status (app, cluster, last_sync_id, updated_at)"
                    " VALUES (?, ?, ?, ?) ON CONFLICT (app, cluster) DO UPDATE SET"
                    " last_sync_id = excluded.last_sync_id, updated_at = excluded.updated_at",
                    [app, cluster, sync_id, stamp],
                )
        return sync_id

    def record_results(self, sync_id: int, results: Iterable[ResourceResult]) -> int:
        """Append resource results to a running sync, in one transaction; returns the count."""
        default_at = self._stamp(None)
        rows = [self._result_row(sync_id, result, default_at) for result in results]
        if not rows:
            return 0
        with write_transaction(self.db):
            self._require_running(sync_id)
            # executemany, not sqlite-utils' insert_all: that converts every value in
            # Python and cost ten times SQLite's own work on this, the hottest write.
            self.db.conn.executemany(_INSERT_RESULT, rows)
        return len(rows)

    def record_step(
        self, sync_id: int, results: Iterable[ResourceResult], progress: JSONValue | None
    ) -> int:
        """One step of a running sync in one transaction: its resource rows (appended,
        as ``record_results``) and, unless None, its progress (as ``save_progress``)."""
        with write_transaction(self.db):
            count = self.record_results(sync_id, results)
            if progress is not None:
                self.save_progress(sync_id, progress)
        return count

    def mark_applied(self, sync_id: int, at: datetime | None = None) -> None:
        """Every object of the sync has been applied (health not yet known)."""
        self._set_milestone(sync_id, "applied_at", at)

    def mark_healthy(self, sync_id: int, at: datetime | None = None) -> None:
        """Every applied object reported Healthy."""
        self._set_milestone(sync_id, "healthy_at", at)

    def save_progress(self, sync_id: int, progress: JSONValue) -> None:
        """Replace the engine's saved progress (any JSON value) so the sync can resume.

        Progress holds references and step states only, never object bodies.
        """
        text = encode_json(progress, f"progress of sync {sync_id}")
        with write_transaction(self.db):
            self._require_running(sync_id)
            self.db.execute("UPDATE syncs SET progress = ? WHERE id = ?", [text, sync_id])

    def finish_sync(
        self, sync_id: int, result: str, message: str = "", at: datetime | None = None
    ) -> SyncRecord:
        """Give a running sync its final result; returns the finished record.

        A Succeeded real sync sets the target's current revision in the status table. The
        ``sync_failed`` event is the daemon's to record (with the commit and its author,
        which notifications need), so it is not added here.
        """
        require_choice(result, FINAL_RESULTS, "result")
        stamp = self._stamp(at)
        message = redact(message)
        with write_transaction(self.db):
            row = self._require_running(sync_id)
            self.db.execute(
                "UPDATE syncs SET result = ?, message = ?, finished_at = ? WHERE id = ?",
                [result, message, stamp, sync_id],
            )
            if result == "Succeeded" and not row["dry_run"]:
                self.db.execute(
                    "UPDATE app_status SET revision = ?, updated_at = ?"
                    " WHERE app = ? AND cluster = ? AND last_sync_id = ?",
                    [row["revision"], stamp, row["app"], row["cluster"], sync_id],
                )
            return sync_from_row(self._fetch_sync_row(sync_id, with_progress=True))

    def interrupted_at_startup(self, at: datetime | None = None) -> list[SyncRecord]:
        """Mark every sync still ``Running`` as ``Interrupted`` and return them (with progress).

        Call once at startup, before any new sync starts: a row still running then was
        left by a daemon that died. Each gets a ``sync_interrupted`` event.
        """
        stamp = self._stamp(at)
        with write_transaction(self.db):
            rows = list(
                self.db.query(
                    f"SELECT {SYNC_COLUMNS}, progress FROM syncs"
                    " WHERE result = 'Running' ORDER BY id"
                )
            )
            for row in rows:
                self.db.execute(
                    "UPDATE syncs SET result = 'Interrupted', message = ?, finished_at = ?"
                    " WHERE id = ?",
                    [INTERRUPTED_MESSAGE, stamp, row["id"]],
                )
                self.db.execute(
                    "INSERT INTO events (at, kind, app, cluster, sync_id, message)"
                    " VALUES (?, 'sync_interrupted', ?, ?, ?, ?)",
                    [
                        stamp,
                        row["app"],
                        row["cluster"],
                        row["id"],
                        f"sync {row['id']} of {row['app']} on {row['cluster']} was interrupted",
                    ],
                )
        return [
            sync_from_row(
                {
                    **row,
                    "result": "Interrupted",
                    "message": INTERRUPTED_MESSAGE,
                    "finished_at": stamp,
                }
            )
            for row in rows
        ]

    def _set_milestone(self, sync_id: int, column: str, at: datetime | None) -> None:
        stamp = self._stamp(at)
        with write_transaction(self.db):
            self._require_running(sync_id)
            self.db.execute(f"UPDATE syncs SET {column} = ? WHERE id = ?", [stamp, sync_id])

    def _result_row(self, sync_id: int, result: ResourceResult, default_at: str) -> dict[str, Any]:
        if not isinstance(result, ResourceResult):
            raise InvalidRecordError(f"expected a ResourceResult, got {type(result).__name__}")
        require_name(result.phase, "phase")
        require_name(result.kind, "kind")
        require_name(result.name, "name")
        require_choice(result.action, ACTIONS, "action")
        if isinstance(result.wave, bool) or not isinstance(result.wave, int):
            raise InvalidRecordError(f"wave must be an integer, got {result.wave!r}")
        return {
            "sync_id": sync_id,
            "phase": result.phase,
            "wave": result.wave,
            "api_group": result.group,
            "kind": result.kind,
            "namespace": result.namespace,
            "name": result.name,
            "action": result.action,
            "health": result.health,
            "message": redact(result.message),
            "duration_ms": result.duration_ms,
            "at": default_at if result.at is None else self._stamp(result.at),
        }
