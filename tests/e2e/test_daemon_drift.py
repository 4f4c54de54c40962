"""Drift end to end: a change made on a cluster by hand is undone, or shown.

With selfHeal, ``kubectl scale`` of a managed Deployment and a patch of a managed field
are undone within seconds, and recorded (a sync triggered by drift, a drift event).
Without it, the app shows OutOfSync and the diff says why, until someone syncs.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import anyio
import pytest

from tests.e2e.conftest import ClusterHandle
from tests.e2e.daemon_support import JSON, REPLICAS, World, eventually, world

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

#: How long self-heal may take, from the change to the change undone.
HEAL_WITHIN = 5.0


@pytest.fixture
def cluster_count() -> int:
    return 2


async def kubectl(w: World, cluster: str, *args: str) -> str:
    handle = w.kubes[cluster].handle
    result = await anyio.run_process(
        [
            "kubectl",
            f"--kubeconfig={handle.kubeconfig}",
            f"--context={handle.context}",
            f"--cache-dir={w.directory / 'kubectl-cache'}",
            "--request-timeout=20s",
            *args,
        ],
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout.decode()


async def replicas(w: World, cluster: str) -> int:
    live = await w.kubes[cluster].deployment(w.namespace, "web")
    assert live is not None
    return int(live["spec"]["replicas"])


@pytest.mark.kubectl
@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
async def test_self_heal_undoes_kubectl_scale_and_a_patch_and_records_them(
    clusters: list[ClusterHandle], tmp_path: Path
) -> None:
    async with world(clusters, tmp_path) as w:
        daemon = await w.daemon()
        await daemon.wait_converged(w.names, w.seed_sha)
        target = w.names[-1]
        want = REPLICAS[w.env_of(target)]
        events_before = await daemon.last_event_id()
        syncs_before = await daemon.last_sync_id()

        await kubectl(w, target, "-n", w.namespace, "scale", "deployment/web", "--replicas=7")
        scaled_at = anyio.current_time()

        async def healed() -> bool:
            return await replicas(w, target) == want

        await eventually(healed, timeout=HEAL_WITHIN + 5, what="the scale undone")
        assert anyio.current_time() - scaled_at <= HEAL_WITHIN
        heal = await daemon.wait_sync(target, w.seed_sha, after_id=syncs_before, result="Succeeded")
        assert heal["trigger"] == "drift", heal
        results = (await daemon.detail(heal["id"]))["results"]
        assert ("Deployment", "web", "configured") in {
            (r["kind"], r["name"], r["action"]) for r in results
        }, results
        # Healing re-applies what drifted: no hook runs again.
        assert not [r for r in results if r["action"] == "hook"], results
        drift = await daemon.wait_event("drift", after_id=events_before, cluster=target)
        assert "Deployment" in drift["message"], drift
        assert "web" in drift["message"], drift
        assert drift["details"]["selfHeal"] is True
        # The other clusters were not touched.
        for other in w.names[:-1]:
            assert [
                s["id"] for s in await daemon.history(cluster=other) if s["id"] > syncs_before
            ] == []

        # A patch of a managed field (the ConfigMap's data) is undone the same way.
        kube = w.kubes[target]
        syncs_before = await daemon.last_sync_id()
        await kube.patch_config_map(w.namespace, "web-config", {"GREETING": "patched by hand"})
        patched_at = anyio.current_time()

        async def restored() -> bool:
            live = await kube.config_map(w.namespace, "web-config")
            return live is not None and live["data"]["GREETING"] == "hello from fleet"

        await eventually(restored, timeout=HEAL_WITHIN + 5, what="the patch undone")
        assert anyio.current_time() - patched_at <= HEAL_WITHIN
        heal = await daemon.wait_sync(target, w.seed_sha, after_id=syncs_before, result="Succeeded")
        assert heal["trigger"] == "drift"
        await daemon.wait_converged(w.names, w.seed_sha)


async def test_without_self_heal_drift_shows_out_of_sync_and_the_diff_says_why(
    clusters: list[ClusterHandle], tmp_path: Path
) -> None:
    async with world(clusters, tmp_path) as w:
        daemon = await w.daemon(w.config(sync_policy={"selfHeal": False}))
        await daemon.wait_converged(w.names, w.seed_sha)
        target = w.names[0]
        want = REPLICAS[w.env_of(target)]
        syncs_before = await daemon.last_sync_id()
        events_before = await daemon.last_event_id()
        await w.kubes[target].scale(w.namespace, "web", want + 4)

        async def out_of_sync() -> JSON | None:
            status = await daemon.status_of(target)
            return status if status["sync"] == "OutOfSync" else None

        status = await eventually(out_of_sync, timeout=10, what=f"{target} OutOfSync")
        assert any("Deployment" in o and "web" in o for o in status["out_of_sync"]), status
        drift = await daemon.wait_event("drift", after_id=events_before, cluster=target)
        assert drift["details"]["selfHeal"] is False

        [diff] = await daemon.get("/api/v1/apps/web/diff", cluster=target)
        assert diff["cluster"] == target
        [item] = [o for o in diff["objects"] if "Deployment" in o["object"]]
        assert "replicas" in item["text"], item
        assert str(want + 4) in item["text"], item
        assert str(want) in item["text"], item
        # The other clusters are still in sync, and their diffs are empty.
        for name in w.names[1:]:
            [other] = await daemon.get("/api/v1/apps/web/diff", cluster=name)
            assert other["objects"] == []
            assert (await daemon.status_of(name))["sync"] == "Synced"

        # Nothing is undone behind the user's back...
        await anyio.sleep(2)
        assert await replicas(w, target) == want + 4
        assert [s for s in await daemon.history() if s["id"] > syncs_before] == []
        # ...until someone asks for a sync.
        answer = await daemon.sync(cluster=target)
        assert [q["cluster"] for q in answer["queued"]] == [target]
        sync = await daemon.wait_sync(target, w.seed_sha, after_id=syncs_before, result="Succeeded")
        assert sync["trigger"] == "manual"
        assert await replicas(w, target) == want
        await daemon.wait_converged(w.names, w.seed_sha)


async def test_fields_owned_by_an_ignored_manager_are_left_alone(
    clusters: list[ClusterHandle], tmp_path: Path
) -> None:
    """ignoreDifferences by manager: an autoscaler's replicas are not drift.

    The live cache drops managedFields but for the managers such a rule names, so the
    rule must still hold for drift found in the cache.
    """
    ignore = [{"group": "apps", "kind": "Deployment", "managedFieldsManagers": ["autoscaler"]}]
    async with world(clusters, tmp_path) as w:
        daemon = await w.daemon(w.config(ignoreDifferences=ignore))
        await daemon.wait_converged(w.names, w.seed_sha)
        target = w.names[0]
        want = REPLICAS[w.env_of(target)]
        syncs_before = await daemon.last_sync_id()
        await w.kubes[target].apps.patch_namespaced_deployment(
            "web", w.namespace, {"spec": {"replicas": want + 3}}, field_manager="autoscaler"
        )
        await anyio.sleep(HEAL_WITHIN)
        assert await replicas(w, target) == want + 3, "the autoscaler's change stays"
        assert (await daemon.status_of(target))["sync"] == "Synced"
        assert [s for s in await daemon.history() if s["id"] > syncs_before] == []

        # The same change by anyone else is drift, and is undone.
        await w.kubes[target].scale(w.namespace, "web", want + 5)

        async def healed() -> bool:
            return await replicas(w, target) == want

        await eventually(healed, timeout=HEAL_WITHIN + 5, what="the scale undone")
