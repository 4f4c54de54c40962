"""Shards end to end: two ``fleet run`` processes, each leading its own shard of clusters.

The clusters the ``clusters`` fixture gives (three by default) alternate between shards
``a`` and ``b`` (a ``shard`` label added to the test's fleet config); both shards'
Leases and the shared rollout records live in the first cluster's ``default``
namespace, so this runs unchanged on real clusters. The rollout's first wave holds one
cluster of each shard, with a soak; the second wave the rest (shard ``a``'s third
cluster): each shard must wait for the other's first-wave cluster to be synced, healthy
and soaked, which it learns only from the record in the coordination cluster. With two
clusters, the first wave is shard ``a``'s and the second shard ``b``'s.

- the seed and a later release roll out in wave order across the shards (history
  timestamps of both instances: the second wave starts after the first wave's soak);
- each instance syncs only its shard's clusters;
- ``fleet status`` on either instance shows every cluster, with its shard;
- with shard ``b`` stopped, ``a``'s status shows ``b``'s clusters Unknown, naming the
  shard, at once.
"""

from __future__ import annotations

import contextlib
import copy
import signal
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import anyio
import pytest

from fleet.adapters.kube.rollout_records import record_name
from tests.e2e.conftest import ClusterHandle
from tests.e2e.daemon_support import JSON, FleetDaemon, World, eventually, world

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

SOAK = 3.0
QUICK = {"lease_duration": "6s", "renew_deadline": "4s", "retry_period": "500ms"}


@pytest.fixture(params=[2, 3], ids=["2-clusters", "3-clusters"])
def cluster_count(request: pytest.FixtureRequest) -> int:
    """Both layouts: a wave per shard, and a first wave spanning both shards."""
    count: int = request.param
    return count


def shard_of(w: World, cluster: str) -> str:
    """Clusters alternate between the shards: a, b, a, ..."""
    return "ab"[w.names.index(cluster) % 2]


def first_wave(w: World) -> list[str]:
    """Two clusters, one of each shard, when there are three or more; else the first."""
    return w.names[:2] if len(w.names) >= 3 else w.names[:1]


def sharded_config(w: World, soak: float = SOAK) -> JSON:
    first = first_wave(w)
    config = w.config(
        sync_policy={"selfHeal": False},
        rollout={
            "waves": [
                {"name": "first", "selector": {"names": first}, "soak": f"{soak:g}s"},
                {"name": "rest", "selector": {"names": w.names[len(first) :]}},
            ]
        },
    )
    for cluster, entry in zip(w.names, config["clusters"], strict=True):
        entry["labels"]["shard"] = shard_of(w, cluster)
    return config


def shard_daemon(w: World, name: str, config: JSON, token: str, **ha_extra: Any) -> FleetDaemon:
    """An instance of shard ``name`` (its first letter: ``a2`` is a second one of ``a``);
    ``ha_extra`` adds to or overrides its ``ha`` settings."""
    shard = name[0]
    directory = w.directory / f"shard-{name}"
    ha: JSON = {
        "lease": {"cluster": w.names[0], "namespace": "default", "name": f"{w.namespace}-lead"},
        "identity": f"host-{name}",
        "shards": {"a": {"shard": "a"}, "b": {"shard": "b"}},
        "shard": shard,
        "shard_sync_interval": "300ms",
        "peer_token_file": str(directory / "api-token"),
        **QUICK,
        **ha_extra,
    }
    daemon = FleetDaemon(directory, config, ha=ha)
    # One API token for the whole fleet: the peers read each other's status with it.
    daemon.token = token
    (directory / "api-token").write_text(token + "\n")
    w.daemons.append(daemon)
    w.stack.push_async_callback(daemon.aclose)
    return daemon


def moment(text: str | None) -> float:
    assert text is not None
    return datetime.fromisoformat(text).timestamp()


async def syncs_of(daemon: FleetDaemon, revision: str) -> list[JSON]:
    return [r for r in await daemon.history() if r["revision"] == revision and not r["dry_run"]]


