"""Shards: cluster ownership by label, and a rollout's waves across shards, as tables."""

from __future__ import annotations

import pytest

from fleet.engine.rollout import (
    ClusterProgress,
    ClusterRollout,
    RolloutPlan,
    RolloutStatus,
    RolloutWave,
    plan_rollout,
)
from fleet.engine.shards import (
    RecordFormatError,
    RolloutRecord,
    ShardError,
    SharedProgress,
    WaveStart,
    assign_clusters,
    own_starts,
    record_from_json,
    record_to_json,
    recovered_progress,
    remote_progress,
    updated_record,
    waves_started,
)

P, S, OK, F = (
    ClusterRollout.PENDING,
    ClusterRollout.SYNCING,
    ClusterRollout.SUCCEEDED,
    ClusterRollout.FAILED,
)
SHARDS = {"eu": {"region": "eu"}, "us": {"region": "us"}}


@pytest.mark.parametrize(
    ("clusters", "owners"),
    [
        ({"a": {"region": "eu"}, "b": {"region": "us"}}, {"a": "eu", "b": "us"}),
        ({"a": {"region": "eu", "env": "prod"}}, {"a": "eu"}),
        ({}, {}),
    ],
)
def test_every_cluster_has_one_owner(
    clusters: dict[str, dict[str, str]], owners: dict[str, str]
) -> None:
    assert assign_clusters(SHARDS, clusters) == owners


@pytest.mark.parametrize(
    ("shards", "clusters", "messages"),
    [
        (SHARDS, {"a": {"region": "asia"}}, ["cluster a (region=asia) is selected by no shard"]),
        (SHARDS, {"a": {}}, ["cluster a (no labels) is selected by no shard"]),
        (
            {"eu": {"region": "eu"}, "prod": {"env": "prod"}},
            {"a": {"region": "eu", "env": "prod"}, "b": {"env": "dev"}},
            ["cluster a is selected by shards eu and prod", "cluster b (env=dev)"],
        ),
    ],
)
def test_a_cluster_owned_by_none_or_two_is_refused(
    shards: dict[str, dict[str, str]], clusters: dict[str, dict[str, str]], messages: list[str]
) -> None:
    with pytest.raises(ShardError) as raised:
        assign_clusters(shards, clusters)
    for message in messages:
        assert message in str(raised.value)


#: Two waves across two shards: eu owns a1 (wave 1) and a2 (wave 2), us owns b1 and b2.
PLAN = RolloutPlan(
    waves=(
        RolloutWave("first", ("a1", "b1"), soak_seconds=60.0),
        RolloutWave("second", ("a2", "b2")),
    )
)
EU, US = {"a1", "a2"}, {"b1", "b2"}


def progress(**states: tuple[ClusterRollout, float | None]) -> dict[str, ClusterProgress]:
    return {c: ClusterProgress(state, at) for c, (state, at) in states.items()}


@pytest.mark.parametrize(
    ("local_eu", "local_us", "now", "eu_starts", "us_starts", "status"),
    [
        # Nothing done anywhere: both shards start their own first-wave cluster.
        ({}, {}, 0.0, ("a1",), ("b1",), RolloutStatus.PROGRESSING),
        # eu's first-wave cluster is done, us's still syncing: nobody goes on.
        (progress(a1=(OK, 10.0)), progress(b1=(S, None)), 20.0, (), (), RolloutStatus.PROGRESSING),
        # Both done, soaking until 20 + 60: wave two waits on both shards.
        (progress(a1=(OK, 10.0)), progress(b1=(OK, 20.0)), 50.0, (), (), RolloutStatus.SOAKING),
        # Soaked: each shard starts its own second-wave cluster.
        (
            progress(a1=(OK, 10.0)),
            progress(b1=(OK, 20.0)),
            81.0,
            ("a2",),
            ("b2",),
            RolloutStatus.PROGRESSING,
        ),
        # A first-wave failure on us halts the rollout on eu too.
        (progress(a1=(OK, 10.0)), progress(b1=(F, 20.0)), 81.0, (), (), RolloutStatus.HALTED),
    ],
)
def test_waves_spanning_shards_stay_ordered(
    local_eu: dict[str, ClusterProgress],
    local_us: dict[str, ClusterProgress],
    now: float,
    eu_starts: tuple[str, ...],
    us_starts: tuple[str, ...],
    status: RolloutStatus,
) -> None:
    """Each shard writes its own clusters into the record, plans over the merged record,
    and releases only what it owns: both reach the same decision."""
    record = updated_record(None, app="web", revision="r1", shard="eu", local=local_eu, now=0.0)
    record = (
        updated_record(record, app="web", revision="r1", shard="us", local=local_us, now=0.0)
        or record
    )
    decisions = {}
    for shard, owned, local in (("eu", EU, local_eu), ("us", US, local_us)):
        merged = {**remote_progress(record, owned), **local}
        decisions[shard] = plan_rollout(PLAN, merged, now)
    assert decisions["eu"].status is decisions["us"].status is status
    assert own_starts(decisions["eu"].start, EU) == eu_starts
    assert own_starts(decisions["us"].start, US) == us_starts


