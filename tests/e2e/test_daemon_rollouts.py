"""Rollout waves that keep their word, end to end: watched soaks, rollback on halt,
pins and unpins in waves, ``fleet rollback``, and the rollout controls.

The app's waves are built from the clusters the test gets: ``first`` (the first
cluster), ``second`` (the second) and ``rest`` (any others). A case that needs more
clusters than given skips, saying so. Everything goes through the daemon's HTTP API
(``GET /api/v1/apps/web/rollout``, ``POST .../rollout/{resume,abort,promote}``,
``POST .../rollback``, ``POST .../sync``), with one ``fleet rollout status`` run as a
user would.

A cluster is made to degrade during its soak the way an incident would: its live
Deployment gets an image named ``crashloop`` (the simulated controllers' failure
marker; on a real cluster with nodes the image cannot be pulled, which degrades it
alike) and a short progress deadline. Self-heal is off, so fleet does not undo it.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import anyio
import pytest

from tests.e2e.conftest import ClusterHandle
from tests.e2e.daemon_support import JSON, FleetDaemon, World, eventually, world

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

#: A soak long enough that the test, not the clock, decides when it ends.
LONG_SOAK = "10m"


@pytest.fixture
def cluster_count() -> int:
    return 3


def waves(names: list[str], soaks: tuple[str, str, str]) -> list[JSON]:
    """Waves first / second / rest over the clusters present (no wave may be empty)."""
    groups = [("first", names[:1]), ("second", names[1:2]), ("rest", names[2:])]
    return [
        {"name": name, "selector": {"names": members}, "soak": soak}
        for (name, members), soak in zip(groups, soaks, strict=True)
        if members
    ]


def rollout_config(
    w: World, soaks: tuple[str, str, str], *, rollback_on_halt: bool = False
) -> JSON:
    return w.config(
        sync_policy={"selfHeal": False},
        rollout={"waves": waves(w.names, soaks), "rollbackOnHalt": rollback_on_halt},
    )


def need_clusters(w: World, count: int) -> None:
    if len(w.names) < count:
        pytest.skip(f"this case needs {count} clusters, the run has {len(w.names)}")


async def rollout(daemon: FleetDaemon) -> JSON:
    answer = await daemon.request("GET", "/api/v1/apps/web/rollout", headers=daemon.auth())
    result: JSON = answer.body
    return result


async def control(daemon: FleetDaemon, action: str, expect: int = 200) -> Any:
    answer = await daemon.request(
        "POST", f"/api/v1/apps/web/rollout/{action}", headers=daemon.auth(), expect=expect
    )
    return answer.body


async def promote_until_complete(daemon: FleetDaemon, timeout: float = 60.0) -> JSON:  # noqa: ASYNC109
    """Skip every soak until the rollout is complete (the test decides, not the clock)."""

    async def complete() -> JSON | None:
        state = await rollout(daemon)
        if state["status"] == "Complete":
            return state
        if state["status"] == "Soaking":
            await control(daemon, "promote", expect=None)  # type: ignore[arg-type]
        return None

    return await eventually(
        complete,
        timeout=timeout,
        what="the rollout complete",
        interval=0.2,
        explain=daemon.log_tail,
    )


def release(w: World, greeting: str) -> dict[str, str | None]:
    config = w.source.read("apps/web/base/configmap.yaml")
    config = "\n".join(
        f'  GREETING: "{greeting}"' if line.startswith("  GREETING:") else line
        for line in config.splitlines()
    )
    return {"base/configmap.yaml": config + "\n"}


async def greeting(w: World, cluster: str) -> str:
    config = await w.kubes[cluster].config_map(w.namespace, "web-config")
    assert config is not None
    return str(config["data"]["GREETING"])


async def break_deployment(w: World, cluster: str) -> None:
    """An incident: the live Deployment crash-loops and soon misses its deadline."""
    await w.kubes[cluster].apps.patch_namespaced_deployment(
        "web",
        w.namespace,
        {
            "spec": {
                "progressDeadlineSeconds": 2,
                "template": {"spec": {"containers": [{"name": "web", "image": "crashloop"}]}},
            }
        },
    )


async def syncs_of(daemon: FleetDaemon, revision: str) -> list[JSON]:
    return [s for s in await daemon.history() if s["revision"] == revision]


async def test_a_cluster_degrading_during_its_soak_halts_and_rolls_back_where_it_went(
    clusters: list[ClusterHandle], tmp_path: Path
) -> None:
    async with world(clusters, tmp_path) as w:
        victim = w.names[1] if len(w.names) > 1 else w.names[0]
        took = w.names[: w.names.index(victim) + 1]
        spared = w.names[len(took) :]
        soaks = ("1s", LONG_SOAK, LONG_SOAK) if len(w.names) > 1 else (LONG_SOAK,) * 3
        daemon = await w.daemon(rollout_config(w, soaks, rollback_on_halt=True))
        await promote_until_complete(daemon)
        await daemon.wait_converged(w.names, w.seed_sha)

        v2 = await w.commit("release 2", release(w, "hello v2"))
        await daemon.wait_converged(took, v2, timeout=60)

        async def soaking() -> JSON | None:
            state = await rollout(daemon)
            return state if state["status"] == "Soaking" else None

        state = await eventually(soaking, timeout=15, what="the victim's wave soaking")
        victim_wave = next(wave for wave in state["waves"] if victim in wave["done"])
        assert victim_wave["soak_left"] > 60
        assert not await syncs_of(daemon, v2) or all(
            s["cluster"] in took for s in await syncs_of(daemon, v2)
        )

        after = await daemon.last_event_id()
        await break_deployment(w, victim)
        halted = await daemon.wait_event("rollout_halted", timeout=30, after_id=after)
        assert victim in halted["message"]
        assert "during the soak" in halted["message"]
        rolled = await daemon.wait_event("rollback", timeout=30, after_id=after)
        assert rolled["details"]["clusters"] == dict.fromkeys(took, w.seed_sha)

        # Everywhere v2 went is back at the seed, synced with trigger rollback.
        await daemon.wait_converged(took, w.seed_sha, timeout=90)
        for name in took:
            assert await greeting(w, name) == "hello from fleet"
            back = await daemon.wait_sync(name, w.seed_sha, trigger="rollback", result="Succeeded")
            assert back["trigger"] == "rollback"
            live = await w.kubes[name].deployment(w.namespace, "web")
            assert live is not None
            image = live["spec"]["template"]["spec"]["containers"][0]["image"]
            assert image == "ghcr.io/example/web:1.0.0"
        for name in spared:
            assert await greeting(w, name) == "hello from fleet"
        assert not [s for s in await syncs_of(daemon, v2) if s["cluster"] in spared]

        state = await rollout(daemon)
        assert state["status"] == "Halted"
        assert state["rolled_back"] == dict.fromkeys(took, w.seed_sha)
        assert {h["cluster"] for h in state["holds"]} == set(took)

        # A restart: still halted, still held; v2 goes nowhere.
        await daemon.stop()
        await daemon.start()
        await eventually(
            lambda: _status_is(daemon, "Halted"), timeout=20, what="halted after the restart"
        )
        # Held or still waiting, every cluster is compared at the revision it is at.
        await daemon.wait_converged(w.names, w.seed_sha, timeout=30)
        await anyio.sleep(2.0)
        for name in w.names:
            assert await greeting(w, name) == "hello from fleet"
        state = await rollout(daemon)
        assert {h["cluster"] for h in state["holds"]} == set(took)

        # A new commit ends the halt and lifts the holds: the first wave takes it.
        v3 = await w.commit("release 3", release(w, "hello v3"))
        await daemon.wait_converged(w.names[:1], v3, timeout=60)
        state = await rollout(daemon)
        assert state["holds"] == []
        assert state["status"] != "Halted"


async def _status_is(daemon: FleetDaemon, status: str) -> bool:
    try:
        return (await rollout(daemon))["status"] == status
    except AssertionError:
        return False


async def test_an_unpin_after_two_commits_follows_the_waves(
    clusters: list[ClusterHandle], tmp_path: Path
) -> None:
    async with world(clusters, tmp_path) as w:
        need_clusters(w, 2)
        daemon = await w.daemon(rollout_config(w, (LONG_SOAK, "0s", "0s")))
        await promote_until_complete(daemon)
        await daemon.wait_converged(w.names, w.seed_sha)

        answer = await daemon.sync(revision=w.seed_sha)
        assert answer["waiting"] == [], "every cluster is already there"
        v2 = await w.commit("release 2", release(w, "hello v2"))
        v3 = await w.commit("release 3", release(w, "hello v3"))
        assert (await daemon.push_webhook()).status == 202

        async def fetched() -> bool:
            return any(
                f"source platform at {v3[:12]}" in r.get("message", "")
                for r in daemon.log_records()
            )

        await eventually(fetched, timeout=15, what="the daemon fetched release 3")
        await anyio.sleep(1.0)
        assert not await syncs_of(daemon, v2)
        assert not await syncs_of(daemon, v3)

        answer = await daemon.sync(clearPin=True)
        assert [q["cluster"] for q in answer["queued"]] == w.names[:1]
        assert answer["waiting"] == sorted(w.names[1:])
        await daemon.wait_converged(w.names[:1], v3, timeout=60)
        state = await rollout(daemon)
        assert state["status"] == "Soaking"
        first, *later = state["waves"]
        assert first["done"] == w.names[:1]
        assert first["soak_left"] > 60
        assert all(wave["pending"] for wave in later)
        await anyio.sleep(1.0)
        for name in w.names[1:]:
            assert await greeting(w, name) == "hello from fleet", "later waves wait for soak"
        assert [s["cluster"] for s in await syncs_of(daemon, v3)] == w.names[:1]
        unpin = next(iter(await syncs_of(daemon, v3)))
        assert unpin["trigger"] == "unpin"

        # Promote: the soak is skipped, the rest follow.
        promoted = await control(daemon, "promote")
        assert promoted["waves"][0]["promoted"] is True
        await daemon.wait_converged(w.names, v3, timeout=60)
        assert not await syncs_of(daemon, v2), "release 2 was never rolled out on its own"


async def test_fleet_rollback_goes_back_in_waves_and_the_controls_answer(
    clusters: list[ClusterHandle], tmp_path: Path
) -> None:
    async with world(clusters, tmp_path) as w:
        daemon = await w.daemon(rollout_config(w, (LONG_SOAK, "0s", "0s")))
        await promote_until_complete(daemon)
        await daemon.wait_converged(w.names, w.seed_sha)
        first = w.names[0]
        seed_sync = await daemon.wait_sync(first, w.seed_sha, result="Succeeded")
        v2 = await w.commit("release 2", release(w, "hello v2"))
        await daemon.wait_converged(w.names[:1], v2, timeout=60)
        await promote_until_complete(daemon)
        await daemon.wait_converged(w.names, v2, timeout=60)

        # Nothing to resume or promote now; an unknown action is refused.
        assert "nothing to resume" in (await control(daemon, "resume", expect=409))["error"]
        assert "no soak to skip" in (await control(daemon, "promote", expect=409))["error"]
        await control(daemon, "restart", expect=404)
        refused = await daemon.request(
            "POST",
            "/api/v1/apps/web/rollback",
            body={"toSyncId": 10**9},
            headers=daemon.auth(),
            expect=404,
        )
        assert "no sync with id" in refused.body["error"]

        answer = (
            await daemon.request(
                "POST",
                "/api/v1/apps/web/rollback",
                body={"toSyncId": seed_sync["id"]},
                headers=daemon.auth(),
                expect=202,
            )
        ).body
        assert answer["targets"] == dict.fromkeys(w.names, w.seed_sha)
        assert [q["cluster"] for q in answer["queued"]] == [first]
        await daemon.wait_converged([first], w.seed_sha, timeout=60)
        back = await daemon.wait_sync(first, w.seed_sha, trigger="rollback", result="Succeeded")
        assert back["id"] > seed_sync["id"]
        await daemon.wait_event("rollback")

        # The CLI as a user runs it: the first wave done and soaking, the rest pending.
        result = await anyio.run_process(
            [
                sys.executable,
                "-m",
                "fleet",
                "rollout",
                "status",
                "web",
                "--address",
                f"127.0.0.1:{daemon.port}",
            ],
            check=False,
            env={"FLEET_API_TOKEN_FILE": str(daemon.directory / "api-token"), "NO_COLOR": "1"},
        )
        text = result.stdout.decode()
        assert result.returncode == 0, result.stderr.decode()
        for expected in ("Soaking", first, "held"):
            assert expected in text, text

        if len(w.names) > 1:
            assert await greeting(w, w.names[1]) == "hello v2", "the next wave waits"
            await control(daemon, "abort")
            await anyio.sleep(1.0)
            assert (await rollout(daemon))["status"] == "Aborted"
            assert await greeting(w, w.names[1]) == "hello v2", "aborted: nothing more moves"
            resumed = await control(daemon, "resume")
            assert resumed["status"] == "Soaking"
        await promote_until_complete(daemon)
        await daemon.wait_converged(w.names, w.seed_sha, timeout=60)
        state = await rollout(daemon)
        assert {h["cluster"] for h in state["holds"]} == set(w.names)
        assert {h["reason"] for h in state["holds"]} == {"rollback"}

        # Unpin lifts the hold (a user acts): Git's newest commit comes back in waves.
        answer = await daemon.sync(clearPin=True, now=True)
        await daemon.wait_converged(w.names, v2, timeout=60)
        assert (await rollout(daemon))["holds"] == []
