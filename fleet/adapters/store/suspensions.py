"""Suspensions: apps and clusters that automated syncs and self-heal leave alone.

One row per scope, like pins: an app on one cluster (``web``, ``prod``), an app on every
cluster (``web``, ``"*"``), or a whole cluster (``"*"``, ``prod``) for maintenance. They
live in SQLite so that a suspension survives a restart of the daemon; ``fleet resume``
deletes the row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fleet.adapters.store.codec import decode_time
from fleet.adapters.store.connection import write_transaction
from fleet.adapters.store.core import StoreCore, require_name
from fleet.adapters.store.records import ALL_CLUSTERS
from fleet.adapters.store.redaction import redact

#: The app column of a whole cluster's suspension.
ALL_APPS = "*"


@dataclass(frozen=True, slots=True)
class SuspensionRecord:
    app: str
    cluster: str
    reason: str
    suspended_at: datetime

    def as_json(self) -> dict[str, Any]:
        return {
            "app": self.app,
            "cluster": self.cluster,
            "reason": self.reason,
            "suspended_at": self.suspended_at.isoformat(),
        }


class SuspensionBoard(StoreCore):
    def suspend(
        self,
        app: str = ALL_APPS,
        cluster: str = ALL_CLUSTERS,
        reason: str = "",
        at: datetime | None = None,
    ) -> SuspensionRecord:
        """Suspend ``app`` on ``cluster`` (``"*"`` for every app or every cluster)."""
        if app == ALL_APPS and cluster == ALL_CLUSTERS:
            raise ValueError("suspend an app, a cluster, or an app on a cluster, not everything")
        if app != ALL_APPS:
            require_name(app, "app")
        if cluster != ALL_CLUSTERS:
            require_name(cluster, "cluster")
        text = redact(reason)[:500]
        stamp = self._stamp(at)
        with write_transaction(self.db):
            self.db.execute(
                "INSERT INTO suspensions (app, cluster, reason, suspended_at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (app, cluster) DO UPDATE SET reason = excluded.reason,"
                " suspended_at = excluded.suspended_at",
                [app, cluster, text, stamp],
            )
        return SuspensionRecord(app, cluster, text, decode_time(stamp))

    def resume(self, app: str = ALL_APPS, cluster: str = ALL_CLUSTERS) -> int:
        """Delete exactly one scope's suspension; how many rows went (0 or 1)."""
        with write_transaction(self.db):
            cursor = self.db.execute(
                "DELETE FROM suspensions WHERE app = ? AND cluster = ?", [app, cluster]
            )
        return cursor.rowcount

    def resume_app(self, app: str) -> int:
        """Delete every suspension of ``app`` (everywhere and per cluster)."""
        with write_transaction(self.db):
            cursor = self.db.execute("DELETE FROM suspensions WHERE app = ?", [app])
        return cursor.rowcount

    def suspensions(self) -> list[SuspensionRecord]:
        """Every suspension, sorted by app then cluster."""
        rows = self.db.query(
            "SELECT app, cluster, reason, suspended_at FROM suspensions ORDER BY app, cluster"
        )
        return [
            SuspensionRecord(
                row["app"], row["cluster"], row["reason"], decode_time(row["suspended_at"])
            )
            for row in rows
        ]
