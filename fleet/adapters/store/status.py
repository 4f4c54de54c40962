"""Current status per (app, cluster), and pinned revisions.

Status is stored, not computed from syncs: whether a target is Synced and Healthy is an
observation the daemon makes continuously (a watch sees drift, a Deployment becomes
Degraded hours after its sync), not an outcome of the last sync. Keeping it in a small
table means a restarted daemon, the CLI and the HTTP API show the last known state at
once, and ``fleet status`` is one indexed query. The store keeps two columns itself so
they cannot drift from history: ``last_sync_id`` (set when a real sync starts) and
``revision`` (set when a real sync succeeds).

A pin holds an app at a revision on one cluster, or on all of them (cluster ``"*"``); a
cluster's own pin wins over the app-wide one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fleet.adapters.store.codec import decode_optional_time, decode_time
from fleet.adapters.store.connection import write_transaction
from fleet.adapters.store.core import StoreCore, require_choice, require_name
from fleet.adapters.store.records import ALL_CLUSTERS, SYNC_STATUSES, Pin, StatusRow
from fleet.adapters.store.redaction import redact

_STATUS_QUERY = """
SELECT st.app, st.cluster, st.revision, st.sync_status, st.health, st.message, st.updated_at,
       st.last_sync_id, s.result AS last_result, s.finished_at AS last_finished_at,
       coalesce(own.revision, every.revision) AS pinned_revision
FROM app_status AS st
LEFT JOIN syncs AS s ON s.id = st.last_sync_id
LEFT JOIN pins AS own ON own.app = st.app AND own.cluster = st.cluster
LEFT JOIN pins AS every ON every.app = st.app AND every.cluster = '*'
"""


class StatusBoard(StoreCore):
    def set_status(
        self,
        app: str,
        cluster: str,
        *,
        sync: str | None = None,
        health: str | None = None,
        message: str | None = None,
        at: datetime | None = None,
    ) -> None:
        """Update what the daemon observes of a target; arguments left None keep their value."""
        require_name(app, "app")
        require_name(cluster, "cluster")
        if sync is not None:
            require_choice(sync, SYNC_STATUSES, "sync status")
        if health is not None:
            require_name(health, "health")
        text = None if message is None else redact(message)
        with write_transaction(self.db):
            self.db.execute(
                "INSERT INTO app_status (app, cluster, sync_status, health, message, updated_at)"
                " VALUES (:app, :cluster, coalesce(:sync, 'Unknown'), coalesce(:health,"
                " 'Unknown'), coalesce(:message, ''), :at)"
                " ON CONFLICT (app, cluster) DO UPDATE SET"
                " sync_status = coalesce(:sync, sync_status),"
                " health = coalesce(:health, health),"
                " message = coalesce(:message, message),"
                " updated_at = :at",
                {
                    "app": app,
                    "cluster": cluster,
                    "sync": sync,
                    "health": health,
                    "message": text,
                    "at": self._stamp(at),
                },
            )

    def status_table(
        self, *, app: str | None = None, cluster: str | None = None
    ) -> list[StatusRow]:
        """Every known target (optionally of one app / cluster), sorted by app then cluster."""
        where: list[str] = []
        params: list[Any] = []
        if app is not None:
            where.append("st.app = ?")
            params.append(app)
        if cluster is not None:
            where.append("st.cluster = ?")
            params.append(cluster)
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        rows = self.db.query(f"{_STATUS_QUERY}{clause} ORDER BY st.app, st.cluster", params)
        return [_status_from_row(row) for row in rows]

    def delete_status(self, app: str, cluster: str) -> bool:
        """Drop a target from the status table (the app no longer targets the cluster)."""
        with write_transaction(self.db):
            cursor = self.db.execute(
                "DELETE FROM app_status WHERE app = ? AND cluster = ?", [app, cluster]
            )
        return cursor.rowcount > 0

    def pin(
        self, app: str, revision: str, cluster: str = ALL_CLUSTERS, at: datetime | None = None
    ) -> Pin:
        """Hold ``app`` at ``revision`` on ``cluster`` (default: every cluster)."""
        require_name(app, "app")
        require_name(cluster, "cluster")
        require_name(revision, "revision")
        stamp = self._stamp(at)
        with write_transaction(self.db):
            self.db.execute(
                "INSERT INTO pins (app, cluster, revision, pinned_at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (app, cluster) DO UPDATE SET revision = excluded.revision,"
                " pinned_at = excluded.pinned_at",
                [app, cluster, revision, stamp],
            )
        return Pin(app=app, cluster=cluster, revision=revision, pinned_at=decode_time(stamp))

    def unpin(self, app: str, cluster: str | None = None) -> int:
        """Clear pins: one cluster's, the app-wide one (``"*"``), or all of the app's (None)."""
        with write_transaction(self.db):
            if cluster is None:
                cursor = self.db.execute("DELETE FROM pins WHERE app = ?", [app])
            else:
                cursor = self.db.execute(
                    "DELETE FROM pins WHERE app = ? AND cluster = ?", [app, cluster]
                )
        return cursor.rowcount

    def pins(self, app: str | None = None) -> list[Pin]:
        """Every pin (of one app), sorted by app then cluster."""
        clause, params = ("WHERE app = ?", [app]) if app is not None else ("", [])
        rows = self.db.query(
            f"SELECT app, cluster, revision, pinned_at FROM pins {clause} ORDER BY app, cluster",
            params,
        )
        return [
            Pin(row["app"], row["cluster"], row["revision"], decode_time(row["pinned_at"]))
            for row in rows
        ]

    def pinned_revision(self, app: str, cluster: str) -> str | None:
        """The revision ``app`` is held at on ``cluster``, or None when it follows Git."""
        rows = list(
            self.db.query(
                "SELECT revision FROM pins WHERE app = ? AND cluster IN (?, '*')"
                " ORDER BY cluster = '*' LIMIT 1",
                [app, cluster],
            )
        )
        return rows[0]["revision"] if rows else None


def _status_from_row(row: dict[str, Any]) -> StatusRow:
    return StatusRow(
        app=row["app"],
        cluster=row["cluster"],
        revision=row["revision"],
        sync=row["sync_status"],
        health=row["health"],
        message=row["message"],
        updated_at=decode_time(row["updated_at"]),
        last_sync_id=row["last_sync_id"],
        last_result=row["last_result"],
        last_finished_at=decode_optional_time(row["last_finished_at"]),
        pinned_revision=row["pinned_revision"],
    )
