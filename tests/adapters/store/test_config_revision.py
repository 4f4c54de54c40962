"""Each sync records the fleet config revision in force when it started (0005)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from fleet.adapters.store import AsyncHistoryStore, HistoryStore
from fleet.adapters.store.schema import known_steps

CONFIG_A = "a" * 40
CONFIG_B = "b" * 40


def test_syncs_record_the_config_revision_in_force(store: HistoryStore) -> None:
    before = store.start_sync("web", "dev", "abc", "poll")
    store.config_revision = CONFIG_A
    first = store.start_sync("web", "dev", "abc", "poll")
    store.config_revision = CONFIG_B
    second = store.start_sync("web", "prod", "abc", "config")
    by_id = {record.id: record for record in store.history()}
    assert by_id[before].config_revision is None  # a local config file
    assert by_id[first].config_revision == CONFIG_A
    assert by_id[second].config_revision == CONFIG_B
    assert by_id[second].as_json()["config_revision"] == CONFIG_B
    assert store.sync_detail(first).sync.config_revision == CONFIG_A


def test_the_migration_adds_the_column_to_an_older_database(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    with HistoryStore.open(path) as store:
        store.start_sync("web", "dev", "abc", "poll")
    # Undo 0005 as a database written before it would be: no column, no record of it.
    db = sqlite3.connect(path)
    db.execute("ALTER TABLE syncs DROP COLUMN config_revision")
    db.execute("DELETE FROM _sqlite_migrations WHERE name = '0005_config_revision'")
    db.commit()
    db.close()
    with HistoryStore.open(path) as store:
        assert "0005_config_revision" in store.schema_steps()
        # Re-applied last: later steps (0006 on) were already there.
        assert sorted(store.schema_steps()) == sorted(known_steps())
        (old,) = store.history()
        assert old.config_revision is None


@pytest.mark.anyio
async def test_the_async_store_passes_it_through(tmp_path: Path) -> None:
    async with await AsyncHistoryStore.open(tmp_path / "h.sqlite3") as store:
        store.config_revision = CONFIG_A
        sync_id = await store.start_sync("web", "dev", "abc", "poll")
        (record,) = await store.history()
        assert (record.id, record.config_revision) == (sync_id, CONFIG_A)
        assert store.config_revision == CONFIG_A
