"""Why an automated sync waits, end to end: dependsOn, suspend and sync windows.

- ``dependsOn``: web depends on db. A commit that breaks db (its Deployment crash-loops)
  and changes web syncs db, which fails, and holds web on every cluster (status says what
  it waits for; web's sync is not failed, it never starts); the commit that fixes db
  syncs db, and web follows at once, woken by db turning ready.
- ``fleet suspend``: survives a daemon restart (SQLite); drift is shown but not healed,
  a new commit is not synced, a manual sync is refused without ``force``; resume lets
  the automated sync run.
- sync windows: a deny window that is always open (every minute, for an hour: no real
  window is slept through) blocks the automated sync on one cluster and a manual sync
  there; a config reload that drops the window lets the sync run at once.
"""

from __future__ import annotations

import re
import signal
from pathlib import Path

import anyio
import pytest

from tests.e2e.conftest import ClusterHandle
from tests.e2e.daemon_support import JSON, FleetDaemon, World, eventually, world

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]


@pytest.fixture
def cluster_count() -> int:
    return 2


def db_files(namespace: str, image: str) -> dict[str, str]:
    """The db app: its own namespace and a Deployment (image ``crashloop`` fails)."""
    return {
        "apps/db/namespace.yaml": (
            f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {namespace}\n"
        ),
        "apps/db/deployment.yaml": f"""\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: db
  namespace: {namespace}
spec:
  replicas: 1
  progressDeadlineSeconds: 2
  selector:
    matchLabels: {{app: db}}
  template:
    metadata:
      labels: {{app: db}}
    spec:
      containers:
        - name: db
          image: {image}
""",
    }


def greeting(w: World, text: str) -> dict[str, str | None]:
    config = w.source.read("apps/web/base/configmap.yaml")
    changed = re.sub(r"(?m)^  GREETING: .*$", f'  GREETING: "{text}"', config)
    assert changed != config
    return {"base/configmap.yaml": changed}


async def syncs_of(daemon: FleetDaemon, app: str, cluster: str, revision: str) -> list[JSON]:
    return [
        s
        for s in await daemon.history(app=app, cluster=cluster)
        if s["revision"] == revision and s["result"] != "Running"
    ]


async def test_a_failing_dependency_holds_its_dependant_until_it_is_fixed(
    clusters: list[ClusterHandle], tmp_path: Path
) -> None:
    async with world(clusters, tmp_path) as w:
        db_namespace = f"{w.namespace}-db"
        for kube in w.kubes.values():
            if kube.handle.sim is None:
                w.stack.push_async_callback(kube.delete_namespace, db_namespace)
        seed = await w.commit("db app", db_files(db_namespace, "ghcr.io/example/db:1.0.0"))
        config = w.config(dependsOn=["db"])
        config["apps"].append(
            {
                "name": "db",
                "source": "platform",
                "path": "apps/db",
                "syncPolicy": {"automated": True, "prune": True, "selfHeal": True},
            }
        )
        daemon = await w.daemon(config)
        await daemon.wait_converged(w.names, seed, app="db")
        await daemon.wait_converged(w.names, seed, app="web")
        for name in w.names:
            (db_sync,) = await syncs_of(daemon, "db", name, seed)
            web_sync = (await syncs_of(daemon, "web", name, seed))[0]
            # web started only once db was synced and healthy on that cluster.
            assert web_sync["started_at"] >= db_sync["finished_at"], (db_sync, web_sync)

        # One commit breaks db and changes web: db fails, web waits (and is not failed).
        events_before = await daemon.last_event_id()
        broken = await w.commit(
            "db: a bad image; web: new greeting",
            {**db_files(db_namespace, "crashloop"), **greeting(w, "hello v2")},
        )
        for name in w.names:
            failed = await daemon.wait_sync(name, broken, app="db", timeout=60)
            assert failed["result"] == "Failed", failed

        async def web_held() -> list[JSON] | None:
            rows = [r for r in await daemon.status() if r["app"] == "web"]
            held = [
                r
                for r in rows
                if r["target_revision"] == broken
                and (r.get("hold") or {}).get("kind") == "dependency"
            ]
            return held if len(held) == len(w.names) else None

        for row in await eventually(web_held, timeout=20, what="web held by db everywhere"):
            assert row["hold"]["subject"] == "db"
            assert row["message"].startswith("waiting for app db on this cluster: "), row
            assert row["revision"] == seed  # still where it was
            assert row["last_result"] == "Succeeded"  # held, not failed
        held_event = await daemon.wait_event("sync_held", after_id=events_before, app="web")
        assert "waiting for app db on this cluster" in held_event["message"]
        await anyio.sleep(1.0)
        for name in w.names:
            assert await syncs_of(daemon, "web", name, broken) == []
            live = await w.kubes[name].config_map(w.namespace, "web-config")
            assert live is not None
            assert live["data"]["GREETING"] == "hello from fleet"

        # The fix: db syncs, turns ready, and web syncs at once (woken, no new push).
        fixed = await w.commit("db: good image", db_files(db_namespace, "ghcr.io/example/db:1.0.1"))
        await daemon.wait_converged(w.names, fixed, app="db", timeout=60)
        await daemon.wait_converged(w.names, fixed, app="web", timeout=60)
        for name in w.names:
            (db_sync,) = await syncs_of(daemon, "db", name, fixed)
            (web_sync,) = await syncs_of(daemon, "web", name, fixed)
            assert web_sync["result"] == "Succeeded", web_sync
            assert web_sync["started_at"] >= db_sync["finished_at"], (db_sync, web_sync)
            live = await w.kubes[name].config_map(w.namespace, "web-config")
            assert live is not None
            assert live["data"]["GREETING"] == "hello v2"
            assert (await daemon.status_of(name))["hold"] is None


