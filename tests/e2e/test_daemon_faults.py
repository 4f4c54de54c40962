"""Failures of the world around the daemon: a cluster goes away, the daemon is killed.

One of three clusters down holds up neither of the others; it catches up when it comes
back, and history says what happened. A ``kill -9`` in the middle of a sync leaves a
readable history; the next start marks that sync Interrupted and runs it again.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.conftest import ClusterHandle
from tests.e2e.daemon_support import edit_yaml, eventually, world

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]


@pytest.fixture
def cluster_count() -> int:
    return 3


def greeting(text: str, greeting: str) -> str:
    return edit_yaml(text, lambda doc: doc["data"].update({"GREETING": greeting}))


async def test_one_cluster_down_holds_up_no_other_and_catches_up(
    clusters: list[ClusterHandle], tmp_path: Path
) -> None:
    faults = clusters[-1].require_faults()
    async with world(clusters, tmp_path) as w:
        # One retry: a sync on a cluster that is down fails in seconds, not minutes.
        retry = {"limit": 1, "backoff": {"duration": "1s"}}
        daemon = await w.daemon(w.config(sync_policy={"retry": retry}))
        await daemon.wait_converged(w.names, w.seed_sha)
        *up, down = w.names
        events_before = await daemon.last_event_id()
        syncs_before = await daemon.last_sync_id()

        faults.down()
        unreachable = await daemon.wait_event(
            "cluster_unreachable", after_id=events_before, cluster=down
        )
        assert unreachable["message"], unreachable
        v2 = await w.commit(
            "greet differently",
            {
                "base/configmap.yaml": greeting(
                    w.source.read("apps/web/base/configmap.yaml"), "hello v2"
                )
            },
        )
        await daemon.wait_converged(up, v2)
        for name in up:
            live = await w.kubes[name].config_map(w.namespace, "web-config")
            assert live is not None
            assert live["data"]["GREETING"] == "hello v2"

        failed = await daemon.wait_sync(
            down, v2, after_id=syncs_before, result="Failed", timeout=40
        )
        assert any(
            word in failed["message"].lower() for word in ("unreachable", "refused", "connect")
        ), failed
        status = await daemon.status_of(down)
        assert status["revision"] == w.seed_sha
        assert status["reachable"] is False, status

        faults.up()
        await daemon.wait_converged(w.names, v2, timeout=40)
        live = await w.kubes[down].config_map(w.namespace, "web-config")
        assert live is not None
        assert live["data"]["GREETING"] == "hello v2"
        await daemon.wait_event("cluster_reachable", after_id=unreachable["id"], cluster=down)
        ok = await daemon.wait_sync(down, v2, after_id=failed["id"], result="Succeeded")
        assert ok["id"] > failed["id"]


async def test_kill_9_during_a_sync_then_restart_runs_it_again(
    clusters: list[ClusterHandle], tmp_path: Path
) -> None:
    # A migration that takes a few seconds (on simulated clusters) keeps the sync running
    # long enough to be killed in the middle of it.
    async with world(clusters, tmp_path) as w:

        def slow(doc: dict[str, object]) -> None:
            template = doc["spec"]["template"]  # type: ignore[index]
            template.setdefault("metadata", {})["annotations"] = {"sim.fleet.dev/ready-delay": "2"}

        sha = await w.commit(
            "a slow migration",
            {
                "base/migrate-job.yaml": edit_yaml(
                    w.source.read("apps/web/base/migrate-job.yaml"), slow
                )
            },
        )
        daemon = await w.daemon()

        async def running() -> list[dict[str, object]] | None:
            rows = [r for r in await daemon.history() if r["result"] == "Running"]
            return rows if len(rows) == len(w.names) else None

        running_rows = await eventually(
            running, timeout=30, interval=0.05, what="every sync running"
        )

        async def migrations_recorded() -> bool:
            # Created on every cluster and written to history: a kill between a create and
            # its history row would leave the row to the resumed sync instead.
            for row in running_rows:
                results = (await daemon.detail(row["id"]))["results"]
                if ("Job", "web-migrate") not in {(r["kind"], r["name"]) for r in results}:
                    return False
            return True

        await eventually(migrations_recorded, timeout=10, what="the migrations started")
        await daemon.kill()

        await daemon.start()
        await daemon.wait_converged(w.names, sha, timeout=40)
        history = await daemon.history()
        interrupted = {r["id"]: r for r in history if r["result"] == "Interrupted"}
        assert set(interrupted) == {r["id"] for r in running_rows}, history
        for name in w.names:
            rows = sorted(
                (r for r in history if r["cluster"] == name and r["revision"] == sha),
                key=lambda r: r["id"],
            )
            assert [r["result"] for r in rows] == ["Interrupted", "Succeeded"], rows
            first, again = rows
            assert first["finished_at"] is not None
            assert again["trigger"] == "startup", again
            assert again["resumed_from"] == first["id"], again
            # The interrupted sync's steps are still in history.
            steps = (await daemon.detail(first["id"]))["results"]
            assert ("Job", "web-migrate") in {(r["kind"], r["name"]) for r in steps}, steps
        events = [e for e in await daemon.events() if e["kind"] == "sync_interrupted"]
        assert {e["sync_id"] for e in events} == set(interrupted), events
