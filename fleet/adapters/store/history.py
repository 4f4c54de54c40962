"""The synchronous history store: one SQLite file, one connection, every operation.

Used directly by tests and the CLI, and by the daemon through :class:`AsyncHistoryStore`
(``fleet.adapters.store.asyncstore``), which runs each call in a worker thread. One
instance must not be called from two threads at once; the async facade guarantees that.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from types import TracebackType

from fleet.adapters.store.audit import AuditLog
from fleet.adapters.store.connection import Synchronous, connect, write_transaction
from fleet.adapters.store.core import Clock, utc_now
from fleet.adapters.store.events import EventLog
from fleet.adapters.store.generators import GeneratorStore
from fleet.adapters.store.inventory import InventoryStore
from fleet.adapters.store.queries import HistoryReader
from fleet.adapters.store.records import StoreError
from fleet.adapters.store.retention import Retention
from fleet.adapters.store.rollouts import RolloutStore
from fleet.adapters.store.schema import migrate, schema_steps
from fleet.adapters.store.status import StatusBoard
from fleet.adapters.store.suspensions import SuspensionBoard
from fleet.adapters.store.syncs import SyncWriter

DEFAULT_FILE_NAME = "history.sqlite3"


class HistoryStore(
    SyncWriter,
    HistoryReader,
    EventLog,
    InventoryStore,
    StatusBoard,
    SuspensionBoard,
    Retention,
    RolloutStore,
    AuditLog,
    GeneratorStore,
):
    """fleet's history: syncs, resource results, inventory, events, status and pins."""

    @classmethod
    def open(
        cls,
        path: str | Path,
        *,
        synchronous: Synchronous = "NORMAL",
        busy_timeout: float = 5.0,
        clock: Clock = utc_now,
        autocheckpoint: bool = True,
    ) -> HistoryStore:
        """Open (creating if needed) the database at ``path`` and bring its schema up to date.

        Raises :class:`StoreError` naming the file if it cannot be opened, is not a SQLite
        database, or was written by a newer fleet.
        """
        path = Path(path)
        db = connect(
            path, synchronous=synchronous, busy_timeout=busy_timeout, autocheckpoint=autocheckpoint
        )
        try:
            with write_transaction(db):
                migrate(db)
        except sqlite3.DatabaseError as error:
            db.close()
            raise StoreError(f"history database {path}: {error}") from error
        except BaseException:
            db.close()
            raise
        return cls(db, path, clock)

    def close(self) -> None:
        """Close the connection; the last connection to close also checkpoints the WAL."""
        self.db.close()

    def __enter__(self) -> HistoryStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def integrity_problems(self) -> list[str]:
        """What ``PRAGMA integrity_check`` reports; empty when the file is sound."""
        rows = [str(row[0]) for row in self.db.execute("PRAGMA integrity_check").fetchall()]
        return [] if rows == ["ok"] else rows

    def schema_steps(self) -> list[str]:
        """The schema migrations applied to this file, oldest first."""
        return schema_steps(self.db)
