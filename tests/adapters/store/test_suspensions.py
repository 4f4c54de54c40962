"""Suspensions in SQLite: scopes, reasons (redacted), and surviving a reopen."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleet.adapters.store import HistoryStore, InvalidRecordError
from fleet.adapters.store.suspensions import ALL_APPS
from tests.adapters.store.conftest import FakeClock


def test_three_scopes_are_kept_apart_and_survive_a_reopen(
    store: HistoryStore, db_path: Path, clock: FakeClock
) -> None:
    store.suspend("web", "prod", "migrating the database")
    store.suspend("api")  # every cluster
    store.suspend(cluster="dev", reason="kernel upgrade")  # every app
    store.close()
    with HistoryStore.open(db_path, clock=clock) as reopened:
        rows = [(r.app, r.cluster, r.reason) for r in reopened.suspensions()]
        assert rows == [
            (ALL_APPS, "dev", "kernel upgrade"),
            ("api", "*", ""),
            ("web", "prod", "migrating the database"),
        ]
        assert reopened.suspensions()[0].suspended_at == clock.now


def test_suspending_again_replaces_the_reason(store: HistoryStore, clock: FakeClock) -> None:
    store.suspend("web", "prod", "first")
    clock.advance(minutes=5)
    store.suspend("web", "prod", "second")
    (row,) = store.suspensions()
    assert (row.reason, row.suspended_at) == ("second", clock.now)


def test_resume_removes_one_scope_and_resume_app_all_of_an_apps(store: HistoryStore) -> None:
    store.suspend("web", "prod")
    store.suspend("web", "dev")
    store.suspend("web")
    store.suspend(cluster="prod")
    assert store.resume("web", "prod") == 1
    assert store.resume("web", "prod") == 0
    assert store.resume_app("web") == 2
    assert [(r.app, r.cluster) for r in store.suspensions()] == [(ALL_APPS, "prod")]
    assert store.resume(cluster="prod") == 1
    assert store.suspensions() == []


def test_reasons_are_redacted_and_bounded(store: HistoryStore) -> None:
    store.suspend("web", "prod", "token=hunter2hunter2hunter2 " + "x" * 1000)
    (row,) = store.suspensions()
    assert "hunter2" not in row.reason
    assert len(row.reason) <= 500


def test_everything_at_once_and_bad_names_are_refused(store: HistoryStore) -> None:
    with pytest.raises(ValueError, match="not everything"):
        store.suspend()
    with pytest.raises(InvalidRecordError):
        store.suspend(" web ", "prod")
