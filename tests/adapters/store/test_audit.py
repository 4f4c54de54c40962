"""The audit log: rows in, newest first, redacted, bounded by age and count."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from fleet.adapters.store import HistoryStore, InvalidRecordError
from fleet.adapters.store.audit import AuditEntry
from tests.adapters.store.conftest import FakeClock


def entry(principal: str = "ci", status: int = 202, **extra: object) -> AuditEntry:
    return AuditEntry(
        principal=principal,
        method="POST",
        route="/api/v1/apps/{app}/sync",
        path="/api/v1/apps/web/sync",
        remote="10.0.0.7",
        status=status,
        app="web",
        **extra,  # type: ignore[arg-type]
    )


def test_rows_page_newest_first_and_filter(tmp_path: Path, clock: FakeClock) -> None:
    with HistoryStore.open(tmp_path / "h.sqlite3", clock=clock) as store:
        ids = [store.add_audit(entry("ci" if i % 2 else "ops", 202 + i)) for i in range(5)]
        assert [r.id for r in store.audit_entries(limit=2)] == ids[:-3:-1]
        assert [r.id for r in store.audit_entries(before_id=ids[2])] == [ids[1], ids[0]]
        assert {r.entry.principal for r in store.audit_entries(principal="ops")} == {"ops"}
        with pytest.raises(InvalidRecordError):
            store.audit_entries(limit=-1)


def test_messages_and_details_are_redacted(tmp_path: Path) -> None:
    with HistoryStore.open(tmp_path / "h.sqlite3") as store:
        store.add_audit(
            entry(message="clone https://bot:hunter22@git.example/r failed",
                  details={"token": "abc", "revision": "main"})
        )  # fmt: skip
        (row,) = store.audit_entries()
        assert "hunter22" not in row.entry.message
        assert row.entry.details == {"token": "***", "revision": "main"}


def test_old_and_surplus_rows_are_pruned(tmp_path: Path, clock: FakeClock) -> None:
    with HistoryStore.open(tmp_path / "h.sqlite3", clock=clock) as store:
        store.add_audit(entry("old"))
        clock.advance(days=40)
        for _ in range(5):
            store.add_audit(entry("new"))
        assert store.prune_audit(clock.now - timedelta(days=30), keep_at_most=3) == 3
        assert [r.entry.principal for r in store.audit_entries()] == ["new"] * 3
