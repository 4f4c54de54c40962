"""One sync run by SyncExecutor against a simulated cluster with its controllers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import anyio
import pytest

from fleet.adapters.kube.client import ClusterClient, Limits
from fleet.adapters.kube.connection import ClusterEndpoint
from fleet.engine import Progress, SyncOptions, Timeouts, Verdict
from fleet.engine.decisions import Failed, Running, Succeeded
from fleet.model.manifests import Manifest
from fleet.runtime.clusters import ClusterRuntime
from fleet.runtime.executor import ResourceRow, SyncExecutor, SyncJob
from fleet.sim import SimFleet
from fleet.sim.fleet import CONTROLLERS_USER_AGENT

pytestmark = pytest.mark.anyio


def deployment(name: str) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "main", "image": "nginx:1.27"}]},
            },
        },
    }


class RecordingJournal:
    def __init__(self) -> None:
        self.reports: list[tuple[Progress, Running]] = []
        self.rows: list[ResourceRow] = []

    async def progress(self, progress: Progress, status: Running) -> None:
        self.reports.append((progress, status))

    async def resources(self, rows: Sequence[ResourceRow]) -> None:
        self.rows.extend(rows)


async def test_a_rollout_reports_each_change_of_progress_once(tmp_path: Path) -> None:
    async with SimFleet.start(tmp_path / "sim", names=["one"], ready_delay=0.5) as sim:
        endpoint = ClusterEndpoint("one", kubeconfig=sim.kubeconfig_path, context="one")
        async with (
            await ClusterClient.connect(endpoint) as client,
            anyio.create_task_group() as tasks,
        ):
            runtime = ClusterRuntime(client, tasks)
            runtime.ensure_kinds([("apps/v1", "Deployment")])
            assert await runtime.wait_listed([("apps/v1", "Deployment")], 10)
            desired = [Manifest.from_body(deployment(f"web-{i}")) for i in range(4)]
            job = SyncJob(
                app="web",
                cluster="one",
                revision="c0ffee",
                desired=desired,
                inventory=frozenset(),
                options=SyncOptions(),
            )
            journal = RecordingJournal()
            with anyio.fail_after(30):
                verdict = await SyncExecutor(job, client, runtime.cache, journal).run()
            runtime.stop()
            tasks.cancel_scope.cancel()

    assert isinstance(verdict, Succeeded), verdict
    assert sorted(row.ref.name for row in journal.rows) == [f"web-{i}" for i in range(4)]
    assert {row.action for row in journal.rows} == {"created"}
    # Many watch events wake the health wait (each pod, ReplicaSet and Deployment status
    # change); only those that change the progress or the status are reported.
    assert journal.reports, "progress is saved"
    for before, after in zip(journal.reports, journal.reports[1:], strict=False):
        assert before != after


# -- CreateNamespace: the namespace fleet creates is part of what the sync knows --------

WRITE_VERBS = ("create", "update", "patch", "apply", "delete", "deletecollection")


def config_map(name: str, namespace: str, **labels: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "data": {"name": name},
    }


def fleet_writes(sim: SimFleet) -> int:
    """Writes fleet's client made (dry-runs are counted apart by the simulator)."""
    counts = sim["one"].requests.to_dict()
    return sum(
        verbs.get(verb, 0)
        for client, verbs in counts.items()
        if client != CONTROLLERS_USER_AGENT.split("/", 1)[0]
        for verb in WRITE_VERBS
    )


CREATE_NS = SyncOptions(
    create_namespace=True, namespace="team-a", timeouts=Timeouts(health=5.0, hook=5.0)
)


async def run_job(
    client: ClusterClient, runtime: ClusterRuntime, job: SyncJob, progress: Progress | None = None
) -> tuple[Verdict, RecordingJournal]:
    journal = RecordingJournal()
    with anyio.fail_after(30):
        verdict = await SyncExecutor(job, client, runtime.cache, journal).run(progress)
    return verdict, journal


async def test_create_namespace_an_unchanged_resync_writes_nothing_and_a_resume_goes_on(
    tmp_path: Path,
) -> None:
    desired = [Manifest.from_body(config_map(f"c{i}", "team-a")) for i in range(3)]
    job = SyncJob("web", "one", "c0ffee", desired, frozenset(), CREATE_NS)
    async with SimFleet.start(tmp_path / "sim", names=["one"], ready_delay=0.1) as sim:
        endpoint = ClusterEndpoint("one", kubeconfig=sim.kubeconfig_path, context="one")
        async with (
            await ClusterClient.connect(endpoint) as client,
            anyio.create_task_group() as tasks,
        ):
            runtime = ClusterRuntime(client, tasks)
            runtime.ensure_kinds([("v1", "ConfigMap")])
            assert await runtime.wait_listed([("v1", "ConfigMap")], 10)
            first, journal = await run_job(client, runtime, job)
            assert isinstance(first, Succeeded), first
            created = sorted((row.ref.kind, row.ref.name) for row in journal.rows)
            assert created == [
                ("ConfigMap", "c0"),
                ("ConfigMap", "c1"),
                ("ConfigMap", "c2"),
                ("Namespace", "team-a"),
            ]
            # the progress saved once everything was written, as a kill -9 would leave it
            last_written = next(
                p for p, _ in reversed(journal.reports) if "apply /ConfigMap/team-a/c2" in p.records
            )

            writes = fleet_writes(sim)
            again, journal = await run_job(client, runtime, replace(job, inventory=first.inventory))
            assert isinstance(again, Succeeded), again
            assert journal.rows == [], "nothing applied"
            assert fleet_writes(sim) == writes, "an unchanged resync writes nothing"

            # A resumed sync with a fresh cache (a restarted daemon) knows the namespace
            # it created, rather than waiting for it until the health deadline.
            fresh = ClusterRuntime(client, tasks)
            fresh.ensure_kinds([("v1", "ConfigMap")])
            assert await fresh.wait_listed([("v1", "ConfigMap")], 10)
            resumed, _ = await run_job(client, fresh, job, replace(last_written, waits={}))
            assert isinstance(resumed, Succeeded), resumed
            runtime.stop()
            fresh.stop()
            tasks.cancel_scope.cancel()


