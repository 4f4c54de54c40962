"""A shard leader's link to the others: owned clusters, record exchange, peer status.

The records live in a simulated API server (optimistic concurrency as a real one); the
peers are real HTTP servers on loopback.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest
import yaml
from aiohttp import web

from fleet.adapters.git import Revision
from fleet.adapters.kube.connection import ClusterEndpoint
from fleet.adapters.kube.leases import LeaseClient
from fleet.adapters.kube.rollout_records import API_URL_ANNOTATION, CoordinationClient
from fleet.config import load_fleet_config
from fleet.config.high_availability import HaSettings
from fleet.engine.leadership import Create, next_record
from fleet.engine.rollout import ClusterProgress, ClusterRollout, RolloutPlan, RolloutWave
from fleet.engine.shards import ShardError
from fleet.runtime.leadership import Fence
from fleet.runtime.rollout_state import AppRollout
from fleet.runtime.shards import ShardLink, advertised_url, owned_clusters, shard_owners
from fleet.sim import SimFleet
from tests.support.gitservers import free_port

pytestmark = pytest.mark.anyio
OK = ClusterRollout.SUCCEEDED
SHARDS = {"eu": {"region": "eu"}, "us": {"region": "us"}}


def ha(shard: str, **extra: Any) -> HaSettings:
    return HaSettings.model_validate(
        {"lease": {"kubeconfig": "/k"}, "shards": SHARDS, "shard": shard, **extra}
    )


def fleet(tmp_path: Path, labels: dict[str, dict[str, str]]) -> Any:
    path = tmp_path / "fleet.yaml"
    (tmp_path / "token").write_text("t\n")
    clusters = [
        {"name": name, "server": "https://10.0.0.1:6443", "tokenFile": "token", "labels": value}
        for name, value in labels.items()
    ]
    app = {
        "name": "web",
        "source": "s",
        "path": "p",
        "namespace": "web",
        "clusters": {"names": list(labels)},
    }
    path.write_text(
        yaml.safe_dump(
            {
                "clusters": clusters,
                "sources": [{"name": "s", "url": "https://example.com/r.git", "branch": "main"}],
                "apps": [app],
            }
        )
    )
    return load_fleet_config(path)


def test_each_instance_owns_its_shard_s_clusters(tmp_path: Path) -> None:
    config = fleet(
        tmp_path, {"a1": {"region": "eu"}, "b1": {"region": "us"}, "a2": {"region": "eu"}}
    )
    assert owned_clusters(ha("eu"), config) == {"a1", "a2"}
    assert owned_clusters(ha("us"), config) == {"b1"}
    assert owned_clusters(None, config) is None
    assert shard_owners(ha("us"), config) == {"a1": "eu", "b1": "us", "a2": "eu"}


def test_a_cluster_no_shard_selects_stops_every_instance_alike(tmp_path: Path) -> None:
    config = fleet(tmp_path, {"a1": {"region": "eu"}, "x": {"region": "asia"}})
    for shard in ("eu", "us"):
        with pytest.raises(ShardError, match="cluster x \\(region=asia\\) is selected by no shard"):
            owned_clusters(ha(shard), config)


@pytest.mark.parametrize(
    ("address", "extra", "url"),
    [
        ("127.0.0.1:8787", {}, "http://127.0.0.1:8787"),
        ("[::1]:9000", {}, "http://[::1]:9000"),
        ("unix:/run/fleet.sock", {}, ""),
        (
            "127.0.0.1:8787",
            {"advertise_url": "https://fleet-eu.example.com/"},
            "https://fleet-eu.example.com",
        ),
    ],
)
def test_the_advertised_url(address: str, extra: dict[str, str], url: str) -> None:
    assert advertised_url(ha("eu", **extra), address) == url


@pytest.fixture
async def endpoint(tmp_path: Path) -> AsyncIterator[ClusterEndpoint]:
    async with SimFleet.start(tmp_path / "sim", names=["home"], controllers=False) as sim:
        yield ClusterEndpoint("home", kubeconfig=sim.kubeconfig_path, context="home")


def rollout() -> AppRollout:
    plan = RolloutPlan(
        waves=(
            RolloutWave("first", ("a1", "b1"), soak_seconds=5.0),
            RolloutWave("rest", ("a2", "b2")),
        )
    )
    state = AppRollout(app="web", plan=plan, workers={}, automated=True)
    state.revision = Revision(
        sha="c" * 40,
        tree="t" * 40,
        ref="refs/heads/main",
        message="m",
        author="A <a@example.com>",
        committed_at=dt.datetime.now(dt.UTC),
    )
    return state


async def test_two_links_exchange_their_clusters_progress(endpoint: ClusterEndpoint) -> None:
    steps: list[str] = []
    async with (
        await CoordinationClient.connect(endpoint, "default") as eu_client,
        await CoordinationClient.connect(endpoint, "default") as us_client,
    ):
        eu = ShardLink(ha("eu"), eu_client, Fence(unbounded=True))
        us = ShardLink(ha("us"), us_client, Fence(unbounded=True))
        eu_state, us_state = rollout(), rollout()
        eu_state.progress["a1"] = ClusterProgress(OK, 100.0)
        us_state.progress["b1"] = ClusterProgress(ClusterRollout.SYNCING)
        us_state.promoted.add("first")
        await eu.exchange(eu_state, frozenset({"a1", "a2"}), lambda r: steps.append("eu"))
        await us.exchange(us_state, frozenset({"b1", "b2"}), lambda r: steps.append("us"))
        await eu.exchange(eu_state, frozenset({"a1", "a2"}), lambda r: steps.append("eu"))
        # Each has the other's clusters; neither wrote over the other's.
        assert us_state.progress["a1"] == ClusterProgress(OK, 100.0)
        assert eu_state.progress["b1"] == ClusterProgress(ClusterRollout.SYNCING)
        assert eu_state.progress["a1"] == ClusterProgress(OK, 100.0)
        assert eu_state.promoted == {"first"}
        assert steps == ["us", "eu"]
        # Nothing moved: no write, no step.
        await eu.exchange(eu_state, frozenset({"a1", "a2"}), lambda r: steps.append("eu"))
        assert steps == ["us", "eu"]
        # A new leader of eu (a takeover) counts a1 done "at 0": the record knows better.
        restarted = rollout()
        restarted.progress["a1"] = ClusterProgress(OK, 0.0)
        await eu.exchange(restarted, frozenset({"a1", "a2"}), lambda r: None)
        assert restarted.progress["a1"] == ClusterProgress(OK, 100.0)
        # A deposed leader writes nothing.
        eu_state.progress["a2"] = ClusterProgress(ClusterRollout.SYNCING)
        fenced = ShardLink(ha("eu"), eu_client, Fence())
        from fleet.runtime.leadership import NotLeader

        with pytest.raises(NotLeader):
            await fenced.exchange(eu_state, frozenset({"a1", "a2"}), lambda r: None)


async def test_peer_status_merges_answers_and_never_hangs(
    endpoint: ClusterEndpoint, tmp_path: Path
) -> None:
    config = fleet(tmp_path, {"a1": {"region": "eu"}, "b1": {"region": "us"}})
    owners = {"a1": "eu", "b1": "us"}
    seen_headers: list[str] = []

    async def status(request: web.Request) -> web.Response:
        seen_headers.append(request.headers.get("Authorization", ""))
        assert request.query.get("scope") == "local"
        if hang["on"]:
            await release.wait()
        return web.json_response([{"app": "web", "cluster": "b1", "sync": "Synced", "message": ""}])

    hang = {"on": False}
    release = anyio.Event()
    peer = web.Application()
    peer.router.add_get("/api/v1/status", status)
    runner = web.AppRunner(peer)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    token = tmp_path / "peer-token"
    token.write_text("s3cret\n")
    try:
        async with await CoordinationClient.connect(endpoint, "default") as client:
            link = ShardLink(ha("eu", peer_token_file=str(token)), client, Fence(unbounded=True))
            # Nobody leads shard us yet.
            await link._find_peers()
            rows = await link.peer_rows(config, owners)
            assert [(r["cluster"], r["sync"], r["shard"]) for r in rows] == [
                ("b1", "Unknown", "us")
            ]
            assert rows[0]["message"] == "shard us: no instance leads this shard"
            # Its leader advertises its URL: its rows come in, tagged with the shard.
            async with await LeaseClient.connect(endpoint, "default", "fleet-leader-us") as lease:
                lease.annotations = {API_URL_ANNOTATION: f"http://127.0.0.1:{port}"}
                await lease.write(
                    next_record(None, Create(), "host-us", 1_700_000_000.0, 15.0), 5.0
                )
            await link._find_peers()
            rows = await link.peer_rows(config, owners)
            assert [(r["cluster"], r["sync"], r["shard"]) for r in rows] == [("b1", "Synced", "us")]
            assert seen_headers == ["Bearer s3cret"]
            # A peer that hangs: Unknown within the timeout, naming shard and leader.
            hang["on"] = True
            started = anyio.current_time()
            rows = await link.peer_rows(config, owners)
            assert anyio.current_time() - started < 10
            assert rows[0]["sync"] == "Unknown"
            assert "shard us: its leader host-us cannot be reached" in rows[0]["message"]
    finally:
        release.set()
        await runner.cleanup()


class CountingCoordination:
    """Stands in for the coordination cluster: counts the rounds of the link's loop."""

    def __init__(self) -> None:
        self.rounds = 0

    async def peer(self, shard: str, lease: str, timeout: float) -> Any:  # noqa: ASYNC109
        from fleet.adapters.kube.rollout_records import PeerAddress

        self.rounds += 1
        return PeerAddress(shard, "", "")


@pytest.mark.parametrize(("interval", "least", "most"), [("100ms", 6, 12), ("1s", 1, 2)])
async def test_the_link_exchanges_every_shard_sync_interval(
    interval: str, least: int, most: int
) -> None:
    coordination = CountingCoordination()
    link = ShardLink(
        ha("eu", shard_sync_interval=interval),
        coordination,  # type: ignore[arg-type]
        Fence(unbounded=True),
    )
    with anyio.move_on_after(1.05):
        await link.run({}, frozenset, lambda r: None)
    assert least <= coordination.rounds <= most, coordination.rounds
