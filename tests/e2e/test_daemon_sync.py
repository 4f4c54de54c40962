"""The daemon end to end: a commit reaches every cluster, in waves, with hooks and gates.

Each test runs ``fleet run`` as a process against the ``clusters`` fixture (simulated by
default, real with FLEET_TEST_KUBECONFIG) and a real Git server on loopback.
"""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from tests.e2e.conftest import ClusterHandle
from tests.e2e.daemon_support import (
    REPLICAS,
    Milestones,
    annotate,
    by_cluster,
    edit_yaml,
    seed_app,
    world,
)

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]


@pytest.fixture
def cluster_count() -> int:
    return 3


async def test_a_commit_reaches_every_cluster_synced_and_healthy(
    clusters: list[ClusterHandle], tmp_path: Path
) -> None:
    async with world(clusters, tmp_path, transport="http") as w:
        daemon = await w.daemon()
        rows = await daemon.wait_converged(w.names, w.seed_sha)
        assert {r["cluster"] for r in rows} == set(w.names)
        for name in w.names:
            kube = w.kubes[name]
            live = await kube.deployment(w.namespace, "web")
            assert live is not None
            assert live["spec"]["replicas"] == REPLICAS[w.env_of(name)]
            labels = live["metadata"]["labels"]
            assert labels["app.kubernetes.io/name"] == "web"
            assert await kube.config_map(w.namespace, "web-config") is not None
            assert await kube.service(w.namespace, "web") is not None

        history = by_cluster(await daemon.history(app="web"))
        assert set(history) == set(w.names)
        for name in w.names:
            syncs = history[name]
            assert [(s["revision"], s["result"]) for s in syncs] == [(w.seed_sha, "Succeeded")]
            sync = syncs[0]
            assert sync["trigger"] in {"poll", "webhook"}
            assert sync["started_at"] <= sync["applied_at"] <= sync["healthy_at"]
            assert sync["healthy_at"] <= sync["finished_at"]
            detail = await daemon.detail(sync["id"])
            applied = {(r["kind"], r["name"]): r for r in detail["results"]}
            for key in [
                ("Namespace", w.namespace),
                ("ConfigMap", "web-config"),
                ("Deployment", "web"),
                ("Service", "web"),
            ]:
                assert applied[key]["action"] == "created", detail
            assert applied[("Job", "web-migrate")]["action"] == "hook"
            assert applied[("Job", "web-smoke-test")]["action"] == "hook"
            assert {r["phase"] for r in detail["results"]} >= {"PreSync", "Sync", "PostSync"}

        # A graceful stop: SIGTERM ends the daemon promptly and cleanly.
        assert await daemon.stop(timeout=15) == 0


async def test_waves_and_hooks_run_in_order(clusters: list[ClusterHandle], tmp_path: Path) -> None:
    # The migration runs long enough (1 s pending, 1 s running on simulated clusters)
    # that anything started before it completes would be seen doing so.
    slow = {"sim.fleet.dev/ready-delay": "1"}
    migrate = edit_yaml(
        seed_app("web")["apps/web/base/migrate-job.yaml"],
        lambda doc: doc["spec"]["template"].setdefault("metadata", {}).update(
            {"annotations": slow}
        ),
    )
    async with world(clusters, tmp_path) as w:
        migrate = migrate.replace("namespace: web", f"namespace: {w.namespace}")
        sha = await w.commit("slow migration", {"base/migrate-job.yaml": migrate})
        watchers = [Milestones(w.kubes[name], w.namespace) for name in w.names]
        async with anyio.create_task_group() as group:
            for watcher in watchers:
                group.start_soon(watcher.run)
            daemon = await w.daemon()
            await daemon.wait_converged(w.names, sha)
            group.cancel_scope.cancel()

        for name, seen in zip(w.names, watchers, strict=True):
            order = sorted(seen.seen, key=seen.seen.__getitem__)
            # PreSync: the migration completes before the Sync phase's first wave starts.
            assert seen.before("migrate_created", "migrate_complete"), order
            assert seen.before("migrate_complete", "configmap_created"), order
            assert seen.seen["configmap_created"] - seen.seen["migrate_created"] >= 1.0, order
            # Wave 1 (the Service) only after wave 0's Deployment is healthy.
            assert seen.before("configmap_created", "deployment_created"), order
            assert seen.before("deployment_healthy", "service_created"), order
            # PostSync after everything is healthy.
            assert seen.before("service_created", "smoke_created"), order
            assert seen.before("deployment_healthy", "smoke_created"), order

            # History tells the same story, step by step.
            [sync] = [s for s in await daemon.history(cluster=name) if s["revision"] == sha]
            assert sync["result"] == "Succeeded"
            results = (await daemon.detail(sync["id"]))["results"]
            steps = [(r["phase"], r["wave"], r["kind"]) for r in results]
            position = {(r["kind"], r["name"]): i for i, r in enumerate(results)}
            assert position[("Job", "web-migrate")] < position[("ConfigMap", "web-config")]
            assert position[("ConfigMap", "web-config")] < position[("Deployment", "web")]
            assert position[("Deployment", "web")] < position[("Service", "web")]
            assert position[("Service", "web")] < position[("Job", "web-smoke-test")], steps
            at = {(r["kind"], r["name"]): r["at"] for r in results}
            assert at[("Job", "web-migrate")] < at[("ConfigMap", "web-config")]
            assert at[("Service", "web")] <= at[("Job", "web-smoke-test")]