async def test_create_namespace_with_one_bad_object_leaves_the_cluster_as_it_was(
    tmp_path: Path,
) -> None:
    desired = [
        Manifest.from_body(config_map("good-1", "team-a")),
        Manifest.from_body(config_map("good-2", "team-a")),
        Manifest.from_body(config_map("bad", "team-a", tier="not a label value!")),
    ]
    job = SyncJob("web", "one", "c0ffee", desired, frozenset(), CREATE_NS)
    async with SimFleet.start(tmp_path / "sim", names=["one"], ready_delay=0.1) as sim:
        endpoint = ClusterEndpoint("one", kubeconfig=sim.kubeconfig_path, context="one")
        async with (
            await ClusterClient.connect(endpoint) as client,
            anyio.create_task_group() as tasks,
        ):
            runtime = ClusterRuntime(client, tasks)
            runtime.ensure_kinds([("v1", "ConfigMap")])
            assert await runtime.wait_listed([("v1", "ConfigMap")], 10)
            verdict, journal = await run_job(client, runtime, job)
            runtime.stop()
            tasks.cancel_scope.cancel()
        assert isinstance(verdict, Failed), verdict
        assert [(f.reason, f.ref and f.ref.name) for f in verdict.failures] == [
            ("DryRunFailed", "bad")
        ]
        assert "Invalid" in verdict.message
        assert [(r.ref.kind, r.action) for r in journal.rows] == [
            ("Namespace", "created"),
            ("Namespace", "deleted"),
        ]
        for _ in range(50):  # the simulator's namespace controller takes a moment
            if sim["one"].get_object("", "namespaces", "", "team-a") is None:
                break
            await anyio.sleep(0.1)
        assert sim["one"].get_object("", "namespaces", "", "team-a") is None
        assert sim["one"].list_objects("", "configmaps", "team-a") == []


@pytest.mark.parametrize(
    ("max_parallel_writes", "connections", "expected"),
    [(3, 6, 3), (None, 2, 2)],
    ids=["as-asked", "as-many-as-the-client-sends"],
)
async def test_a_batch_runs_at_most_max_parallel_writes_requests_at_once(
    tmp_path: Path, max_parallel_writes: int | None, connections: int, expected: int
) -> None:
    """Ten objects, a few at a time: the dry-runs and the applies each reach that many in
    flight (the batch is parallel) and never more (it is bounded). Unless asked, a batch
    runs as many at once as the client sends (more would only wait for its slots)."""
    maps = [
        Manifest.from_body(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": f"settings-{n}", "namespace": "default"},
                "data": {"n": str(n)},
            }
        )
        for n in range(10)
    ]
    async with SimFleet.start(tmp_path / "sim", names=["one"], controllers=False) as sim:
        endpoint = ClusterEndpoint("one", kubeconfig=sim.kubeconfig_path, context="one")
        async with (
            await ClusterClient.connect(endpoint, limits=Limits(connections=connections)) as client,
            anyio.create_task_group() as tasks,
        ):
            runtime = ClusterRuntime(client, tasks)
            runtime.ensure_kinds([("v1", "ConfigMap")])
            assert await runtime.wait_listed([("v1", "ConfigMap")], 10)
            in_flight, most = 0, {"apply:dry-run": 0, "apply": 0}
            real_apply = client.apply

            async def counted_apply(body: Any, *, dry_run: bool = False, force: bool = True) -> Any:
                nonlocal in_flight
                in_flight += 1
                key = "apply:dry-run" if dry_run else "apply"
                most[key] = max(most[key], in_flight)
                try:
                    await anyio.sleep(0.05)  # long enough for the others to start
                    return await real_apply(body, dry_run=dry_run, force=force)
                finally:
                    in_flight -= 1

            client.apply = counted_apply  # type: ignore[method-assign]
            job = SyncJob(
                app="web",
                cluster="one",
                revision="c0ffee",
                desired=maps,
                inventory=frozenset(),
                options=SyncOptions(),
            )
            executor = SyncExecutor(
                job,
                client,
                runtime.cache,
                RecordingJournal(),
                max_parallel_writes=max_parallel_writes,
            )
            verdict = await executor.run()
            assert isinstance(verdict, Succeeded), verdict
            assert most == {"apply:dry-run": expected, "apply": expected}
            runtime.stop()
            tasks.cancel_scope.cancel()
