"""The leader Lease client against an API server: create, renew, conflicts, MicroTime."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from fleet.adapters.kube.connection import ClusterEndpoint
from fleet.adapters.kube.leases import LeaseClient, LeaseConflict, LeaseError, micro_time
from fleet.engine.leadership import Create, LeaseRecord, Renew, next_record
from fleet.sim import SimFleet

pytestmark = pytest.mark.anyio


@pytest.fixture
async def sim(tmp_path: Path) -> AsyncIterator[SimFleet]:
    async with SimFleet.start(tmp_path / "sim", names=["one"], controllers=False) as fleet:
        yield fleet


@pytest.fixture
async def leases(sim: SimFleet) -> AsyncIterator[LeaseClient]:
    endpoint = ClusterEndpoint("one", kubeconfig=sim.kubeconfig_path, context="one")
    async with await LeaseClient.connect(endpoint, "default", "fleet-leader") as client:
        yield client


def test_micro_time_keeps_six_digits_even_on_a_whole_second() -> None:
    assert micro_time(1_700_000_000.0) == "2023-11-14T22:13:20.000000Z"
    assert micro_time(1_700_000_000.25) == "2023-11-14T22:13:20.250000Z"


async def test_create_renew_and_read_back(leases: LeaseClient) -> None:
    assert await leases.read(5.0) is None
    wanted = next_record(None, Create(), "host-a-1", 1_700_000_000.0, 15.0)
    created = await leases.write(wanted, 5.0)
    assert created.holder == "host-a-1"
    assert created.resource_version
    assert created.renew_time == pytest.approx(1_700_000_000.0)
    renewed = await leases.write(
        next_record(created, Renew(), "host-a-1", 1_700_000_002.5, 15.0), 5.0
    )
    read = await leases.read(5.0)
    assert read == renewed
    assert read is not None
    assert (read.renew_time, read.acquire_time) == (
        pytest.approx(1_700_000_002.5),
        pytest.approx(1_700_000_000.0),
    )
    assert read.resource_version != created.resource_version


async def test_a_write_from_a_stale_read_is_a_conflict(leases: LeaseClient) -> None:
    created = await leases.write(next_record(None, Create(), "a", 1_700_000_000.0, 15.0), 5.0)
    await leases.write(next_record(created, Renew(), "a", 1_700_000_001.0, 15.0), 5.0)
    stale = LeaseRecord("b", 15.0, 1.0, 1_700_000_002.0, 1, created.resource_version)
    with pytest.raises(LeaseConflict):
        await leases.write(stale, 5.0)
    # Two creations: the second finds the Lease exists.
    with pytest.raises(LeaseConflict):
        await leases.write(next_record(None, Create(), "b", 1_700_000_003.0, 15.0), 5.0)


async def test_an_unreachable_server_is_a_lease_error_without_credentials(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("very-secret-token\n")
    endpoint = ClusterEndpoint("gone", server="http://127.0.0.1:9", token_file=token)
    async with await LeaseClient.connect(endpoint, "default", "fleet-leader") as client:
        with pytest.raises(LeaseError) as caught:
            await client.read(2.0)
    assert "Lease default/fleet-leader" in str(caught.value)
    assert "very-secret-token" not in str(caught.value)