async def test_suspend_survives_a_restart_shows_drift_and_refuses_manual_syncs(
    clusters: list[ClusterHandle], tmp_path: Path
) -> None:
    async with world(clusters, tmp_path) as w:
        daemon = await w.daemon()
        await daemon.wait_converged(w.names, w.seed_sha)
        target = w.names[-1]
        answer = await daemon.request(
            "POST",
            "/api/v1/apps/web/suspend",
            body={"reason": "database migration"},
            headers=daemon.auth(),
        )
        assert {t["cluster"] for t in answer.body["targets"]} == set(w.names)
        assert all(t["suspended"] for t in answer.body["targets"])
        suspended = await daemon.wait_event("suspended", app="web")
        assert "database migration" in suspended["message"]

        await daemon.stop()
        await daemon.start()
        for row in await daemon.status():
            assert row["suspended"] is True, row
        metrics = (await daemon.request("GET", "/metrics")).body
        assert f'fleet_app_suspended{{app="web",cluster="{target}"}} 1.0' in metrics

        # Drift is detected and shown, not healed.
        syncs_before = await daemon.last_sync_id()
        await w.kubes[target].scale(w.namespace, "web", 5)

        async def drift_shown() -> JSON | None:
            row = await daemon.status_of(target)
            return row if row["sync"] == "OutOfSync" else None

        row = await eventually(drift_shown, timeout=15, what="the drift shown")
        assert (row.get("hold") or {}).get("kind") == "suspended", row
        assert "suspended: app web on every cluster (database migration)" in row["message"]
        await anyio.sleep(2.0)
        assert await daemon.last_sync_id() == syncs_before
        live = await w.kubes[target].deployment(w.namespace, "web")
        assert live is not None
        assert live["spec"]["replicas"] == 5

        # A new commit is not synced either; a manual sync is refused unless forced.
        v2 = await w.commit("v2", greeting(w, "hello v2"))

        async def target_moved() -> bool:
            return all(r["target_revision"] == v2 for r in await daemon.status())

        await eventually(target_moved, timeout=15, what="v2 released to every cluster")
        refused = await daemon.sync(cluster=target, expect=409)
        assert "suspended: app web on every cluster" in refused["error"], refused
        assert "--force" in refused["error"]
        await daemon.sync(cluster=target, force=True)
        forced = await daemon.wait_sync(target, v2, after_id=syncs_before, result="Succeeded")
        assert forced["trigger"] == "manual"
        others = [n for n in w.names if n != target]
        for name in others:
            assert await syncs_of(daemon, "web", name, v2) == []

        # Resume: the others sync v2 automatically, at once.
        answer = await daemon.request(
            "POST", "/api/v1/apps/web/resume", body={}, headers=daemon.auth()
        )
        assert answer.body["resumed"] is True
        await daemon.wait_converged(w.names, v2)
        assert all(not r["suspended"] for r in await daemon.status())
        await daemon.wait_event("resumed", app="web")


