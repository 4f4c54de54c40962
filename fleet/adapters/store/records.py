"""What goes into the history store and what comes out, as plain frozen values.

The store is written to by the daemon and read by the CLI and the HTTP API, and it must
not depend on the engine's types: everything here is built from str, int, bool, datetime
and JSON-like dicts. The closed vocabularies (triggers, results, actions) are checked on
the way in, so a typo in the daemon fails loudly instead of writing an unqueryable row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

#: What started a sync.
TRIGGERS = frozenset(
    {
        "poll",
        "webhook",
        "refresh",  # asked for on the dashboard or POST /api/v1/apps/APP/refresh
        "manual",
        "drift",
        "pin",
        "unpin",
        "rollback",
        "startup",
        "config",
        "retry",
    }
)
#: A sync's result; only ``Running`` is not final.
RUNNING = "Running"
FINAL_RESULTS = frozenset({"Succeeded", "Failed", "Interrupted", "Skipped"})
RESULTS = FINAL_RESULTS | {RUNNING}
#: What a sync did to one object.
ACTIONS = frozenset(
    {
        "created",
        "configured",
        "unchanged",
        "pruned",
        "hook",
        "completed",
        "deleted",
        "skipped",
        "failed",
    }
)
#: Whether a target matches Git, as ``fleet status`` shows it.
SYNC_STATUSES = frozenset({"Synced", "OutOfSync", "Unknown"})
#: Pins with this cluster apply to every cluster of the app.
ALL_CLUSTERS = "*"

JSONValue = Any


class StoreError(Exception):
    """Base of every error the store raises on purpose."""


class InvalidRecordError(StoreError, ValueError):
    """A value handed to the store is outside its vocabulary or shape."""


class UnknownSyncError(StoreError, LookupError):
    """No sync has this id (it never existed, or retention removed it)."""


class SyncNotRunningError(StoreError):
    """The sync is already finished; a finished sync is never written again."""


class StoredRef(NamedTuple):
    """An object reference as stored: a plain tuple, so callers can pass their own."""

    group: str
    kind: str
    namespace: str
    name: str


@dataclass(frozen=True, slots=True)
class ResourceResult:
    """One step of a sync on one object, as the daemon reports it."""

    phase: str
    wave: int
    group: str
    kind: str
    namespace: str
    name: str
    action: str
    health: str | None = None
    message: str = ""
    duration_ms: int | None = None
    at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ResourceResultRecord:
    """A stored resource result."""

    id: int
    sync_id: int
    phase: str
    wave: int
    group: str
    kind: str
    namespace: str
    name: str
    action: str
    health: str | None
    message: str
    duration_ms: int | None
    at: datetime

    @property
    def ref(self) -> StoredRef:
        return StoredRef(self.group, self.kind, self.namespace, self.name)

    def as_json(self) -> dict[str, JSONValue]:
        return {
            "id": self.id,
            "sync_id": self.sync_id,
            "phase": self.phase,
            "wave": self.wave,
            "group": self.group,
            "kind": self.kind,
            "namespace": self.namespace,
            "name": self.name,
            "action": self.action,
            "health": self.health,
            "message": self.message,
            "duration_ms": self.duration_ms,
            "at": self.at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class SyncRecord:
    """One sync of one app on one cluster."""

    id: int
    app: str
    cluster: str
    revision: str
    trigger: str
    dry_run: bool
    started_at: datetime
    applied_at: datetime | None
    healthy_at: datetime | None
    finished_at: datetime | None
    result: str
    message: str
    trace_id: str | None
    resumed_from: int | None
    progress: JSONValue | None = None
    #: The fleet config revision in force when the sync started (None: a local file).
    config_revision: str | None = None

    @property
    def running(self) -> bool:
        return self.result == RUNNING

    def as_json(self) -> dict[str, JSONValue]:
        """A JSON-ready dict (times in ISO 8601) for the CLI's ``--json`` and the HTTP API."""
        return {
            "id": self.id,
            "app": self.app,
            "cluster": self.cluster,
            "revision": self.revision,
            "trigger": self.trigger,
            "dry_run": self.dry_run,
            "started_at": _iso(self.started_at),
            "applied_at": _iso(self.applied_at),
            "healthy_at": _iso(self.healthy_at),
            "finished_at": _iso(self.finished_at),
            "result": self.result,
            "message": self.message,
            "trace_id": self.trace_id,
            "resumed_from": self.resumed_from,
            "config_revision": self.config_revision,
        }


@dataclass(frozen=True, slots=True)
class SyncDetail:
    """A sync with every resource result it recorded, in the order they were recorded."""

    sync: SyncRecord
    results: list[ResourceResultRecord] = field(default_factory=list)

    def as_json(self) -> dict[str, JSONValue]:
        return {**self.sync.as_json(), "results": [r.as_json() for r in self.results]}


@dataclass(frozen=True, slots=True)
class EventRecord:
    """Something that happened outside a sync's own results: drift, an unreachable cluster..."""

    id: int
    at: datetime
    kind: str
    app: str | None
    cluster: str | None
    sync_id: int | None
    message: str
    details: dict[str, JSONValue]

    def as_json(self) -> dict[str, JSONValue]:
        return {
            "id": self.id,
            "at": self.at.isoformat(),
            "kind": self.kind,
            "app": self.app,
            "cluster": self.cluster,
            "sync_id": self.sync_id,
            "message": self.message,
            "details": self.details,
        }


@dataclass(frozen=True, slots=True)
class StatusRow:
    """The current state of one app on one cluster, for ``fleet status``."""

    app: str
    cluster: str
    revision: str | None
    sync: str
    health: str
    message: str
    updated_at: datetime
    last_sync_id: int | None
    last_result: str | None
    last_finished_at: datetime | None
    pinned_revision: str | None

    def as_json(self) -> dict[str, JSONValue]:
        return {
            "app": self.app,
            "cluster": self.cluster,
            "revision": self.revision,
            "sync": self.sync,
            "health": self.health,
            "message": self.message,
            "updated_at": self.updated_at.isoformat(),
            "last_sync_id": self.last_sync_id,
            "last_result": self.last_result,
            "last_finished_at": _iso(self.last_finished_at),
            "pinned_revision": self.pinned_revision,
        }


@dataclass(frozen=True, slots=True)
class Pin:
    """A revision held for an app on one cluster, or on all (``cluster == "*"``)."""

    app: str
    cluster: str
    revision: str
    pinned_at: datetime


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """How much history to keep. ``None`` disables a limit.

    The newest sync of every (app, cluster) and every running sync are always kept, so
    that ``fleet status`` can still point at the last sync and a resume is never lost.
    """

    max_age_days: float | None = 30.0
    keep_per_target: int | None = 1000
    event_max_age_days: float | None = 30.0

    def __post_init__(self) -> None:
        for name in ("max_age_days", "event_max_age_days"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise InvalidRecordError(f"retention {name} must be positive, got {value}")
        if self.keep_per_target is not None and self.keep_per_target < 1:
            raise InvalidRecordError(
                f"retention keep_per_target must be at least 1, got {self.keep_per_target}"
            )


@dataclass(frozen=True, slots=True)
class RetentionReport:
    """How many rows one retention pass removed."""

    syncs: int = 0
    events: int = 0

    def __add__(self, other: RetentionReport) -> RetentionReport:
        return RetentionReport(self.syncs + other.syncs, self.events + other.events)

    @property
    def empty(self) -> bool:
        return self.syncs == 0 and self.events == 0


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()
