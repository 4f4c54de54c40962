"""Following the syncs that ``fleet sync`` asked for until each has a result.

The daemon answers a sync request at once, per cluster, with the id of the sync it
started, or without one when the sync has not started yet (the worker is busy with
another sync, or all sync slots are taken). For those, the sync is found in history:
the first manual sync of that app on that cluster newer than the newest sync that
existed before the request. History records every sync the moment it starts, even
one that fails before applying anything (a render error), so every request ends with a
record; the watcher polls it (and the status, for the current step) until it is final.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fleet.cli.output import short_sha

if TYPE_CHECKING:
    from fleet.adapters.http.client import DaemonClient

JSON = dict[str, Any]

#: Results of a finished sync; anything else (``Running``) is still going.
FINAL_RESULTS = frozenset({"Succeeded", "Failed", "Interrupted", "Skipped"})


@dataclass
class Watched:
    """One cluster's sync, as far as it is known."""

    cluster: str
    sync_id: int | None = None
    record: JSON | None = None
    #: What the daemon's status says about this app on this cluster right now.
    status: JSON = field(default_factory=dict)

    @property
    def result(self) -> str | None:
        return None if self.record is None else str(self.record.get("result"))

    @property
    def done(self) -> bool:
        return self.result in FINAL_RESULTS

    @property
    def succeeded(self) -> bool:
        return self.result == "Succeeded"

    def progress(self) -> str:
        """A few words for the progress line: queued, the current step, or the result."""
        if self.done:
            return f"{self.cluster} {self.result}"
        if self.record is None:
            waiting = self.status.get("message") or "queued"
            return f"{self.cluster} {waiting}"
        step = self.status.get("step") if self.status.get("operation") else ""
        return f"{self.cluster} {step or 'syncing'}"

    def pending_reason(self) -> str:
        """Why this cluster has no result yet, for the timeout message."""
        if self.record is None:
            message = self.status.get("message") or "the daemon has not started it"
            return f"{self.cluster}: no sync started yet ({message})"
        step = self.status.get("step") or "running"
        return f"{self.cluster}: sync {self.sync_id} still running ({step})"


async def newest_sync_id(client: DaemonClient, app: str) -> int:
    """The id of the newest sync of ``app`` (0 when none): later syncs have larger ids."""
    page: list[JSON] = await client.request(
        "GET", "/api/v1/history", params={"app": app, "limit": 1}
    )
    return int(page[0]["id"]) if page else 0


class SyncWatcher:
    """Polls history and status for the syncs one request started."""

    def __init__(
        self,
        client: DaemonClient,
        app: str,
        queued: list[JSON],
        baseline: int,
        cluster: str | None = None,
    ) -> None:
        self.client = client
        self.app = app
        self.baseline = baseline
        self.cluster = cluster
        self.watched = [
            Watched(str(entry["cluster"]), _int_or_none(entry.get("sync_id"))) for entry in queued
        ]

    @property
    def done(self) -> bool:
        return all(w.done for w in self.watched)

    async def poll(self) -> None:
        """Bring every cluster's record and status up to date."""
        params: dict[str, str | int] = {"app": self.app, "limit": max(50, 4 * len(self.watched))}
        if self.cluster:
            params["cluster"] = self.cluster
        page: list[JSON] = await self.client.request("GET", "/api/v1/history", params=params)
        by_id = {int(r["id"]): r for r in page}
        for watched in self.watched:
            if watched.done:
                continue
            if watched.sync_id is None:
                watched.sync_id = self._find(page, watched.cluster)
            if watched.sync_id is not None:
                watched.record = by_id.get(watched.sync_id) or await self.client.request(
                    "GET", f"/api/v1/history/{watched.sync_id}"
                )
        statuses: list[JSON] = await self.client.request("GET", "/api/v1/status")
        mine = {s.get("cluster"): s for s in statuses if s.get("app") == self.app}
        for watched in self.watched:
            watched.status = mine.get(watched.cluster, {})

    def _find(self, page: list[JSON], cluster: str) -> int | None:
        candidates = [
            int(r["id"])
            for r in page
            if r.get("cluster") == cluster
            and r.get("trigger") == "manual"
            and int(r["id"]) > self.baseline
        ]
        return min(candidates) if candidates else None

    async def details(self) -> list[JSON]:
        """Every watched sync with its resource results (a stub for those never started)."""
        out: list[JSON] = []
        for watched in self.watched:
            if watched.sync_id is None:
                out.append({"cluster": watched.cluster, "id": None, "result": None})
                continue
            detail: JSON = await self.client.request("GET", f"/api/v1/history/{watched.sync_id}")
            watched.record = detail
            out.append(detail)
        return out

    def progress(self, elapsed: float) -> str:
        parts = " | ".join(w.progress() for w in self.watched)
        revision = next(
            (short_sha(w.record.get("revision")) for w in self.watched if w.record), None
        )
        at = f" at {revision}" if revision else ""
        return f"syncing {self.app}{at} ({int(elapsed)}s): {parts}"


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
