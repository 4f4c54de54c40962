"""The status row ``as_json`` keeps between changes: every field set shows at once, and
each caller gets its own copy."""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, datetime
from typing import Any

import pytest

from fleet.runtime.status import AppClusterStatus

WHEN = datetime(2026, 5, 1, 12, 0, 3, tzinfo=UTC)

#: A new value for every field, and how the row shows it.
CHANGES: list[tuple[str, Any, Any]] = [
    ("app", "api", "api"),
    ("cluster", "dev", "dev"),
    ("revision", "a" * 40, "a" * 40),
    ("target_revision", "b" * 40, "b" * 40),
    ("target_ref", "refs/tags/v1.4.2", "refs/tags/v1.4.2"),
    ("sync", "OutOfSync", "OutOfSync"),
    ("health", "Degraded", "Degraded"),
    ("message", "dry-run failed", "dry-run failed"),
    ("operation", "Syncing", "Syncing"),
    ("step", "wave 2", "wave 2"),
    ("last_sync_id", 7, 7),
    ("last_result", "Succeeded", "Succeeded"),
    ("last_finished_at", WHEN, WHEN.isoformat()),
    ("pinned_revision", "c" * 40, "c" * 40),
    ("reachable", False, False),
    ("unreachable_since", WHEN, WHEN.isoformat()),
    ("out_of_sync", ["/ConfigMap/web/cfg"], ["/ConfigMap/web/cfg"]),
    ("updated_at", WHEN, WHEN.isoformat()),
    ("suspended", True, True),
    ("hold", {"kind": "window", "reason": "closed"}, {"kind": "window", "reason": "closed"}),
]


def test_the_table_names_every_field() -> None:
    assert [name for name, _, _ in CHANGES] == [f.name for f in fields(AppClusterStatus)]


@pytest.mark.parametrize(("name", "value", "shown"), CHANGES, ids=[c[0] for c in CHANGES])
def test_a_field_set_after_a_poll_shows_in_the_next(name: str, value: Any, shown: Any) -> None:
    status = AppClusterStatus(app="web", cluster="prod")
    before = status.as_json()
    setattr(status, name, value)
    after = status.as_json()
    assert after[name] == shown
    assert {k: v for k, v in after.items() if k != name} == {
        k: v for k, v in before.items() if k != name
    }


def test_the_helpers_that_change_fields_show_too() -> None:
    status = AppClusterStatus(app="web", cluster="prod", sync="Synced", health="Healthy")
    status.as_json()
    status.mark_unreachable(WHEN, "connection refused")
    row = status.as_json()
    assert (row["sync"], row["health"], row["reachable"]) == ("Unknown", "Unknown", False)
    assert row["message"] == "unreachable since 2026-05-01 12:00:03 UTC: connection refused"
    status.mark_reachable()
    row = status.as_json()
    assert (row["reachable"], row["message"], row["unreachable_since"]) == (True, "", None)


def test_each_caller_gets_its_own_row_list_and_hold() -> None:
    status = AppClusterStatus(app="web", cluster="prod", out_of_sync=["/ConfigMap/web/cfg"])
    status.hold = {"kind": "window"}
    first = status.as_json()
    first["sync"] = "changed by a caller"
    first["out_of_sync"].append("another")
    first["hold"]["kind"] = "changed"
    second = status.as_json()
    assert second["sync"] == "Unknown"
    assert second["out_of_sync"] == ["/ConfigMap/web/cfg"]
    assert second["hold"] == {"kind": "window"}
    assert status.out_of_sync == ["/ConfigMap/web/cfg"]
    assert status.hold == {"kind": "window"}


class CountingTime(datetime):
    """A datetime that counts how often it is written out."""

    written = 0

    def isoformat(self, *args: Any, **kwargs: Any) -> str:
        CountingTime.written += 1
        return super().isoformat(*args, **kwargs)


def test_an_unchanged_row_is_built_once_for_many_polls() -> None:
    CountingTime.written = 0
    status = AppClusterStatus(app="web", cluster="prod")
    status.updated_at = CountingTime(2026, 5, 1, tzinfo=UTC)
    rows = [status.as_json() for _ in range(50)]
    assert CountingTime.written == 1
    assert all(r == rows[0] for r in rows)
    status.health = "Healthy"  # a change: built again, once
    assert [status.as_json()["health"] for _ in range(5)] == ["Healthy"] * 5
    assert CountingTime.written == 2
