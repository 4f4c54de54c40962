"""The daemon end to end: a commit reaches every cluster, in waves, with hooks and gates.

Each test runs ``fleet run`` as a process against the ``clusters`` fixture (simulated by
default, real with FLEET_TEST_KUBECONFIG) and a real Git server on loopback.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import anyio
import pytest

from tests.e2e.conftest import ClusterHandle
from tests.e2e.daemon_support import JSON, REPLICAS, Milestones, by_cluster, world

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]


@pytest.fixture
def cluster_count() -> int:
    return 3


def slow_pods(seconds: str) -> Callable[[JSON], None]:
    """A change giving a pod template the simulated controllers' readiness delay."""

    def change(doc: JSON) -> None:
        template = doc["spec"]["template"]
        template.setdefault("metadata", {}).setdefault("annotations", {})[
            "sim.fleet.dev/ready-delay"
        ] = seconds

    return change


async def test_a_commit_reaches_every_cluster_in_waves_with_its_hooks_in_order(
    clusters: list[ClusterHandle], tmp_path: Path
) -> None:
    async with world(clusters, tmp_path, transport="http") as w:
        # The migration runs long enough (1 s pending, 1 s running on simulated clusters)
        # that anything started before it completes would be seen doing so.
        sha = await w.commit(
            "a migration that takes a while",
            {"base/migrate-job.yaml": w.edited("base/migrate-job.yaml", slow_pods("1"))},
        )
        watchers = [Milestones(w.kubes[name], w.namespace) for name in w.names]
        async with anyio.create_task_group() as group:
            for watcher in watchers:
                group.start_soon(watcher.run)
            daemon = await w.daemon()
            rows = await daemon.wait_converged(w.names, sha)
            group.cancel_scope.cancel()
        assert {r["cluster"] for r in rows} == set(w.names)

        # Every cluster holds the app, as its environment's overlay says.
        for name in w.names:
            kube = w.kubes[name]
            live = await kube.deployment(w.namespace, "web")
            assert live is not None
            assert live["spec"]["replicas"] == REPLICAS[w.env_of(name)]
            assert live["metadata"]["labels"]["app.kubernetes.io/name"] == "web"
            assert await kube.config_map(w.namespace, "web-config") is not None
            assert await kube.service(w.namespace, "web") is not None

        # History: one Succeeded sync per cluster, with every resource's result.
        history = by_cluster(await daemon.history(app="web"))
        assert set(history) == set(w.names)
        for name in w.names:
            assert [(s["revision"], s["result"]) for s in history[name]] == [(sha, "Succeeded")]
            sync = history[name][0]
            assert sync["trigger"] in {"poll", "webhook"}
            assert sync["started_at"] <= sync["applied_at"] <= sync["healthy_at"]
            assert sync["healthy_at"] <= sync["finished_at"]
            recorded = (await daemon.detail(sync["id"]))["results"]
            # How each hook ended is recorded once it has: a row of its own after the sync.
            ended = {
                (r["kind"], r["name"]): r["health"] for r in recorded if r["action"] == "completed"
            }
            assert ended == {
                ("Job", "web-migrate"): "Succeeded",
                ("Job", "web-smoke-test"): "Succeeded",
            }
            results = [r for r in recorded if r["action"] != "completed"]
            actions = {(r["kind"], r["name"]): r["action"] for r in results}
            assert actions == {
                ("Namespace", w.namespace): "created",
                ("ConfigMap", "web-config"): "created",
                ("Deployment", "web"): "created",
                ("Service", "web"): "created",
                ("Job", "web-migrate"): "hook",
                ("Job", "web-smoke-test"): "hook",
            }, results
            steps = {(r["kind"], r["name"]): (r["phase"], r["wave"]) for r in results}
            assert steps[("Job", "web-migrate")] == ("PreSync", 0)
            assert steps[("ConfigMap", "web-config")] == ("Sync", -1)
            assert steps[("Deployment", "web")] == ("Sync", 0)
            assert steps[("Service", "web")] == ("Sync", 1)
            assert steps[("Job", "web-smoke-test")] == ("PostSync", 0)
            # Recorded in the order it was done.
            at = {(r["kind"], r["name"]): r["at"] for r in results}
            assert (
                at[("Job", "web-migrate")]
                < at[("ConfigMap", "web-config")]
                < at[("Deployment", "web")]
                < at[("Service", "web")]
                <= at[("Job", "web-smoke-test")]
            ), results

        # What each cluster showed, moment by moment.
        for name, seen in zip(w.names, watchers, strict=True):
            order = sorted(seen.seen, key=seen.seen.__getitem__)
            # PreSync: the migration completes before the Sync phase's first wave starts.
            assert seen.before("migrate_created", "migrate_complete"), (name, order)
            assert seen.before("migrate_complete", "configmap_created"), (name, order)
            assert seen.seen["configmap_created"] - seen.seen["migrate_created"] >= 1.0, order
            # Wave 1 (the Service) only after wave 0's Deployment is healthy.
            assert seen.before("configmap_created", "deployment_created"), (name, order)
            assert seen.before("deployment_healthy", "service_created"), (name, order)
            # PostSync after everything is healthy.
            assert seen.before("service_created", "smoke_created"), (name, order)

        # A graceful stop: SIGTERM ends the daemon promptly and cleanly.
        assert await daemon.stop(timeout=15) == 0


