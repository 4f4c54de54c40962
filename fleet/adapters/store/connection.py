"""Opening the history file and writing to it safely.

- **WAL** journal: readers (the CLI, the HTTP API) never block the daemon's writer, and a
  process killed at any moment leaves a database that opens cleanly (the WAL is replayed
  or ignored, never half-applied).
- **synchronous=NORMAL** by default: in WAL mode a commit is durable against a process
  crash (kill -9, OOM) because the WAL is in the OS page cache; only a power loss or
  kernel crash can drop the last few commits, never corrupt the file. That trade is right
  for fleet: history is a record, not the source of truth (Git is), a lost "Running" row
  just means the startup sync does the work again, and a lost inventory addition is
  recovered from the tracking annotations on the clusters. ``FULL`` (an fsync per commit)
  is one setting away for those who want it.
- **busy timeout**: a second process (a CLI reading, an operator's ``sqlite3``) makes a
  writer wait instead of failing at once.
- **BEGIN IMMEDIATE** for every write: a deferred transaction that reads first and writes
  later can fail with SQLITE_BUSY without waiting when another connection wrote in
  between; taking the write lock up front makes the busy timeout apply.
- ``check_same_thread=False``: the async facade runs calls in worker threads, one at a
  time (it serialises them with a capacity limiter of 1), so the connection is never
  used by two threads at once although it moves between them.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

from sqlite_utils import Database

from fleet.adapters.store.files import private_database
from fleet.adapters.store.records import StoreError

Synchronous = Literal["NORMAL", "FULL"]


def connect(
    path: Path, *, synchronous: Synchronous, busy_timeout: float, autocheckpoint: bool = True
) -> Database:
    """An open :class:`Database` on ``path`` with fleet's pragmas; the file is created.

    ``autocheckpoint=False`` leaves WAL checkpoints to another process (Litestream,
    which must copy the WAL before it is folded into the database: replication.py)."""
    if synchronous not in ("NORMAL", "FULL"):
        raise StoreError(f"synchronous must be NORMAL or FULL, got {synchronous!r}")
    if not path.parent.is_dir():
        raise StoreError(f"history database {path}: directory {path.parent} does not exist")
    try:
        private_database(path)  # 0600 whatever the umask (files.py)
    except OSError as error:
        raise StoreError(f"history database {path}: cannot create: {error.strerror}") from error
    try:
        conn = sqlite3.connect(path, timeout=busy_timeout, check_same_thread=False)
    except sqlite3.Error as error:
        raise StoreError(f"history database {path}: cannot open: {error}") from error
    try:
        db = Database(conn, execute_plugins=False)
        db.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        db.enable_wal()
        if db.journal_mode != "wal":
            raise StoreError(
                f"history database {path}: cannot switch to WAL mode"
                f" (journal_mode is {db.journal_mode}); is it on a network file system?"
            )
        private_database(path)  # the WAL files SQLite just made
        db.execute(f"PRAGMA synchronous = {synchronous}")
        db.execute("PRAGMA foreign_keys = ON")
        if not autocheckpoint:
            db.execute("PRAGMA wal_autocheckpoint = 0")
        # After a checkpoint, truncate a WAL that grew during a burst back to 64 MiB.
        db.execute(f"PRAGMA journal_size_limit = {64 * 1024 * 1024}")
    except sqlite3.DatabaseError as error:
        conn.close()
        raise StoreError(f"history database {path}: {error}") from error
    except BaseException:
        conn.close()
        raise
    return db


@contextlib.contextmanager
def write_transaction(db: Database) -> Iterator[Database]:
    """One write transaction that takes the write lock up front; nested calls are joined."""
    conn = db.conn
    if conn.in_transaction:
        yield db
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        _rollback(conn)
        raise
    try:
        conn.execute("COMMIT")
    except BaseException:
        _rollback(conn)
        raise


def _rollback(conn: sqlite3.Connection) -> None:
    # Some errors (SQLITE_FULL, a RAISE(ROLLBACK)) have already ended the transaction.
    if conn.in_transaction:
        conn.execute("ROLLBACK")
