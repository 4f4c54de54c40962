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
    soak_end,
    wave_reports,
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


SOAKING = "wave canary soaking: it must stay healthy until its soak ends"

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
        "first wave healthy but soaking: wait until the soak ends, watching it",
        progress(dev_1=(OK, 90.0)),
        100.0,
        RolloutDecision(
            RolloutStatus.SOAKING, wave=0, wake_at=150.0, reason=SOAKING, watch=("dev-1",)
        ),
    ),
    (
        "soak over: the next wave starts, at most max_parallel at once",
        progress(dev_1=(OK, 90.0)),
        150.0,
        RolloutDecision(RolloutStatus.PROGRESSING, start=("prod-1", "prod-2"), wave=1),
    ),
    (
        "one slot frees up: one more cluster starts; the one done is watched",
        progress(dev_1=(OK, 0.0), prod_1=(OK, 200.0), prod_2=S),
        300.0,
        RolloutDecision(RolloutStatus.PROGRESSING, start=("prod-3",), wave=1, watch=("prod-1",)),
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
        "health lost during the soak counts like a failed sync, and says why",
        {"dev-1": ClusterProgress(F, 95.0, "turned Degraded during the soak")},
        100.0,
        RolloutDecision(
            RolloutStatus.HALTED,
            wave=0,
            reason="wave canary: 1 cluster(s) failed (dev-1 (turned Degraded during the soak)),"
            " over its failure budget of 0",
        ),
    ),
    (
        "every wave done (the last wave has no soak): complete",
        progress(dev_1=(OK, 0.0), prod_1=(OK, 1.0), prod_2=(F, 2.0), prod_3=(OK, 3.0)),
        3.0,
        RolloutDecision(RolloutStatus.COMPLETE),
    ),
    (
        "a cluster already at the revision (finished at 0) does not soak",
        progress(dev_1=(OK, 0.0)),
        100.0,
        RolloutDecision(RolloutStatus.PROGRESSING, start=("prod-1", "prod-2"), wave=1),
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


ROLLBACK_CASES = [
    (
        "every cluster that took the revision goes back, failed ones too",
        progress(dev_1=(OK, 0.0), prod_1=(OK, 1.0), prod_2=(F, 2.0), prod_3=(F, 3.0)),
        ("dev-1", "prod-1", "prod-2", "prod-3"),
    ),
    (
        "a cluster still syncing took it as well; a pending one did not",
        progress(dev_1=(OK, 0.0), prod_1=(F, 1.0), prod_2=(F, 2.0), prod_3=S),
        ("dev-1", "prod-1", "prod-2", "prod-3"),
    ),
    (
        "a canary that degraded during its soak: only the canary",
        {"dev-1": ClusterProgress(F, 5.0, "turned Degraded during the soak")},
        ("dev-1",),
    ),
]


@pytest.mark.parametrize(
    ("behaviour", "state", "expected"), ROLLBACK_CASES, ids=[c[0] for c in ROLLBACK_CASES]
)
def test_a_halt_with_rollback_names_who_goes_back(
    behaviour: str, state: dict[str, ClusterProgress], expected: tuple[str, ...]
) -> None:
    plan = RolloutPlan(waves=CANARY_THEN_REST.waves, rollback_on_halt=True)
    decision = plan_rollout(plan, state, 9.0)
    assert decision.status is RolloutStatus.HALTED
    assert decision.roll_back == expected


def test_a_halt_without_rollback_names_nobody() -> None:
    decision = plan_rollout(CANARY_THEN_REST, progress(dev_1=(F, 1.0)), 9.0)
    assert decision.status is RolloutStatus.HALTED
    assert decision.roll_back == ()


def test_the_last_wave_soaks_too_and_is_watched_until_then() -> None:
    plan = RolloutPlan(waves=(RolloutWave("only", ("a", "b"), soak_seconds=30),))
    state = progress(a=(OK, 10.0), b=(OK, 20.0))
    soaking = plan_rollout(plan, state, 25.0)
    assert (soaking.status, soaking.wake_at, soaking.watch) == (
        RolloutStatus.SOAKING,
        50.0,
        ("a", "b"),
    )
    assert plan_rollout(plan, state, 50.0) == RolloutDecision(RolloutStatus.COMPLETE)


def test_a_promoted_wave_skips_its_soak() -> None:
    state = progress(dev_1=(OK, 90.0))
    decision = plan_rollout(CANARY_THEN_REST, state, 100.0, promoted={"canary"})
    assert decision.status is RolloutStatus.PROGRESSING
    assert decision.start == ("prod-1", "prod-2")


def test_a_soak_ends_once_a_later_wave_started() -> None:
    state = progress(dev_1=(OK, 90.0), prod_1=S)
    assert soak_end(CANARY_THEN_REST, 0, state) is None
    assert soak_end(CANARY_THEN_REST, 0, progress(dev_1=(OK, 90.0))) == 150.0


def test_wave_reports_show_each_wave_its_soak_and_budget() -> None:
    state = {
        "dev-1": ClusterProgress(OK, 0.0),
        "prod-1": ClusterProgress(OK, 10.0),
        "prod-2": ClusterProgress(F, 12.0, "sync 4 failed"),
        "prod-3": ClusterProgress(S),
    }
    canary, rest = wave_reports(CANARY_THEN_REST, state, 20.0)
    assert (canary.done, canary.soak_left, canary.budget_used) == (("dev-1",), None, 0)
    assert rest.done == ("prod-1",)
    assert rest.in_progress == ("prod-3",)
    assert rest.failed == (("prod-2", "sync 4 failed"),)
    assert (rest.budget_used, rest.failure_budget) == (1, 1)
    soaking = wave_reports(CANARY_THEN_REST, progress(dev_1=(OK, 90.0)), 100.0)[0]
    assert soaking.soak_left == 50.0
    rest = wave_reports(CANARY_THEN_REST, progress(dev_1=(OK, 90.0)), 100.0)[1]
    assert rest.pending == ("prod-1", "prod-2", "prod-3")


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