async def assert_waves_in_order(
    a: FleetDaemon, b: FleetDaemon, w: World, revision: str, soak: float = SOAK
) -> None:
    """Every second-wave sync, on either shard, started after the first wave's last
    sync (on either shard) finished and its soak passed."""
    rows = await syncs_of(a, revision) + await syncs_of(b, revision)
    first = [r for r in rows if r["cluster"] in first_wave(w)]
    rest = [r for r in rows if r["cluster"] not in first_wave(w)]
    assert sorted(r["cluster"] for r in first) == sorted(first_wave(w)), first
    assert all(r["result"] == "Succeeded" for r in first), first
    assert sorted({r["cluster"] for r in rest}) == sorted(set(w.names) - set(first_wave(w))), rest
    done = max(moment(r["finished_at"]) for r in first)
    for row in rest:
        started = moment(row["started_at"])
        assert started >= done + soak - 0.5, (
            f"{row['cluster']} (shard {shard_of(w, row['cluster'])}) started "
            f"{started - done:.1f}s after the first wave finished, before its {soak}s soak ended"
        )


async def test_two_shards_roll_out_waves_that_span_them_in_order(
    clusters: list[ClusterHandle], tmp_path: Path
) -> None:
    if len(clusters) < 2:
        pytest.skip(f"two shards need at least 2 clusters, the run has {len(clusters)}")
    async with world(clusters, tmp_path) as w:
        config = sharded_config(w)
        token = "shared-" + w.namespace + "-token"
        a = shard_daemon(w, "a", config, token)
        b = shard_daemon(w, "b", config, token)
        async with anyio.create_task_group() as starting:
            starting.start_soon(a.start)
            starting.start_soon(b.start)
        try:
            mine = {s: [n for n in w.names if shard_of(w, n) == s] for s in "ab"}
            await a.wait_converged(mine["a"], w.seed_sha, timeout=60)
            await b.wait_converged(mine["b"], w.seed_sha, timeout=60)
            await assert_waves_in_order(a, b, w, w.seed_sha)

            # Each instance syncs only its own shard's clusters.
            assert {r["cluster"] for r in await a.history()} == set(mine["a"])
            assert {r["cluster"] for r in await b.history()} == set(mine["b"])

            # A release: a new record, the same order.
            sha = await w.commit(
                "release: hello from shards", release_changes(w, "hello from shards")
            )
            await a.wait_converged(mine["a"], sha, timeout=90)
            await b.wait_converged(mine["b"], sha, timeout=90)
            await assert_waves_in_order(a, b, w, sha)

            async def recorded() -> Any:
                record = await shared_record(w, sha)
                states = {c: p["state"] for c, p in record["clusters"].items()}
                return record if states == dict.fromkeys(w.names, "Succeeded") else None

            record = await eventually(recorded, timeout=10, what="every cluster in the record")
            assert record["waves"]["first"]["at"] < record["waves"]["rest"]["at"], record
            assert {c: p["shard"] for c, p in record["clusters"].items()} == {
                n: shard_of(w, n) for n in w.names
            }

            # The whole fleet from either instance, API and CLI alike.
            for daemon in (a, b):
                rows = {r["cluster"]: r for r in await daemon.status() if r["app"] == "web"}
                assert set(rows) == set(w.names), rows
                for name, row in rows.items():
                    assert row["shard"] == shard_of(w, name), row
                    assert (row["revision"], row["sync"], row["health"]) == (
                        sha,
                        "Synced",
                        "Healthy",
                    ), row
                shown = await anyio.run_process(
                    [
                        sys.executable,
                        "-m",
                        "fleet",
                        "status",
                        "--settings",
                        str(daemon.settings_path),
                    ],
                    check=False,
                )
                assert shown.returncode == 0, shown.stderr.decode()
                for name in w.names:
                    assert name in shown.stdout.decode(), shown.stdout.decode()

            # Shard b stops: a shows b's clusters Unknown, naming the shard, without hanging.
            await b.stop()
            started = time.monotonic()

            async def b_unknown() -> list[JSON] | None:
                rows = [r for r in await a.status() if r["cluster"] in mine["b"]]
                unknown = [r for r in rows if r["sync"] == "Unknown" and "shard b" in r["message"]]
                return rows if len(unknown) == len(mine["b"]) else None

            rows = await eventually(b_unknown, timeout=20, what="shard b shown Unknown")
            assert all(r["shard"] == "b" for r in rows), rows
            assert time.monotonic() - started < 15
            own = await a.status_of(w.names[0])
            assert (own["sync"], own["health"]) == ("Synced", "Healthy"), own
        finally:
            for daemon in (a, b):  # stopped first: a running leader must keep its Lease
                await daemon.stop()
            await delete_records(w)