SYNC_FAIL_HOOK = """\
apiVersion: batch/v1
kind: Job
metadata:
  name: web-sync-failed
  namespace: web
  annotations:
    fleet.dev/hook: SyncFail
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers:
        - name: notify
          image: ghcr.io/example/notify:1.0.0
"""


async def test_a_failing_hook_fails_the_sync_and_runs_the_sync_fail_hook(
    clusters: list[ClusterHandle], tmp_path: Path
) -> None:
    namespace_files = seed_app("web")

    def failing(doc: dict[str, object]) -> None:
        doc["spec"]["template"]["spec"]["containers"][0]["image"] = "ghcr.io/example/fail:1"  # type: ignore[index]

    async with world(clusters, tmp_path) as w:
        ns = w.namespace
        kustomization = namespace_files["apps/web/base/kustomization.yaml"]
        sha = await w.commit(
            "a migration that fails, and a hook that reports it",
            {
                "base/migrate-job.yaml": edit_yaml(
                    namespace_files["apps/web/base/migrate-job.yaml"], failing
                ).replace("namespace: web", f"namespace: {ns}"),
                "base/sync-fail-job.yaml": SYNC_FAIL_HOOK.replace("namespace: web", f"namespace: {ns}"),
                "base/kustomization.yaml": kustomization.replace(
                    "  - smoke-test-job.yaml\n", "  - smoke-test-job.yaml\n  - sync-fail-job.yaml\n"
                ),
            },
        )
        daemon = await w.daemon(w.config(sync_policy={"timeouts": {"hook": "30s"}}))
        for name in w.names:
            sync = await daemon.wait_sync(name, sha, result="Failed", timeout=40)
            assert "web-migrate" in sync["message"], sync
            kube = w.kubes[name]
            # The SyncFail hook ran; nothing of the Sync phase was applied.
            hook = await kube.job(ns, "web-sync-failed")
            assert hook is not None, f"no SyncFail hook on {name}"
            assert await kube.config_map(ns, "web-config") is None
            assert await kube.deployment(ns, "web") is None
            assert await kube.job(ns, "web-smoke-test") is None
            results = (await daemon.detail(sync["id"]))["results"]
            failed = [r for r in results if r["action"] == "failed"]
            assert any(r["name"] == "web-migrate" for r in failed), results
            assert any(
                r["name"] == "web-sync-failed" and r["phase"] == "SyncFail" for r in results
            ), results
            status = await daemon.status_of(name)
            assert (status["last_sync_id"], status["last_result"]) == (sync["id"], "Failed")
            assert status["sync"] == "OutOfSync", status


async def test_a_crash_looping_deployment_fails_the_sync_at_its_deadline(
    clusters: list[ClusterHandle], tmp_path: Path
) -> None:
    files = seed_app("web")

    def crashing(doc: dict[str, object]) -> None:
        doc["spec"]["progressDeadlineSeconds"] = 2  # type: ignore[index]
        doc["spec"]["template"]["spec"]["containers"][0]["image"] = "ghcr.io/example/crashloop:2"  # type: ignore[index]

    async with world(clusters, tmp_path) as w:
        ns = w.namespace
        sha = await w.commit(
            "a release that crash-loops",
            {
                "base/deployment.yaml": edit_yaml(files["apps/web/base/deployment.yaml"], crashing)
                .replace("namespace: web", f"namespace: {ns}"),
            },
        )
        daemon = await w.daemon(w.config(sync_policy={"timeouts": {"wave": "30s"}}))
        for name in w.names:
            sync = await daemon.wait_sync(name, sha, result="Failed", timeout=40)
            assert "Deployment" in sync["message"] and "web" in sync["message"], sync
            assert "progress deadline" in sync["message"], sync
            assert sync["healthy_at"] is None
            results = (await daemon.detail(sync["id"]))["results"]
            failed = [r for r in results if r["action"] == "failed"]
            assert [(r["kind"], r["name"]) for r in failed] == [("Deployment", "web")], results
            assert "progress deadline" in failed[0]["message"]
            kube = w.kubes[name]
            # Wave 1 and the PostSync hook never ran.
            assert await kube.service(ns, "web") is None
            assert await kube.job(ns, "web-smoke-test") is None
            status = await daemon.status_of(name)
            assert status["health"] == "Degraded", status


async def test_a_wave_that_stays_unhealthy_fails_at_the_wave_timeout(
    clusters: list[ClusterHandle], tmp_path: Path
) -> None:
    files = seed_app("web")

    def never_ready(doc: dict[str, object]) -> None:
        template = doc["spec"]["template"]  # type: ignore[index]
        template["metadata"]["annotations"] = {"sim.fleet.dev/ready-delay": "inf"}

    async with world(clusters[:1], tmp_path) as w:
        ns = w.namespace
        sha = await w.commit(
            "pods that never start",
            {
                "base/deployment.yaml": edit_yaml(files["apps/web/base/deployment.yaml"], never_ready)
                .replace("namespace: web", f"namespace: {ns}"),
            },
        )
        daemon = await w.daemon(w.config(sync_policy={"timeouts": {"wave": "3s"}}))
        name = w.names[0]
        sync = await daemon.wait_sync(name, sha, result="Failed", timeout=30)
        assert "Deployment" in sync["message"] and "web" in sync["message"], sync
        kube = w.kubes[name]
        assert await kube.service(ns, "web") is None
        assert await kube.job(ns, "web-smoke-test") is None
