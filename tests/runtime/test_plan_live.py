"""``fleet plan`` reads a cluster as the sync would: here, createNamespace's namespace.

That namespace is untracked (no fleet label), so the watch cache never holds it; the plan
must GET it like the sync's executor does, or an existing one always plans as "create".
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest

from fleet.adapters.kube.client import ClusterClient
from fleet.adapters.kube.connection import ClusterEndpoint
from fleet.engine import PlanMemo, Progress, SyncInput, SyncOptions
from fleet.engine.preview import ClusterPreview, dry_runs, preview
from fleet.model.manifests import Manifest
from fleet.runtime.clusters import ClusterRuntime
from fleet.runtime.plan import dry_run_all, live_objects
from fleet.sim import SimFleet

pytestmark = pytest.mark.anyio

OPTIONS = SyncOptions(create_namespace=True, namespace="team-a")


def config_map(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "team-a"},
        "data": {"name": name},
    }


async def planned(client: ClusterClient, runtime: ClusterRuntime) -> ClusterPreview:
    """The plan of one ConfigMap in team-a, made as FleetPlanner makes it."""
    desired = [Manifest.from_body(config_map("settings"))]
    limit = anyio.CapacityLimiter(4)
    live = await live_objects(runtime.cache, client, "web", OPTIONS, desired, limit)
    inp = SyncInput(
        app="web",
        revision="c0ffee",
        desired=desired,
        live=live,
        inventory=frozenset(),
        options=OPTIONS,
        progress=Progress.start(0.0),
        now=0.0,
        memo=PlanMemo(),
    )
    actions, refusals = dry_runs(inp)
    assert refusals == []
    answers = await dry_run_all(client, actions, inp, limit)
    return preview(inp, answers)


def actions_by_kind(found: ClusterPreview) -> dict[str, str]:
    return {o.ref.kind: str(o.action) for o in found.objects}


@pytest.mark.parametrize("exists", [False, True], ids=["missing", "existing"])
async def test_create_namespace_plans_a_create_only_when_the_namespace_is_missing(
    tmp_path: Path, exists: bool
) -> None:
    async with SimFleet.start(tmp_path / "sim", names=["one"]) as sim:
        endpoint = ClusterEndpoint("one", kubeconfig=sim.kubeconfig_path, context="one")
        async with (
            await ClusterClient.connect(endpoint) as client,
            anyio.create_task_group() as tasks,
        ):
            if exists:  # made earlier by a sync (or by hand): carries no fleet label
                namespace = {"apiVersion": "v1", "kind": "Namespace"}
                await client.create({**namespace, "metadata": {"name": "team-a"}})
            runtime = ClusterRuntime(client, tasks)
            runtime.ensure_kinds([("v1", "ConfigMap"), ("v1", "Namespace")])
            kinds = [("v1", "ConfigMap"), ("v1", "Namespace")]
            assert await runtime.wait_listed(kinds, 10)
            with anyio.fail_after(30):
                found = await planned(client, runtime)
            runtime.stop()
            tasks.cancel_scope.cancel()

    if exists:
        # Without the GET the plan would say "create Namespace/team-a" every time.
        assert actions_by_kind(found) == {"ConfigMap": "create"}
    else:
        assert actions_by_kind(found) == {"Namespace": "create", "ConfigMap": "create"}
