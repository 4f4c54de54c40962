"""Holds after a rollback and saved rollout states: what survives a daemon restart."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from fleet.adapters.store import HistoryStore, InvalidRecordError
from fleet.adapters.store.schema import known_steps


def test_the_migration_is_known_and_applied(tmp_path: Path) -> None:
    with HistoryStore.open(tmp_path / "h.sqlite3") as store:
        assert "0002_rollout_holds" in store.schema_steps()
    assert "0002_rollout_holds" in known_steps()


def test_holds_replace_list_and_release(tmp_path: Path) -> None:
    at = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    with HistoryStore.open(tmp_path / "h.sqlite3") as store:
        store.hold("web", "dev", "a" * 40, "rollbackOnHalt", "c" * 40, at=at)
        store.hold("web", "prod", "a" * 40, "rollback", "c" * 40, at=at)
        store.hold("api", "dev", "b" * 40, "rollback")
        again = store.hold("web", "dev", "d" * 40, "rollback", "e" * 40, at=at)
        assert again.as_json() == {
            "app": "web",
            "cluster": "dev",
            "revision": "d" * 40,
            "reason": "rollback",
            "base_revision": "e" * 40,
            "held_at": "2026-05-01T12:00:00+00:00",
        }
        assert [(h.app, h.cluster, h.revision[:1]) for h in store.holds()] == [
            ("api", "dev", "b"),
            ("web", "dev", "d"),
            ("web", "prod", "a"),
        ]
        assert store.release_holds("web", "prod") == 1
        assert [h.cluster for h in store.holds("web")] == ["dev"]
        assert store.release_holds("web") == 1
        assert store.release_holds("web") == 0
        assert [h.app for h in store.holds()] == ["api"]
    with HistoryStore.open(tmp_path / "h.sqlite3") as store:
        assert [h.app for h in store.holds()] == ["api"], "kept in the file"


def test_a_hold_needs_names(tmp_path: Path) -> None:
    with HistoryStore.open(tmp_path / "h.sqlite3") as store:
        with pytest.raises(InvalidRecordError, match="revision"):
            store.hold("web", "dev", "", "rollback")
        with pytest.raises(InvalidRecordError, match="cluster"):
            store.hold("web", " dev", "a" * 40, "rollback")


def test_rollout_states_round_trip_and_clear(tmp_path: Path) -> None:
    state = {"status": "Halted", "reason": "wave dev: 1 cluster(s) failed", "head": "c" * 40}
    with HistoryStore.open(tmp_path / "h.sqlite3") as store:
        assert store.rollout_state("web") is None
        store.save_rollout_state("web", state)
        store.save_rollout_state("web", {**state, "status": "Aborted"})
        store.save_rollout_state("api", state)
    with HistoryStore.open(tmp_path / "h.sqlite3") as store:
        assert store.rollout_state("web") == {**state, "status": "Aborted"}
        assert sorted(store.rollout_states()) == ["api", "web"]
        assert store.clear_rollout_state("web") is True
        assert store.clear_rollout_state("web") is False
        assert store.rollout_state("web") is None
