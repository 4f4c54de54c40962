"""fleet's history in SQLite: syncs, resource results, inventory, events, status and pins.

``HistoryStore`` is the synchronous core (tests, CLI); ``AsyncHistoryStore`` is the same
API for the daemon, run in a worker thread. The store never receives object bodies: only
references, messages and diff summaries, and messages are redacted on the way in. See
docs/history.md.
"""

from fleet.adapters.store.asyncstore import AsyncHistoryStore
from fleet.adapters.store.codec import JSONText
from fleet.adapters.store.events import KNOWN_EVENT_KINDS
from fleet.adapters.store.history import DEFAULT_FILE_NAME, HistoryStore
from fleet.adapters.store.records import (
    ACTIONS,
    ALL_CLUSTERS,
    FINAL_RESULTS,
    RESULTS,
    RUNNING,
    SYNC_STATUSES,
    TRIGGERS,
    EventRecord,
    InvalidRecordError,
    Pin,
    ResourceResult,
    ResourceResultRecord,
    RetentionPolicy,
    RetentionReport,
    StatusRow,
    StoredRef,
    StoreError,
    SyncDetail,
    SyncNotRunningError,
    SyncRecord,
    UnknownSyncError,
)
from fleet.adapters.store.redaction import redact

__all__ = [
    "ACTIONS",
    "ALL_CLUSTERS",
    "DEFAULT_FILE_NAME",
    "FINAL_RESULTS",
    "KNOWN_EVENT_KINDS",
    "RESULTS",
    "RUNNING",
    "SYNC_STATUSES",
    "TRIGGERS",
    "AsyncHistoryStore",
    "EventRecord",
    "HistoryStore",
    "InvalidRecordError",
    "JSONText",
    "Pin",
    "ResourceResult",
    "ResourceResultRecord",
    "RetentionPolicy",
    "RetentionReport",
    "StatusRow",
    "StoreError",
    "StoredRef",
    "SyncDetail",
    "SyncNotRunningError",
    "SyncRecord",
    "UnknownSyncError",
    "redact",
]
