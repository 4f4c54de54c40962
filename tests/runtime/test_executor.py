"""One sync run by SyncExecutor against a simulated cluster with its controllers."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio
import pytest

from fleet.adapters.kube.client import ClusterClient
from fleet.adapters.kube.connection import ClusterEndpoint
from fleet.engine import Progress, SyncOptions
from fleet.engine.decisions import Running, Succeeded
from fleet.model.manifests import Manifest
from fleet.runtime.clusters import ClusterRuntime
from fleet.runtime.executor import ResourceRow, SyncExecutor, SyncJob
from fleet.sim import SimFleet

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
