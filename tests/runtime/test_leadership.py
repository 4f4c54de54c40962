"""Leader election on an API server, a partitioned leader's fence, and a fenced executor.

Two electors share one simulated cluster's Lease (real HTTP, the real kubernetes_asyncio
client). Short durations keep the tests quick; the rules are the same at 15/10/2 s.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import anyio
import pytest
import yaml

from fleet.adapters.kube.client import ClusterClient
from fleet.adapters.kube.connection import ClusterEndpoint
from fleet.adapters.kube.leases import LeaseClient
from fleet.engine import SyncOptions
from fleet.model.manifests import Manifest
from fleet.runtime.clusters import ClusterRuntime
from fleet.runtime.executor import SyncExecutor, SyncJob
from fleet.runtime.leadership import Fence, LeaderElector, NotLeader, Timings
from fleet.sim import SimFleet
from tests.runtime.test_executor import RecordingJournal, config_map, fleet_writes
from tests.support.tcpproxy import tcp_proxy

pytestmark = pytest.mark.anyio

TIMINGS = Timings(lease_duration=3.0, renew_deadline=2.0, retry_period=0.25)


@pytest.fixture
async def sim(tmp_path: Path) -> AsyncIterator[SimFleet]:
    async with SimFleet.start(tmp_path / "sim", names=["one"], controllers=False) as fleet:
        yield fleet


def endpoint(sim: SimFleet) -> ClusterEndpoint:
    return ClusterEndpoint("one", kubeconfig=sim.kubeconfig_path, context="one")


@asynccontextmanager
async def elector(ep: ClusterEndpoint, identity: str) -> AsyncIterator[LeaderElector]:
    async with await LeaseClient.connect(ep, "default", "fleet-test") as leases:
        yield LeaderElector(leases, identity, TIMINGS, Fence())


async def test_one_leads_and_the_other_takes_over_once_renewals_stop(sim: SimFleet) -> None:
    async with elector(endpoint(sim), "a") as a, elector(endpoint(sim), "b") as b:
        await a.acquire()
        assert a.fence.refusal() is None
        assert await b.try_once(2.0) is False
        assert b.leader == "a"
        assert b.fence.refusal() == "this instance does not hold the leader lease"
        took: list[float] = []
        async with anyio.create_task_group() as tasks:
            holding = anyio.CancelScope()

            async def hold() -> None:
                with holding:
                    await a.hold()

            async def take() -> None:
                await b.acquire()
                took.append(time.monotonic())

            tasks.start_soon(hold)
            tasks.start_soon(take)
            await anyio.sleep(TIMINGS.lease_duration * 1.5)
            assert not took, "b must not take a lease that a renews"
            holding.cancel()  # a dies: no renewal from now on
            stopped = time.monotonic()
        waited = took[0] - stopped
        print(f"standby took over {waited:.2f}s after the last renewal stopped")
        # It waits out leaseDuration from the last renewal it saw, and not much longer.
        assert TIMINGS.lease_duration - 2 * TIMINGS.retry_period <= waited
        assert waited <= TIMINGS.lease_duration + 4 * TIMINGS.retry_period
        record = await b.leases.read(2.0)
        assert record is not None
        assert (record.holder, record.transitions, record.lease_duration) == ("b", 1, 3.0)


async def test_a_released_lease_is_taken_at_once(sim: SimFleet) -> None:
    async with elector(endpoint(sim), "a") as a, elector(endpoint(sim), "b") as b:
        await a.acquire()
        await a.release()
        assert a.fence.refusal() is not None
        started = time.monotonic()
        await b.acquire()
        assert time.monotonic() - started < TIMINGS.lease_duration / 2


def proxied_kubeconfig(sim: SimFleet, port: int, path: Path) -> Path:
    doc: Any = yaml.safe_load(sim.kubeconfig_path.read_text())
    for entry in doc["clusters"]:
        server = urlsplit(entry["cluster"]["server"])
        entry["cluster"]["server"] = f"{server.scheme}://127.0.0.1:{port}"
    path.write_text(yaml.safe_dump(doc))
    return path


async def test_a_partitioned_leader_stops_writing_before_anyone_can_take_over(
    sim: SimFleet, tmp_path: Path
) -> None:
    server = urlsplit(
        yaml.safe_load(sim.kubeconfig_path.read_text())["clusters"][0]["cluster"]["server"]
    )
    assert server.hostname is not None
    assert server.port is not None
    async with tcp_proxy(server.hostname, server.port) as proxy:
        cut_off = ClusterEndpoint(
            "one", kubeconfig=proxied_kubeconfig(sim, proxy.port, tmp_path / "kc"), context="one"
        )
        async with elector(cut_off, "a") as a, elector(endpoint(sim), "b") as b:
            await a.acquire()
            marks: dict[str, float] = {}
            async with anyio.create_task_group() as tasks:

                async def hold() -> None:
                    marks["reason"] = 0.0
                    reason = await a.hold()
                    marks["deposed"] = time.monotonic()
                    assert "renew_deadline" in reason

                async def take() -> None:
                    await b.acquire()
                    marks["taken"] = time.monotonic()

                async def watch_fence() -> None:
                    while a.fence.refusal() is None:  # noqa: ASYNC110 (a clock, not an event)
                        await anyio.sleep(0.01)
                    marks["fenced"] = time.monotonic()

                tasks.start_soon(hold)
                await anyio.sleep(1.0)
                assert a.fence.refusal() is None
                proxy.cut()
                marks["cut"] = time.monotonic()
                tasks.start_soon(watch_fence)
                tasks.start_soon(take)
                with anyio.fail_after(TIMINGS.lease_duration * 4):
                    while "taken" not in marks or "deposed" not in marks:  # noqa: ASYNC110
                        await anyio.sleep(0.05)
                proxy.heal()
    fenced = marks["fenced"] - marks["cut"]
    margin = marks["taken"] - marks["fenced"]
    print(f"partitioned leader fenced {fenced:.2f}s after the cut; b took over {margin:.2f}s later")
    assert fenced <= TIMINGS.renew_deadline + 0.1
    assert margin > 0.5, "the old leader must stop writing well before the new one starts"
    assert marks["deposed"] <= marks["taken"]


async def test_a_fenced_executor_starts_no_write(sim: SimFleet) -> None:
    fence = Fence()  # never acquired: a standby, or a leader whose term ended
    async with (
        await ClusterClient.connect(endpoint(sim)) as client,
        anyio.create_task_group() as tasks,
    ):
        runtime = ClusterRuntime(client, tasks)
        runtime.ensure_kinds([("v1", "ConfigMap")])
        assert await runtime.wait_listed([("v1", "ConfigMap")], 10)
        job = SyncJob(
            app="web",
            cluster="one",
            revision="c0ffee",
            desired=[Manifest.from_body(config_map("one", "default"))],
            inventory=frozenset(),
            options=SyncOptions(),
        )
        before = fleet_writes(sim)
        with pytest.raises(NotLeader, match="does not hold the leader lease"):
            await SyncExecutor(job, client, runtime.cache, RecordingJournal(), fence=fence).run()
        assert fleet_writes(sim) == before, "no write may reach the cluster"
        assert fence.refused == 1
        # The same job inside a term goes through.
        fence.extend(time.monotonic(), 10.0)
        verdict = await SyncExecutor(
            job, client, runtime.cache, RecordingJournal(), fence=fence
        ).run()
        assert type(verdict).__name__ == "Succeeded"
        assert fleet_writes(sim) > before
        runtime.stop()
        tasks.cancel_scope.cancel()


async def test_a_term_ending_inside_a_write_batch_interrupts_the_sync_as_not_leader(
    sim: SimFleet,
) -> None:
    """The batch starts inside the term; its actions' own checks find it over. The sync
    must end as NotLeader (history: Interrupted), not as an exception group (a bug)."""
    readings = iter([0.0])  # the batch's check: inside the term; every later one: past it
    fence = Fence(valid_until=100.0, clock=lambda: next(readings, 200.0))
    async with (
        await ClusterClient.connect(endpoint(sim)) as client,
        anyio.create_task_group() as tasks,
    ):
        runtime = ClusterRuntime(client, tasks)
        runtime.ensure_kinds([("v1", "ConfigMap")])
        assert await runtime.wait_listed([("v1", "ConfigMap")], 10)
        job = SyncJob(
            app="web",
            cluster="one",
            revision="c0ffee",
            desired=[
                Manifest.from_body(config_map("first", "default")),
                Manifest.from_body(config_map("second", "default")),
            ],
            inventory=frozenset(),
            options=SyncOptions(),
        )
        before = fleet_writes(sim)
        with pytest.raises(NotLeader, match="not renewed in time"):
            await SyncExecutor(job, client, runtime.cache, RecordingJournal(), fence=fence).run()
        assert fleet_writes(sim) == before, "no write may reach the cluster"
        assert fence.refused == 2, "each action checked the term itself"
        runtime.stop()
        tasks.cancel_scope.cancel()


async def test_a_daemon_error_while_leading_is_raised_as_itself_and_the_lease_released(
    sim: SimFleet,
) -> None:
    from fleet.config.high_availability import HaSettings
    from fleet.runtime.high_availability import HighAvailability

    ha = HaSettings(
        lease={"cluster": "one", "name": "fleet-test"},
        identity="a",
        lease_duration="3s",
        renew_deadline="2s",
        retry_period="250ms",
    )
    async with await LeaseClient.connect(endpoint(sim), "default", "fleet-test") as leases:
        wired = HighAvailability(ha, leases, None)
        await wired.elector.acquire()

        async def broken_daemon() -> None:
            raise ValueError("a bad fleet config")

        with pytest.raises(ValueError, match="a bad fleet config"):
            await wired.lead(broken_daemon)
        record = await leases.read(2.0)
        assert record is not None
        assert record.holder == "", "a standby may take over at once"
        assert wired.fence.refusal() is not None
