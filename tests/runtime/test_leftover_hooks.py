"""A sync killed after its PreSync hook ran leaves the hook holding fleet's finalizer;
the next sync (or, when no sync runs, the worker's cleanup) lets it go.

Against a simulated API server with its controllers: the hook Job really completes, the
namespace really stays Terminating while the finalizer is held.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest

from fleet.adapters.kube.client import ClusterClient
from fleet.adapters.kube.connection import ClusterEndpoint
from fleet.engine import SyncOptions, Timeouts
from fleet.engine.decisions import Succeeded
from fleet.engine.leftover_hooks import leftover_hooks
from fleet.model.annotations import HOOK_FINALIZER
from fleet.model.manifests import Manifest
from fleet.model.refs import ObjectRef
from fleet.runtime.clusters import ClusterRuntime
from fleet.runtime.executor import SyncExecutor, SyncJob
from fleet.sim import SimFleet
from fleet.sim.controllers import READY_DELAY_ANNOTATION
from tests.runtime.test_executor import RecordingJournal

pytestmark = pytest.mark.anyio

NS = "team-a"
NAMESPACE = ObjectRef("", "Namespace", "", NS)
MIGRATE = ObjectRef("batch", "Job", NS, "migrate")
OPTIONS = SyncOptions(timeouts=Timeouts(health=60.0, hook=30.0))
KINDS = [
    ("v1", "Namespace"),
    ("v1", "ConfigMap"),
    ("apps/v1", "Deployment"),
    ("batch/v1", "Job"),
]


def namespace() -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}


def migrate(policy: str | None) -> dict[str, Any]:
    annotations = {"argocd.argoproj.io/hook": "PreSync"}
    if policy is not None:
        annotations["argocd.argoproj.io/hook-delete-policy"] = policy
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "migrate", "namespace": NS, "annotations": annotations},
        "spec": {
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "m", "image": "busybox"}],
                }
            }
        },
    }


def slow_deployment() -> dict[str, Any]:
    """Ready only after a minute: the sync is still waiting for it when it is killed."""
    labels = {"app": "web"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": NS},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels, "annotations": {READY_DELAY_ANNOTATION: "60"}},
                "spec": {"containers": [{"name": "main", "image": "nginx:1.27"}]},
            },
        },
    }


def settings_map() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "settings", "namespace": NS},
        "data": {"a": "b"},
    }


@dataclass
class Cluster:
    client: ClusterClient
    runtime: ClusterRuntime

    def executor(self, revision: str, *bodies: dict[str, Any]) -> SyncExecutor:
        job = SyncJob(
            app="web",
            cluster="one",
            revision=revision,
            desired=[Manifest.from_body(b) for b in bodies],
            inventory=frozenset(),
            options=OPTIONS,
        )
        return SyncExecutor(job, self.client, self.runtime.cache, RecordingJournal())

    async def live(self, ref: ObjectRef) -> dict[str, Any] | None:
        version = {"batch": "batch/v1", "": "v1"}[ref.group]
        return await self.client.get(version, ref)

    async def finalizers(self, ref: ObjectRef) -> list[str]:
        obj = await self.live(ref)
        assert obj is not None, ref
        return list(obj["metadata"].get("finalizers") or [])


@asynccontextmanager
async def cluster(tmp_path: Path) -> AsyncIterator[Cluster]:
    async with SimFleet.start(tmp_path / "sim", names=["one"], ready_delay=0.2) as sim:
        endpoint = ClusterEndpoint("one", kubeconfig=sim.kubeconfig_path, context="one")
        async with (
            await ClusterClient.connect(endpoint) as client,
            anyio.create_task_group() as tasks,
        ):
            runtime = ClusterRuntime(client, tasks)
            runtime.ensure_kinds(KINDS)
            assert await runtime.wait_listed(KINDS, 10)
            yield Cluster(client, runtime)
            runtime.stop()
            tasks.cancel_scope.cancel()


async def killed_mid_sync(c: Cluster, policy: str | None) -> None:
    """Run a sync until its PreSync hook completed and it waits for the Deployment, then
    cancel it where it stands, as kill -9 would: no cleanup runs."""
    executor = c.executor("rev1", namespace(), migrate(policy), slow_deployment())
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(executor.run)
        with anyio.fail_after(30):
            while True:
                hook = c.runtime.cache.get(MIGRATE)
                conditions = ((hook or {}).get("status") or {}).get("conditions") or []
                complete = any(x.get("type") == "Complete" for x in conditions)
                if complete and c.runtime.cache.get(ObjectRef("apps", "Deployment", NS, "web")):
                    break
                await anyio.sleep(0.05)
        tasks.cancel_scope.cancel()
    assert HOOK_FINALIZER in await c.finalizers(MIGRATE), "the killed sync released its hook"


async def gone(c: Cluster, ref: ObjectRef, seconds: float = 10.0) -> bool:
    """Whether ``ref`` is gone within ``seconds``."""
    for _ in range(int(seconds * 10)):
        if await c.live(ref) is None:
            return True
        await anyio.sleep(0.1)
    return False


async def namespace_deleted(c: Cluster) -> bool:
    """Delete the namespace; True when it is gone within 10 s (False: stuck Terminating)."""
    await c.client.delete("v1", NAMESPACE)
    return await gone(c, NAMESPACE)


async def test_the_next_sync_releases_the_hook_a_killed_sync_left(tmp_path: Path) -> None:
    async with cluster(tmp_path) as c:
        await killed_mid_sync(c, policy=None)
        # The next revision has no hooks at all: only the cleanup can let the Job go.
        with anyio.fail_after(30):
            verdict = await c.executor("rev2", namespace(), settings_map()).run()
        assert isinstance(verdict, Succeeded), verdict
        assert MIGRATE not in verdict.inventory
        assert await c.finalizers(MIGRATE) == []  # BeforeHookCreation: kept, released
        assert await namespace_deleted(c), "the namespace stayed Terminating"


async def test_with_no_sync_to_run_the_leftover_is_cleaned_up_by_its_policy(
    tmp_path: Path,
) -> None:
    async with cluster(tmp_path) as c:
        await killed_mid_sync(c, policy="HookSucceeded")
        # What the worker does when the restart finds nothing to sync (leftover_hooks.py).
        found = leftover_hooks("web", c.runtime.cache.objects_of("web").items())
        assert [(h.ref, h.delete) for h in found] == [(MIGRATE, True)]
        results = await c.executor("rev1").clean_up([h.action() for h in found])
        assert [r.ok for r in results] == [True]
        assert await gone(c, MIGRATE), "succeeded under HookSucceeded: deleted"
        assert await namespace_deleted(c), "the namespace stayed Terminating"
