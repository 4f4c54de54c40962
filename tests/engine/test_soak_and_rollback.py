"""Soak health and rollback decisions, as tables."""

from __future__ import annotations

import pytest

from fleet.engine.rollback import (
    PastSync,
    RollbackError,
    last_healthy_revision,
    revision_of_sync,
)
from fleet.engine.rollout import (
    ClusterProgress,
    ClusterRollout,
    RolloutPlan,
    RolloutStatus,
    RolloutWave,
    plan_rollout,
)
from fleet.engine.soak import soak_failure, soak_failures

OK, F, S = ClusterRollout.SUCCEEDED, ClusterRollout.FAILED, ClusterRollout.SYNCING

SOAK_CASES = [
    ("synced and healthy", "Synced", "Healthy", None),
    ("degraded fails", "Synced", "Degraded", "turned Degraded during the soak"),
    ("out of sync fails", "OutOfSync", "Healthy", "turned OutOfSync during the soak"),
    ("degraded wins over out of sync", "OutOfSync", "Degraded", "turned Degraded during the soak"),
    ("progressing is not a failure", "Synced", "Progressing", None),
    ("suspended is not a failure", "Synced", "Suspended", None),
    ("unreachable says nothing about the revision", "Unknown", "Unknown", None),
    ("missing alone is not; its OutOfSync is", "Synced", "Missing", None),
]


@pytest.mark.parametrize(
    ("behaviour", "sync", "health", "expected"), SOAK_CASES, ids=[c[0] for c in SOAK_CASES]
)
def test_soak_failure(behaviour: str, sync: str, health: str, expected: str | None) -> None:
    assert soak_failure(sync, health) == expected


def test_only_watched_clusters_that_succeeded_can_fail_their_soak() -> None:
    progress = {
        "a": ClusterProgress(OK, 1.0),
        "b": ClusterProgress(OK, 1.0),
        "c": ClusterProgress(S),
        "d": ClusterProgress(F, 1.0, "sync 3 failed"),
    }
    observed = {
        "a": ("Synced", "Degraded"),
        "b": ("Synced", "Healthy"),
        "c": ("OutOfSync", "Degraded"),
        "d": ("Synced", "Degraded"),
        "e": ("OutOfSync", "Healthy"),
    }
    failed = soak_failures(("a", "b", "c", "d", "e"), observed, progress, 7.0)
    assert failed == {"a": ClusterProgress(F, 7.0, "turned Degraded during the soak")}
    assert soak_failures(("b",), observed, progress, 7.0) == {}
    # Not observed (a sync in progress): left alone.
    assert soak_failures(("a",), {}, progress, 7.0) == {}


def test_a_soak_failure_spends_the_budget_then_halts() -> None:
    plan = RolloutPlan(
        waves=(RolloutWave("canary", ("a", "b"), soak_seconds=60, failure_budget=1),),
        rollback_on_halt=True,
    )
    progress = {"a": ClusterProgress(OK, 10.0), "b": ClusterProgress(OK, 10.0)}
    soaking = plan_rollout(plan, progress, 20.0)
    assert soaking.watch == ("a", "b")
    first = soak_failures(soaking.watch, {"a": ("Synced", "Degraded")}, progress, 21.0)
    progress.update(first)
    still = plan_rollout(plan, progress, 21.0)
    assert still.status is RolloutStatus.SOAKING, "one failure is within the budget"
    assert still.watch == ("b",)
    second = soak_failures(still.watch, {"b": ("OutOfSync", "Healthy")}, progress, 22.0)
    progress.update(second)
    halted = plan_rollout(plan, progress, 22.0)
    assert halted.status is RolloutStatus.HALTED
    assert halted.roll_back == ("a", "b")
    assert "b (turned OutOfSync during the soak)" in halted.reason


def sync(sync_id: int, revision: str, result: str = "Succeeded", dry_run: bool = False) -> PastSync:
    return PastSync(sync_id, "web", "dev", revision, result, dry_run)


HEALTHY_CASES = [
    ("no history: nowhere to go", [], "bad", None),
    ("the newest other success", [sync(1, "v1"), sync(2, "v2"), sync(3, "bad")], "bad", "v2"),
    (
        "order of the rows does not matter",
        [sync(3, "bad"), sync(1, "v1"), sync(2, "v2")],
        "bad",
        "v2",
    ),
    (
        "failed syncs do not count",
        [sync(1, "v1"), sync(2, "v2", "Failed"), sync(3, "bad")],
        "bad",
        "v1",
    ),
    ("dry runs applied nothing", [sync(1, "v1"), sync(2, "v2", dry_run=True)], "bad", "v1"),
    ("interrupted syncs do not count", [sync(1, "v1"), sync(2, "v2", "Interrupted")], "bad", "v1"),
    ("only the bad revision ever succeeded", [sync(1, "bad"), sync(2, "bad")], "bad", None),
    (
        "an earlier success of the bad revision is skipped",
        [sync(1, "v1"), sync(2, "bad"), sync(3, "v2", "Failed")],
        "bad",
        "v1",
    ),
    ("leaving nothing: the newest success", [sync(1, "v1"), sync(2, "v2")], None, "v2"),
]


@pytest.mark.parametrize(
    ("behaviour", "history", "leaving", "expected"),
    HEALTHY_CASES,
    ids=[c[0] for c in HEALTHY_CASES],
)
def test_last_healthy_revision(
    behaviour: str, history: list[PastSync], leaving: str | None, expected: str | None
) -> None:
    assert last_healthy_revision(history, leaving) == expected


TO_SYNC_CASES = [
    ("a succeeded sync of the app gives its revision", sync(7, "v1"), None),
    ("unknown id", None, "no sync with id 7"),
    (
        "another app's sync",
        PastSync(7, "api", "dev", "v1", "Succeeded"),
        "sync 7 is a sync of app api, not of web",
    ),
    ("a dry run", sync(7, "v1", dry_run=True), "sync 7 was a dry run"),
    (
        "a failed sync",
        sync(7, "v1", "Failed"),
        "sync 7 of v1 ended Failed: roll back to a sync that succeeded",
    ),
]


@pytest.mark.parametrize(
    ("behaviour", "past", "error"), TO_SYNC_CASES, ids=[c[0] for c in TO_SYNC_CASES]
)
def test_revision_of_sync(behaviour: str, past: PastSync | None, error: str | None) -> None:
    if error is None:
        assert revision_of_sync(past, "web", 7) == "v1"
    else:
        with pytest.raises(RollbackError, match=error):
            revision_of_sync(past, "web", 7)