SYNC_FAIL_HOOK = """\
apiVersion: batch/v1
kind: Job
metadata:
  name: web-sync-failed
  namespace: {namespace}
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
    def failing(doc: JSON) -> None:
        # The simulated kubelet fails containers of an image named "fail".
        doc["spec"]["template"]["spec"]["containers"][0]["image"] = "ghcr.io/example/fail:1"

    async with world(clusters, tmp_path) as w:
        ns = w.namespace
        kustomization = w.source.read(w.path("base/kustomization.yaml"))
        sha = await w.commit(
            "a migration that fails, and a hook that reports it",
            {
                "base/migrate-job.yaml": w.edited("base/migrate-job.yaml", failing),
                "base/sync-fail-job.yaml": SYNC_FAIL_HOOK.format(namespace=ns),
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
            assert await kube.job(ns, "web-sync-failed") is not None, f"no SyncFail hook on {name}"
            assert await kube.config_map(ns, "web-config") is None
            assert await kube.deployment(ns, "web") is None
            assert await kube.job(ns, "web-smoke-test") is None
            results = (await daemon.detail(sync["id"]))["results"]
            failed = [r for r in results if r["action"] == "failed"]
            assert [(r["phase"], r["name"]) for r in failed] == [("PreSync", "web-migrate")], (
                results
            )
            assert ("SyncFail", "web-sync-failed", "hook") in {
                (r["phase"], r["name"], r["action"]) for r in results
            }, results
            status = await daemon.status_of(name)
            assert (status["last_sync_id"], status["last_result"]) == (sync["id"], "Failed")
            assert status["sync"] == "OutOfSync", status
        # A failed revision is not healed into place behind its failed hook.
        await anyio.sleep(1.5)
        for name in w.names:
            assert await w.kubes[name].deployment(ns, "web") is None
            assert [s["result"] for s in await daemon.history(cluster=name)] == ["Failed"]


async def test_an_unhealthy_deployment_fails_the_sync_at_its_deadline(
    clusters: list[ClusterHandle], tmp_path: Path
) -> None:
    def crash_looping(doc: JSON) -> None:
        # Pods of an image named "crashloop" crash-loop on simulated clusters; the
        # Deployment then misses its 2 s progress deadline.
        doc["spec"]["progressDeadlineSeconds"] = 2
        doc["spec"]["template"]["spec"]["containers"][0]["image"] = "ghcr.io/example/crashloop:2"

    async with world(clusters, tmp_path) as w:
        ns = w.namespace
        # dev and staging crash-loop (Degraded at the progress deadline); in prod the
        # pods never become ready and the progress deadline is far away, so the
        # sync's own wave timeout ends it.
        sha = await w.commit(
            "a release that does not come up",
            {
                "overlays/dev/deployment-patch.yaml": w.edited(
                    "overlays/dev/deployment-patch.yaml", crash_looping
                ),
                "overlays/staging/deployment-patch.yaml": w.edited(
                    "overlays/staging/deployment-patch.yaml", crash_looping
                ),
                "overlays/prod/deployment-patch.yaml": w.edited(
                    "overlays/prod/deployment-patch.yaml", slow_pods("inf")
                ),
            },
        )
        daemon = await w.daemon(w.config(sync_policy={"timeouts": {"wave": "5s"}}))
        for name in w.names:
            sync = await daemon.wait_sync(name, sha, result="Failed", timeout=40)
            message = sync["message"]
            assert f"Deployment.apps {ns}/web" in message, sync
            reason = "not healthy after 5s" if w.env_of(name) == "prod" else "progress deadline"
            assert reason in message, sync
            assert sync["healthy_at"] is None
            results = (await daemon.detail(sync["id"]))["results"]
            failed = [r for r in results if r["action"] == "failed"]
            assert [(r["kind"], r["name"], r["wave"]) for r in failed] == [
                ("Deployment", "web", 0)
            ], results
            assert reason in failed[0]["message"], failed
            kube = w.kubes[name]
            # Wave 1 and the PostSync hook never ran.
            assert await kube.service(ns, "web") is None
            assert await kube.job(ns, "web-smoke-test") is None
            assert not [r for r in results if r["kind"] == "Service"]
            status = await daemon.status_of(name)
            # App health is the worst of its resources: Degraded where pods crash-loop;
            # in prod the Deployment is only Progressing, but the wave-1 Service was never
            # applied, and Missing ranks above Progressing.
            expected = "Missing" if w.env_of(name) == "prod" else "Degraded"
            assert status["health"] == expected, status
            # One failure, one event in the feed.
            about = [
                e
                for e in await daemon.events(cluster=name)
                if e["kind"] == "sync_failed"
                and sync["id"] in (e["sync_id"], e["details"].get("sync_id"))
            ]
            assert len(about) == 1, about
