"""Opening the file: pragmas, migrations, clear errors, readers beside the writer."""

from __future__ import annotations

import re
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from fleet.adapters.store import HistoryStore, StoreError
from fleet.adapters.store.schema import known_steps


def pragma(store: HistoryStore, name: str) -> object:
    return store.db.execute(f"PRAGMA {name}").fetchone()[0]


def test_pragmas(store: HistoryStore) -> None:
    assert pragma(store, "journal_mode") == "wal"
    assert pragma(store, "synchronous") == 1  # NORMAL
    assert pragma(store, "foreign_keys") == 1
    assert pragma(store, "busy_timeout") == 5000


def test_full_synchronous_is_available(db_path: Path) -> None:
    with HistoryStore.open(db_path, synchronous="FULL", busy_timeout=0.5) as store:
        assert pragma(store, "synchronous") == 2
        assert pragma(store, "busy_timeout") == 500


def test_migrations_are_recorded_and_reopening_is_idempotent(db_path: Path) -> None:
    with HistoryStore.open(db_path) as store:
        store.start_sync("web", "dev", "abc", "poll")
        steps = store.schema_steps()
    assert steps == known_steps()
    assert steps[0] == "0001_initial"
    assert len(set(steps)) == len(steps)
    with HistoryStore.open(db_path) as store:
        assert store.schema_steps() == steps
        assert len(store.history()) == 1
        assert store.integrity_problems() == []


def test_indexes_serve_the_queries(store: HistoryStore) -> None:
    def plan(sql: str) -> str:
        return " ".join(row[3] for row in store.db.execute(f"EXPLAIN QUERY PLAN {sql}"))

    assert "syncs_by_target" in plan(
        "SELECT id FROM syncs WHERE app = 'a' AND cluster = 'c' ORDER BY id DESC LIMIT 5"
    )
    assert "syncs_running" in plan("SELECT id FROM syncs WHERE result = 'Running'")
    assert "resource_results_by_sync" in plan(
        "SELECT * FROM resource_results WHERE sync_id = 1 ORDER BY id"
    )


def test_a_database_from_a_newer_fleet_is_refused(db_path: Path) -> None:
    with HistoryStore.open(db_path) as store:
        store.db.table("_sqlite_migrations").insert(
            {"migration_set": "fleet-history", "name": "0099_future", "applied_at": "x"}
        )
    with pytest.raises(StoreError, match=r"0099_future.*newer fleet"):
        HistoryStore.open(db_path)


def test_a_file_that_is_not_sqlite_is_named(tmp_path: Path) -> None:
    bogus = tmp_path / "history.sqlite3"
    bogus.write_text("this is not a database\n" * 100)
    with pytest.raises(StoreError, match=re.escape(str(bogus))):
        HistoryStore.open(bogus)


def test_a_missing_directory_is_named(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match=r"directory .*missing does not exist"):
        HistoryStore.open(tmp_path / "missing" / "history.sqlite3")


def test_a_reader_sees_committed_rows_while_a_write_is_open(store: HistoryStore) -> None:
    first = store.start_sync("web", "dev", "abc", "poll")
    reader = sqlite3.connect(store.path)
    try:
        store.db.conn.execute("BEGIN IMMEDIATE")
        store.db.conn.execute("UPDATE syncs SET message = 'uncommitted' WHERE id = ?", [first])
        # WAL: the reader is not blocked and sees the last committed state.
        assert reader.execute("SELECT message FROM syncs").fetchall() == [("",)]
        store.db.conn.execute("COMMIT")
        assert reader.execute("SELECT message FROM syncs").fetchall() == [("uncommitted",)]
    finally:
        reader.close()


def test_a_second_writer_waits_for_the_lock_instead_of_failing(db_path: Path) -> None:
    with HistoryStore.open(db_path) as one, HistoryStore.open(db_path) as two:
        one.db.conn.execute("BEGIN IMMEDIATE")
        release = threading.Timer(0.3, lambda: one.db.conn.execute("ROLLBACK"))
        started = time.monotonic()
        release.start()
        try:
            assert two.start_sync("web", "dev", "abc", "poll") == 1
        finally:
            release.join()
        assert time.monotonic() - started >= 0.25
        assert one.history()[0].id == 1


def test_a_writer_gives_up_after_its_busy_timeout(db_path: Path) -> None:
    with HistoryStore.open(db_path) as one, HistoryStore.open(db_path, busy_timeout=0.1) as two:
        one.db.conn.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                two.start_sync("web", "dev", "abc", "poll")
        finally:
            one.db.conn.execute("ROLLBACK")
        assert not two.db.conn.in_transaction
