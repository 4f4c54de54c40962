"""What of a rollout must survive a restart: holds after a rollback, halts and aborts.

A *hold* keeps one app on one cluster at a revision after a rollback (automatic, on a
halt with ``rollbackOnHalt``, or ``fleet rollback``). Unlike a pin it does not outlive
the next commit: it remembers the source revision it was taken under (``base_revision``),
and the daemon lifts it once the source moves past that. ``fleet sync --unpin`` lifts it
too.

A *rollout state* is the small JSON record of an app's rollout the daemon must not forget
(a halted rollout stays halted, an aborted one stays aborted, across a restart), keyed by
app. It is written on those transitions only, never per cluster step.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fleet.adapters.store.codec import decode_json, decode_time, encode_json
from fleet.adapters.store.connection import write_transaction
from fleet.adapters.store.core import StoreCore, require_name


@dataclass(frozen=True, slots=True)
class Hold:
    app: str
    cluster: str
    revision: str
    #: Why: "rollback" (``fleet rollback``) or "rollbackOnHalt".
    reason: str
    #: The source revision when the hold was taken: a newer one lifts it.
    base_revision: str
    held_at: datetime

    def as_json(self) -> dict[str, Any]:
        return {
            "app": self.app,
            "cluster": self.cluster,
            "revision": self.revision,
            "reason": self.reason,
            "base_revision": self.base_revision,
            "held_at": self.held_at.isoformat(),
        }


class RolloutStore(StoreCore):
    def hold(
        self,
        app: str,
        cluster: str,
        revision: str,
        reason: str,
        base_revision: str = "",
        at: datetime | None = None,
    ) -> Hold:
        """Hold ``app`` on ``cluster`` at ``revision`` (replacing any hold there)."""
        require_name(app, "app")
        require_name(cluster, "cluster")
        require_name(revision, "revision")
        require_name(reason, "hold reason")
        stamp = self._stamp(at)
        with write_transaction(self.db):
            self.db.execute(
                "INSERT INTO rollout_holds (app, cluster, revision, reason, base_revision,"
                " held_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (app, cluster) DO UPDATE SET"
                " revision = excluded.revision, reason = excluded.reason,"
                " base_revision = excluded.base_revision, held_at = excluded.held_at",
                [app, cluster, revision, reason, base_revision, stamp],
            )
        return Hold(app, cluster, revision, reason, base_revision, decode_time(stamp))

    def release_holds(self, app: str, cluster: str | None = None) -> int:
        """Lift the holds of ``app`` (on one cluster, or everywhere); how many there were."""
        with write_transaction(self.db):
            if cluster is None:
                cursor = self.db.execute("DELETE FROM rollout_holds WHERE app = ?", [app])
            else:
                cursor = self.db.execute(
                    "DELETE FROM rollout_holds WHERE app = ? AND cluster = ?", [app, cluster]
                )
        return cursor.rowcount

    def holds(self, app: str | None = None) -> list[Hold]:
        """Every hold (of one app), sorted by app then cluster."""
        clause, params = ("WHERE app = ?", [app]) if app is not None else ("", [])
        rows = self.db.query(
            "SELECT app, cluster, revision, reason, base_revision, held_at FROM rollout_holds"
            f" {clause} ORDER BY app, cluster",
            params,
        )
        return [
            Hold(
                row["app"],
                row["cluster"],
                row["revision"],
                row["reason"],
                row["base_revision"],
                decode_time(row["held_at"]),
            )
            for row in rows
        ]

    def save_rollout_state(
        self, app: str, state: dict[str, Any], at: datetime | None = None
    ) -> None:
        """Remember ``app``'s rollout state (a JSON object), replacing the previous one."""
        require_name(app, "app")
        with write_transaction(self.db):
            self.db.execute(
                "INSERT INTO rollout_states (app, state, updated_at) VALUES (?, ?, ?)"
                " ON CONFLICT (app) DO UPDATE SET state = excluded.state,"
                " updated_at = excluded.updated_at",
                [app, encode_json(state, "rollout state"), self._stamp(at)],
            )

    def rollout_state(self, app: str) -> dict[str, Any] | None:
        rows = list(self.db.query("SELECT state FROM rollout_states WHERE app = ?", [app]))
        if not rows:
            return None
        state = decode_json(rows[0]["state"])
        return state if isinstance(state, dict) else None

    def rollout_states(self) -> dict[str, dict[str, Any]]:
        """Every app's saved rollout state."""
        states = {}
        for row in self.db.query("SELECT app, state FROM rollout_states ORDER BY app"):
            state = decode_json(row["state"])
            if isinstance(state, dict):
                states[row["app"]] = state
        return states

    def clear_rollout_state(self, app: str) -> bool:
        with write_transaction(self.db):
            cursor = self.db.execute("DELETE FROM rollout_states WHERE app = ?", [app])
        return cursor.rowcount > 0