def release_changes(w: World, greeting: str) -> dict[str, str | None]:
    text = w.source.read("apps/web/base/configmap.yaml")
    text = "\n".join(
        f'  GREETING: "{greeting}"' if line.startswith("  GREETING:") else line
        for line in text.splitlines()
    )
    return {"base/configmap.yaml": text + "\n"}


async def shared_record(w: World, revision: str) -> Any:
    """The rollout record as kubectl would show it (the ConfigMap's JSON)."""
    import json

    found = await w.kubes[w.names[0]].config_map("default", record_name("web", revision))
    assert found is not None, "no shared rollout record in the coordination cluster"
    return json.loads(found["data"]["record"])


async def delete_records(w: World) -> None:
    """Leave a real coordination cluster as found: the records and both Leases."""
    from kubernetes_asyncio import client
    from kubernetes_asyncio.client.exceptions import ApiException

    kube = w.kubes[w.names[0]]
    listed = await kube.core.list_namespaced_config_map(
        "default", label_selector="app.kubernetes.io/managed-by=fleet"
    )
    for item in listed.items:
        if (item.metadata.annotations or {}).get("fleet.dev/app") == "web":
            with contextlib.suppress(ApiException):
                await kube.core.delete_namespaced_config_map(item.metadata.name, "default")
    leases = client.CoordinationV1Api(kube.api)
    for shard in ("a", "b"):
        with contextlib.suppress(ApiException):
            await leases.delete_namespaced_lease(f"{w.namespace}-lead-{shard}", "default")


async def test_shards_that_leave_a_cluster_out_are_refused_at_start_and_on_reload(
    clusters: list[ClusterHandle], tmp_path: Path
) -> None:
    async with world(clusters, tmp_path) as w:
        config = sharded_config(w)
        stray = w.names[-1]
        broken = copy.deepcopy(config)
        broken["clusters"][-1]["labels"]["shard"] = "nowhere"
        token = "shared-" + w.namespace + "-token"
        refused = shard_daemon(w, "a", broken, token)
        await refused.start(wait_ready=False)
        assert refused.process is not None
        with anyio.fail_after(30):
            code = await refused.process.wait()
        assert code == 1, refused.log_tail()
        assert f"cluster {stray} (" in refused.log_text(), refused.log_tail()
        assert "is selected by no shard" in refused.log_text(), refused.log_tail()
        w.daemons.remove(refused)  # its one stderr line is the refusal, not a bug

        # A running shard keeps its config when a reload would leave a cluster out.
        a = shard_daemon(w, "a2", config, token)
        try:
            await a.start()
            a.write_config(broken)
            a.send(signal.SIGHUP)

            async def rejected() -> list[JSON] | None:
                events = [e for e in await a.events() if e["kind"] == "config_rejected"]
                return events or None

            events = await eventually(rejected, timeout=30, what="the reload refused")
            assert f"cluster {stray} (" in events[0]["message"], events
            assert (await a.request("GET", "/readyz", expect=None)).status == 200
        finally:
            await a.stop()
            await delete_records(w)
