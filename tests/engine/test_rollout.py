"""The cross-cluster rollout, as a table: one row, one behaviour."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fleet.engine.rollout import (
    ClusterProgress,
    ClusterRollout,
    RolloutDecision,
    RolloutPlan,
    RolloutPlanError,
    RolloutStatus,
    RolloutWave,
    check_coverage,
    plan_rollout,
    single_wave,
)

P, S, OK, F = (
    ClusterRollout.PENDING,
    ClusterRollout.SYNCING,
    ClusterRollout.SUCCEEDED,
    ClusterRollout.FAILED,
)

CANARY_THEN_REST = RolloutPlan(
    waves=(
        RolloutWave("canary", ("dev-1",), soak_seconds=60),
        RolloutWave("rest", ("prod-1", "prod-2", "prod-3"), max_parallel=2, failure_budget=1),
    )
)


def progress(**states: ClusterRollout | tuple[ClusterRollout, float]) -> dict[str, ClusterProgress]:
    out = {}
    for name, value in states.items():
        name = name.replace("_", "-")
        if isinstance(value, tuple):
            out[name] = ClusterProgress(value[0], finished_at=value[1])
        else:
            out[name] = ClusterProgress(value)
    return out


CASES = [
    (
        "nothing done: only the first wave starts",
        {},
        100.0,
        RolloutDecision(RolloutStatus.PROGRESSING, start=("dev-1",), wave=0),
    ),
    (
        "first wave syncing: nothing more starts",
        progress(dev_1=S),
        100.0,
        RolloutDecision(RolloutStatus.PROGRESSING, wave=0),
    ),
    (
        "first wave healthy but soaking: wait until the soak ends",
        progress(dev_1=(OK, 90.0)),
        100.0,
        RolloutDecision(
            RolloutStatus.SOAKING,
            wave=0,
            wake_at=150.0,
            reason="wave canary soaking until its soak time has passed",
        ),
    ),
    (
        "soak over: the next wave starts, at most max_parallel at once",
        progress(dev_1=(OK, 90.0)),
        150.0,
        RolloutDecision(RolloutStatus.PROGRESSING, start=("prod-1", "prod-2"), wave=1),
    ),
    (
        "one slot frees up: one more cluster starts",
        progress(dev_1=(OK, 0.0), prod_1=(OK, 200.0), prod_2=S),
        300.0,
        RolloutDecision(RolloutStatus.PROGRESSING, start=("prod-3",), wave=1),
    ),
    (
        "a failure within the budget does not halt",
        progress(dev_1=(OK, 0.0), prod_1=(F, 200.0), prod_2=S),
        300.0,
        RolloutDecision(RolloutStatus.PROGRESSING, start=("prod-3",), wave=1),
    ),
    (
        "failures over the budget halt the rollout and name the clusters",
        progress(dev_1=(OK, 0.0), prod_1=(F, 200.0), prod_2=(F, 210.0), prod_3=S),
        300.0,
        RolloutDecision(
            RolloutStatus.HALTED,
            wave=1,
            reason="wave rest: 2 cluster(s) failed (prod-1, prod-2), over its failure budget of 1",
        ),
    ),
    (
        "a failed canary with no budget halts before production",
        progress(dev_1=(F, 10.0)),
        500.0,
        RolloutDecision(
            RolloutStatus.HALTED,
            wave=0,
            reason="wave canary: 1 cluster(s) failed (dev-1), over its failure budget of 0",
        ),
    ),
    (
        "every wave done (the last wave does not soak): complete",
        progress(dev_1=(OK, 0.0), prod_1=(OK, 1.0), prod_2=(F, 2.0), prod_3=(OK, 3.0)),
        3.0,
        RolloutDecision(RolloutStatus.COMPLETE),
    ),
]


@pytest.mark.parametrize(
    ("behaviour", "state", "now", "expected"), CASES, ids=[c[0] for c in CASES]
)
def test_rollout_rules(
    behaviour: str, state: dict[str, ClusterProgress], now: float, expected: RolloutDecision
) -> None:
    assert plan_rollout(CANARY_THEN_REST, state, now) == expected


def test_max_unavailable_counts_failed_clusters() -> None:
    plan = RolloutPlan(
        waves=(RolloutWave("all", ("a", "b", "c", "d"), max_unavailable=2, failure_budget=3),)
    )
    decision = plan_rollout(plan, progress(a=F, b=S), 0.0)
    assert decision.start == ()
    decision = plan_rollout(plan, progress(a=F, b=OK), 0.0)
    assert decision.start == ("c",)


def test_halt_with_rollback_names_the_clusters_that_succeeded() -> None:
    plan = RolloutPlan(waves=CANARY_THEN_REST.waves, rollback_on_halt=True)
    decision = plan_rollout(
        plan, progress(dev_1=(OK, 0.0), prod_1=(OK, 1.0), prod_2=(F, 2.0), prod_3=(F, 3.0)), 9.0
    )
    assert decision.status is RolloutStatus.HALTED
    assert decision.roll_back == ("dev-1", "prod-1")


def test_without_a_rollout_every_cluster_starts_at_once() -> None:
    decision = plan_rollout(single_wave(["b", "a", "c"]), {}, 0.0)
    assert decision.start == ("a", "b", "c")


COVERAGE_CASES = [
    ("exact cover passes", ["dev-1", "prod-1", "prod-2", "prod-3"], None),
    (
        "a targeted cluster in no wave is an error",
        ["dev-1", "prod-1", "prod-2", "prod-3", "eu-9"],
        "cluster eu-9 is targeted but in no wave",
    ),
    (
        "a wave naming an untargeted cluster is an error",
        ["prod-1", "prod-2", "prod-3"],
        "wave canary names dev-1, which is not targeted",
    ),
]


@pytest.mark.parametrize(
    ("behaviour", "targets", "error"), COVERAGE_CASES, ids=[c[0] for c in COVERAGE_CASES]
)
def test_coverage(behaviour: str, targets: list[str], error: str | None) -> None:
    if error is None:
        check_coverage(CANARY_THEN_REST, targets)
    else:
        with pytest.raises(RolloutPlanError, match=error):
            check_coverage(CANARY_THEN_REST, targets)


def test_a_cluster_in_two_waves_is_an_error() -> None:
    plan = RolloutPlan(waves=(RolloutWave("a", ("x",)), RolloutWave("b", ("x",))))
    with pytest.raises(RolloutPlanError, match="cluster x is in waves a and b"):
        check_coverage(plan, ["x"])


names = st.lists(st.sampled_from("abcdefgh"), min_size=1, max_size=8, unique=True)


@given(
    clusters=names,
    split=st.integers(min_value=1, max_value=8),
    parallel=st.integers(min_value=1, max_value=4),
    states=st.lists(st.sampled_from(list(ClusterRollout)), min_size=8, max_size=8),
)
def test_never_exceeds_parallelism_and_never_starts_a_later_wave_early(
    clusters: list[str], split: int, parallel: int, states: list[ClusterRollout]
) -> None:
    first, second = tuple(clusters[:split]), tuple(clusters[split:])
    waves = [RolloutWave("one", first, max_parallel=parallel, failure_budget=8)]
    if second:
        waves.append(RolloutWave("two", second, max_parallel=parallel, failure_budget=8))
    plan = RolloutPlan(waves=tuple(waves))
    state = {c: ClusterProgress(s, finished_at=0.0) for c, s in zip(clusters, states, strict=False)}
    decision = plan_rollout(plan, state, 0.0)
    assert all(state.get(c, ClusterProgress()).state is P for c in decision.start)
    if decision.wave is not None and decision.start:
        wave = plan.waves[decision.wave]
        syncing = sum(state.get(c, ClusterProgress()).state is S for c in wave.clusters)
        assert syncing + len(decision.start) <= parallel
        assert set(decision.start) <= set(wave.clusters)
        earlier = [c for w in plan.waves[: decision.wave] for c in w.clusters]
        assert all(state.get(c, ClusterProgress()).state in (OK, F) for c in earlier)