def test_a_wave_is_recorded_started_once_by_the_first_shard() -> None:
    first = updated_record(
        None, app="web", revision="r1", shard="eu", local={}, started_waves=["first"], now=5.0
    )
    assert first is not None
    second = updated_record(
        first, app="web", revision="r1", shard="us", local={}, started_waves=["first"], now=9.0
    )
    assert second is None  # nothing to write: the wave was already recorded by eu
    assert first.waves == {"first": WaveStart(5.0, "eu")}


def test_a_shard_writes_only_when_something_changed() -> None:
    local = progress(a1=(OK, 10.0))
    record = updated_record(None, app="web", revision="r1", shard="eu", local=local, now=0.0)
    assert record is not None
    assert record.clusters["a1"] == SharedProgress("eu", OK, 10.0)
    assert (
        updated_record(record, app="web", revision="r1", shard="eu", local=local, now=1.0) is None
    )
    promoted = updated_record(
        record, app="web", revision="r1", shard="us", local={}, promoted={"first"}, now=1.0
    )
    assert promoted is not None
    assert promoted.promoted == {"first"}


def test_a_record_of_another_revision_is_never_merged() -> None:
    record = RolloutRecord(app="web", revision="r1")
    with pytest.raises(RecordFormatError, match="about web at r1"):
        updated_record(record, app="web", revision="r2", shard="eu", local={}, now=0.0)


def test_waves_started_are_those_with_an_own_cluster_under_way() -> None:
    local = progress(a1=(OK, 1.0), a2=(P, None))
    assert waves_started(PLAN, local, EU) == ("first",)
    assert waves_started(PLAN, progress(b2=(S, None)), US) == ("second",)
    assert waves_started(PLAN, progress(b2=(S, None)), EU) == ()


def test_the_record_round_trips_through_json() -> None:
    record = RolloutRecord(
        app="web",
        revision="abc",
        clusters={
            "a1": SharedProgress("eu", F, 3.5, "sync 4 failed"),
            "b1": SharedProgress("us", S),
        },
        waves={"first": WaveStart(2.0, "eu")},
        promoted=frozenset({"first"}),
    )
    assert record_from_json(record_to_json(record)) == record


@pytest.mark.parametrize(
    "text",
    [
        "",
        "[]",
        '{"app": "web"}',
        '{"app":"w","revision":"r","clusters":{"a":{"shard":"x","state":"Bogus"}}}',
    ],
)
def test_an_unreadable_record_is_a_clear_error(text: str) -> None:
    with pytest.raises(RecordFormatError, match="unreadable rollout record"):
        record_from_json(text)


def test_a_new_leader_takes_back_when_its_clusters_really_finished() -> None:
    record = updated_record(
        None,
        app="web",
        revision="r1",
        shard="eu",
        local=progress(a1=(OK, 100.0), a2=(F, 90.0)),
        now=0.0,
    )
    # After a takeover, memory says a1 and a2 are done "at 0" (already at the revision).
    restarted = progress(a1=(OK, 0.0), a2=(OK, 0.0))
    assert recovered_progress(record, restarted, EU) == {"a1": ClusterProgress(OK, 100.0)}
    assert recovered_progress(record, restarted, US) == {}
    assert recovered_progress(None, restarted, EU) == {}
    # A cluster that really finished now keeps its own time.
    assert recovered_progress(record, progress(a1=(OK, 150.0)), EU) == {}
