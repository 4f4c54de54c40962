"""Shared rollout records and peer addresses, against the simulated API server.

The simulator serves ConfigMaps and Leases with resourceVersion preconditions as a real
API server does, so these are the races two shards run: the second writer of one read
gets a 409, reads again, and writes both shards' progress.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest

from fleet.adapters.kube.connection import ClusterEndpoint
from fleet.adapters.kube.leases import LeaseClient
from fleet.adapters.kube.rollout_records import (
    API_URL_ANNOTATION,
    CoordinationClient,
    RecordConflict,
    RecordError,
    record_name,
)
from fleet.engine.leadership import Create, next_record
from fleet.engine.rollout import ClusterProgress, ClusterRollout
from fleet.engine.shards import updated_record
from fleet.sim import SimFleet

pytestmark = pytest.mark.anyio
OK = ClusterRollout.SUCCEEDED


@pytest.fixture
async def sim(tmp_path: Path) -> AsyncIterator[SimFleet]:
    async with SimFleet.start(tmp_path / "sim", names=["home"], controllers=False) as fleet:
        yield fleet


@pytest.fixture
def endpoint(sim: SimFleet) -> ClusterEndpoint:
    return ClusterEndpoint("home", kubeconfig=sim.kubeconfig_path, context="home")


def test_record_names_are_valid_and_stable() -> None:
    assert record_name("web", "ABCDEF0123456789") == "fleet-rollout-web-abcdef012345"
    odd = record_name("Web_App", "abc")
    assert odd == record_name("Web_App", "abc")
    assert odd != record_name("web-app", "abc")
    assert odd.startswith("fleet-rollout-web-app-")


async def test_two_shards_racing_both_land(endpoint: ClusterEndpoint) -> None:
    async with (
        await CoordinationClient.connect(endpoint, "default") as eu,
        await CoordinationClient.connect(endpoint, "default") as us,
    ):
        assert await eu.read("web", "r1", 5.0) is None
        first = updated_record(
            None,
            app="web",
            revision="r1",
            shard="eu",
            local={"a1": ClusterProgress(OK, 10.0)},
            now=1.0,
        )
        assert first is not None
        created = await eu.write(first, "", 5.0)
        # Both read the same version, both write: the second is refused.
        seen_eu, seen_us = await eu.read("web", "r1", 5.0), await us.read("web", "r1", 5.0)
        assert seen_eu == seen_us == created
        assert seen_eu is not None
        assert seen_us is not None
        eu_change = updated_record(
            seen_eu.record,
            app="web",
            revision="r1",
            shard="eu",
            local={},
            promoted={"first"},
            now=2.0,
        )
        us_change = updated_record(
            seen_us.record,
            app="web",
            revision="r1",
            shard="us",
            local={"b1": ClusterProgress(OK, 11.0)},
            now=2.0,
        )
        assert eu_change is not None
        assert us_change is not None
        await eu.write(eu_change, seen_eu.resource_version, 5.0)
        with pytest.raises(RecordConflict):
            await us.write(us_change, seen_us.resource_version, 5.0)
        # Read again, decide again: nothing of eu's write is lost.
        again = await us.read("web", "r1", 5.0)
        assert again is not None
        retry = updated_record(
            again.record,
            app="web",
            revision="r1",
            shard="us",
            local={"b1": ClusterProgress(OK, 11.0)},
            now=3.0,
        )
        assert retry is not None
        await us.write(retry, again.resource_version, 5.0)
        final = await eu.read("web", "r1", 5.0)
        assert final is not None
        assert {c: p.shard for c, p in final.record.clusters.items()} == {"a1": "eu", "b1": "us"}
        assert final.record.promoted == {"first"}
        # A second creation of the same record is a conflict too.
        with pytest.raises(RecordConflict):
            await us.write(first, "", 5.0)


async def test_many_concurrent_writers_never_lose_an_update(endpoint: ClusterEndpoint) -> None:
    """Ten shards, each retrying on 409 as the runtime does: all ten entries land."""

    async def shard(index: int) -> None:
        async with await CoordinationClient.connect(endpoint, "default") as client:
            while True:
                stored = await client.read("web", "r2", 5.0)
                change = updated_record(
                    stored.record if stored else None,
                    app="web",
                    revision="r2",
                    shard=f"s{index}",
                    local={f"c{index}": ClusterProgress(OK, float(index))},
                    now=0.0,
                )
                assert change is not None
                try:
                    await client.write(change, stored.resource_version if stored else "", 5.0)
                    return
                except RecordConflict:
                    continue

    async with anyio.create_task_group() as tasks:
        for index in range(10):
            tasks.start_soon(shard, index)
    async with await CoordinationClient.connect(endpoint, "default") as client:
        final = await client.read("web", "r2", 5.0)
    assert final is not None
    assert sorted(final.record.clusters) == sorted(f"c{i}" for i in range(10))


async def test_a_leader_advertises_its_api_url_on_its_lease(endpoint: ClusterEndpoint) -> None:
    async with await LeaseClient.connect(endpoint, "default", "fleet-leader-eu") as leases:
        leases.annotations = {API_URL_ANNOTATION: "http://127.0.0.1:8123"}
        await leases.write(next_record(None, Create(), "host-a", 1_700_000_000.0, 15.0), 5.0)
    async with await CoordinationClient.connect(endpoint, "default") as client:
        peer = await client.peer("eu", "fleet-leader-eu", 5.0)
        absent = await client.peer("us", "fleet-leader-us", 5.0)
    assert (peer.holder, peer.api_url) == ("host-a", "http://127.0.0.1:8123")
    assert (absent.holder, absent.api_url) == ("", "")


async def test_a_foreign_config_map_under_the_name_is_refused(endpoint: ClusterEndpoint) -> None:
    from kubernetes_asyncio import client as kube

    async with await CoordinationClient.connect(endpoint, "default") as client:
        await kube.CoreV1Api(client._api).create_namespaced_config_map(
            "default",
            {"metadata": {"name": record_name("web", "r3")}, "data": {"record": "not json"}},
        )
        with pytest.raises(RecordError, match="unreadable rollout record"):
            await client.read("web", "r3", 5.0)


async def test_old_records_of_an_app_are_pruned_others_kept(endpoint: ClusterEndpoint) -> None:
    async with await CoordinationClient.connect(endpoint, "default") as client:
        for revision in ("r1", "r2", "r3", "r4"):
            record = updated_record(
                None, app="web", revision=revision, shard="eu", local={}, now=0.0
            )
            assert record is not None
            await client.write(record, "", 5.0)
            await anyio.sleep(1.1)  # creationTimestamp has whole seconds
        other = updated_record(None, app="api", revision="r1", shard="eu", local={}, now=0.0)
        assert other is not None
        await client.write(other, "", 5.0)
        deleted = await client.prune("web", 2, 5.0)
        assert sorted(deleted) == [record_name("web", "r1"), record_name("web", "r2")]
        assert await client.read("web", "r1", 5.0) is None
        assert await client.read("web", "r4", 5.0) is not None
        assert await client.read("api", "r1", 5.0) is not None
