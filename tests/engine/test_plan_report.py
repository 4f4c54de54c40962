"""The report ``fleet plan`` answers with: rollout order, per-cluster notes, the summary."""

from __future__ import annotations

import pytest

from fleet.engine.plan_report import AppPlan, ClusterPlan, report, rollout_json, summarize
from fleet.engine.preview import ClusterPreview, PlannedAction, PlannedObject, Refusal
from fleet.engine.rollout import RolloutPlan, RolloutWave
from fleet.model.refs import ObjectRef

SHA = "a" * 40
OLD = "b" * 40
PLAN = RolloutPlan(
    waves=(
        RolloutWave("dev", ("dev",)),
        RolloutWave("prod", ("prod-1", "prod-2"), max_parallel=1, soak_seconds=600.0),
    ),
    rollback_on_halt=True,
)


def planned(action: PlannedAction, name: str = "a") -> PlannedObject:
    return PlannedObject(ObjectRef("", "ConfigMap", "web", name), action)


def cluster(name: str, *objects: PlannedObject, **fields: object) -> ClusterPlan:
    refusals = fields.pop("refusals", ())
    preview = ClusterPreview(tuple(objects), tuple(refusals), unchanged=2)  # type: ignore[arg-type]
    return ClusterPlan(name, preview=preview, **fields)  # type: ignore[arg-type]


def app(*clusters: ClusterPlan, error: str = "") -> AppPlan:
    return AppPlan("web", "platform", SHA, True, PLAN, tuple(clusters), "a commit", error)


@pytest.mark.parametrize(
    ("apps", "changes", "failed", "counts"),
    [
        pytest.param([app(cluster("dev"))], False, False, {}, id="nothing to change"),
        pytest.param(
            [app(cluster("dev", planned(PlannedAction.HOOK), planned(PlannedAction.KEEP)))],
            False,
            False,
            {"hook": 1, "keep": 1},
            id="hooks and kept objects change nothing",
        ),
        pytest.param(
            [app(cluster("dev", planned(PlannedAction.REAPPLY)))],
            False,
            False,
            {"reapply": 1},
            id="a reapply writes but changes nothing",
        ),
        pytest.param(
            [
                app(
                    cluster("dev", planned(PlannedAction.CREATE), planned(PlannedAction.PRUNE)),
                    cluster("prod-1", planned(PlannedAction.CHANGE)),
                )
            ],
            True,
            False,
            {"create": 1, "prune": 1, "change": 1, "clusters_changing": 2},
            id="changes on two clusters",
        ),
        pytest.param(
            [app(cluster("dev", refusals=(Refusal("RenderFailed", "no such file"),)))],
            False,
            True,
            {"clusters_refused": 1},
            id="a refusal fails the plan",
        ),
        pytest.param(
            [app(ClusterPlan("dev", error="cluster unreachable: connection refused"))],
            False,
            True,
            {"errors": 1, "unchanged": 0},
            id="an unreachable cluster fails the plan",
        ),
        pytest.param(
            [app(error="revision 'nope' is not in the mirror")],
            False,
            True,
            {"errors": 1, "clusters": 0},
            id="an unknown revision fails the plan",
        ),
    ],
)
def test_the_summary_counts_and_judges(
    apps: list[AppPlan], changes: bool, failed: bool, counts: dict[str, int]
) -> None:
    summary = summarize(apps)
    assert summary["changes"] is changes
    assert summary["failed"] is failed
    for key, value in counts.items():
        assert summary[key] == value, key
    untouched = {str(a) for a in PlannedAction} - set(counts)
    assert all(summary[key] == 0 for key in untouched)


@pytest.mark.parametrize(
    ("plan", "note"),
    [
        (ClusterPlan("dev", current_revision=OLD), ""),
        (ClusterPlan("dev", current_revision=SHA), "already at this revision"),
        (
            ClusterPlan("dev", current_revision=OLD, pinned_revision=OLD),
            f"pinned to {OLD[:12]}: this revision reaches it only once unpinned"
            " (fleet sync --unpin)",
        ),
        (ClusterPlan("dev", current_revision=SHA, pinned_revision=SHA), "already at this revision"),
        (
            ClusterPlan("dev", current_revision=OLD, suspended=True, held="app db is OutOfSync"),
            "suspended: no automated sync until resumed; waits: app db is OutOfSync",
        ),
    ],
)
def test_a_cluster_says_when_the_rollout_would_pass_it_by(plan: ClusterPlan, note: str) -> None:
    assert plan.note(SHA) == note
    assert plan.as_json(SHA)["note"] == note


def test_the_rollout_order_lists_waves_soaks_and_limits() -> None:
    assert rollout_json(PLAN, automated=True) == {
        "automated": True,
        "rollback_on_halt": True,
        "waves": [
            {
                "name": "dev",
                "clusters": ["dev"],
                "soak_seconds": 0.0,
                "max_parallel": None,
                "max_unavailable": None,
                "failure_budget": 0,
            },
            {
                "name": "prod",
                "clusters": ["prod-1", "prod-2"],
                "soak_seconds": 600.0,
                "max_parallel": 1,
                "max_unavailable": None,
                "failure_budget": 0,
            },
        ],
    }


def test_the_report_holds_every_app_and_cluster_in_order() -> None:
    answer = report(
        [app(cluster("dev", planned(PlannedAction.CREATE), wave="dev"), cluster("prod-1"))]
    )
    [web] = answer["apps"]
    assert web["revision"] == SHA
    assert [c["cluster"] for c in web["clusters"]] == ["dev", "prod-1"]
    dev = web["clusters"][0]
    assert dev["wave"] == "dev"
    assert dev["objects"][0]["action"] == "create"
    assert dev["objects"][0]["object"] == "ConfigMap web/a"
    assert dev["counts"]["create"] == 1
    assert answer["summary"]["create"] == 1
