"""How a dry run's plan is recorded: history's actions, a one-line summary."""

from __future__ import annotations

from typing import Any

import pytest

from fleet.adapters.store import ACTIONS
from fleet.runtime.dryrun import RECORDED_AS, _row, summary


def planned(action: str, kind: str = "ConfigMap", detail: str = "") -> dict[str, Any]:
    return {
        "action": action,
        "group": "apps" if kind == "Deployment" else "",
        "kind": kind,
        "namespace": "web",
        "name": "web",
        "phase": "Sync",
        "wave": 1,
        "detail": detail,
    }


@pytest.mark.parametrize(
    ("actions", "unchanged", "expected"),
    [
        ([], 5, "dry run, nothing changed: would change nothing; 5 unchanged"),
        (["create"], 0, "dry run, nothing changed: would create 1; 0 unchanged"),
        (
            ["change", "create", "change", "prune", "hook", "hook"],
            3,
            "dry run, nothing changed: would create 1, change 2, prune 1, run hooks 2; 3 unchanged",
        ),
        (["reapply", "keep"], 1, "dry run, nothing changed: would re-apply 1, keep 1; 1 unchanged"),
    ],
)
def test_the_summary_counts_what_would_happen(
    actions: list[str], unchanged: int, expected: str
) -> None:
    assert summary([planned(a) for a in actions], unchanged) == expected


def test_every_planned_action_is_recorded_with_an_action_history_accepts() -> None:
    assert set(RECORDED_AS.values()) <= ACTIONS
    row = _row(planned("change", "Deployment", "spec.replicas"))
    assert (row.group, row.kind, row.namespace, row.name) == ("apps", "Deployment", "web", "web")
    assert (row.action, row.message, row.wave, row.health) == (
        "configured",
        "would change: spec.replicas",
        1,
        None,
    )
    assert _row(planned("create")).message == "would create"
