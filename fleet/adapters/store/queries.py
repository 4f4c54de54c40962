"""Reading history: lists of syncs, one sync in detail.

Lists are newest first and paged by id (``before_id``), not by offset: ids only grow,
so a page stays stable while new syncs arrive, and each page is an index range scan
(``syncs_by_target``, ``syncs_by_app``, ``syncs_by_cluster`` or the primary key).
"""

from __future__ import annotations

from typing import Any

from fleet.adapters.store.codec import decode_time
from fleet.adapters.store.core import (
    SYNC_COLUMNS,
    StoreCore,
    require_choice,
    require_limit,
    require_name,
    sync_from_row,
)
from fleet.adapters.store.records import (
    RESULTS,
    ResourceResultRecord,
    SyncDetail,
    SyncRecord,
)


class HistoryReader(StoreCore):
    def history(
        self,
        *,
        app: str | None = None,
        cluster: str | None = None,
        result: str | None = None,
        limit: int = 50,
        before_id: int | None = None,
    ) -> list[SyncRecord]:
        """Syncs newest first, optionally of one app and/or cluster, with a given result.

        Saved progress is not loaded here (``progress`` is None); :meth:`get_sync` has it.
        """
        require_limit(limit)
        where: list[str] = []
        params: list[Any] = []
        if app is not None:
            where.append("app = ?")
            params.append(require_name(app, "app"))
        if cluster is not None:
            where.append("cluster = ?")
            params.append(require_name(cluster, "cluster"))
        if result is not None:
            where.append("result = ?")
            params.append(require_choice(result, RESULTS, "result"))
        if before_id is not None:
            where.append("id < ?")
            params.append(before_id)
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        rows = self.db.query(
            f"SELECT {SYNC_COLUMNS} FROM syncs{clause} ORDER BY id DESC LIMIT ?",
            [*params, limit],
        )
        return [sync_from_row(row) for row in rows]

    def get_sync(self, sync_id: int) -> SyncRecord:
        """One sync with its saved progress; raises :class:`UnknownSyncError`."""
        return sync_from_row(self._fetch_sync_row(sync_id, with_progress=True))

    def sync_detail(self, sync_id: int) -> SyncDetail:
        """One sync and every resource result it recorded, in recording order."""
        sync = self.get_sync(sync_id)
        rows = self.db.query(
            "SELECT id, sync_id, phase, wave, api_group, kind, namespace, name, action, health,"
            " message, duration_ms, at FROM resource_results WHERE sync_id = ? ORDER BY id",
            [sync_id],
        )
        return SyncDetail(sync=sync, results=[_result_from_row(row) for row in rows])

    def latest_sync(self, app: str, cluster: str) -> SyncRecord | None:
        """The newest sync (running or not, dry run or not) of one app on one cluster."""
        found = self.history(app=app, cluster=cluster, limit=1)
        return found[0] if found else None

    def running_syncs(self) -> list[SyncRecord]:
        """Syncs not finished yet, oldest first, with their progress."""
        rows = self.db.query(
            f"SELECT {SYNC_COLUMNS}, progress FROM syncs WHERE result = 'Running' ORDER BY id"
        )
        return [sync_from_row(row) for row in rows]


def _result_from_row(row: dict[str, Any]) -> ResourceResultRecord:
    return ResourceResultRecord(
        id=row["id"],
        sync_id=row["sync_id"],
        phase=row["phase"],
        wave=row["wave"],
        group=row["api_group"],
        kind=row["kind"],
        namespace=row["namespace"],
        name=row["name"],
        action=row["action"],
        health=row["health"],
        message=row["message"],
        duration_ms=row["duration_ms"],
        at=decode_time(row["at"]),
    )