async def test_a_deny_window_blocks_automated_and_manual_syncs_until_it_goes(
    clusters: list[ClusterHandle], tmp_path: Path
) -> None:
    async with world(clusters, tmp_path) as w:
        target = w.names[-1]
        others = w.names[:-1]
        config = w.config()
        daemon = await w.daemon(config)
        await daemon.wait_converged(w.names, w.seed_sha)

        # A deny window on one cluster: it starts every minute and lasts an hour, so it is
        # open now and stays open (no real window is slept through).
        config["syncWindows"] = [
            {
                "name": "freeze",
                "kind": "deny",
                "schedule": "* * * * *",
                "duration": "1h",
                "clusters": [target],
            }
        ]
        await reload(daemon, config)

        # Drift there is shown, not healed.
        syncs_before = await daemon.last_sync_id()
        await w.kubes[target].scale(w.namespace, "web", 5)

        async def drift_held() -> JSON | None:
            row = await daemon.status_of(target)
            held = row["sync"] == "OutOfSync" and (row.get("hold") or {}).get("kind") == "window"
            return row if held else None

        row = await eventually(drift_held, timeout=15, what=f"drift on {target} held")
        assert row["hold"]["subject"] == "freeze"
        assert row["message"].startswith("blocked by window freeze"), row

        # A new commit reaches the other clusters; the rollout holds it back from this one.
        v2 = await w.commit("v2", greeting(w, "hello v2"))
        if others:
            await daemon.wait_converged(others, v2)

        async def commit_held() -> JSON | None:
            for event in await daemon.events(cluster=target):
                if event["kind"] == "sync_held" and event["details"]["hold"]["kind"] == "window":
                    return event
            return None

        await eventually(commit_held, timeout=15, what="a sync_held event on the target")
        await anyio.sleep(1.0)
        assert [s for s in await daemon.history(cluster=target) if s["id"] > syncs_before] == []
        row = await daemon.status_of(target)
        assert row["hold"]["kind"] == "window", row
        assert row["target_revision"] == w.seed_sha  # the rollout did not release v2 here
        rollout = await daemon.get("/api/v1/apps/web/rollout")
        assert rollout["clusters"][target] == "Pending", rollout  # paused before release
        assert rollout["blocked"][target].startswith("blocked by window freeze"), rollout
        live = await w.kubes[target].deployment(w.namespace, "web")
        assert live is not None
        assert live["spec"]["replicas"] == 5

        # A manual sync there is refused: the window does not allow manual syncs.
        refused = await daemon.sync(cluster=target, expect=409)
        assert "blocked by window freeze" in refused["error"], refused
        assert "does not allow manual syncs" in refused["error"]
        refused = await daemon.sync(cluster=target, force=True, expect=409)
        assert "blocked by window freeze" in refused["error"], refused

        # The window goes (a reload): what waited runs at once.
        del config["syncWindows"]
        await reload(daemon, config)
        await daemon.wait_converged(w.names, v2, timeout=30)
        (synced,) = await syncs_of(daemon, "web", target, v2)
        assert synced["trigger"] != "manual"
        assert (await daemon.status_of(target))["hold"] is None


async def reload(daemon: FleetDaemon, config: JSON) -> None:
    daemon.write_config(config)
    events_before = await daemon.last_event_id()
    daemon.send(signal.SIGHUP)
    await daemon.wait_event("config_reloaded", after_id=events_before)
