"""Clusters for end-to-end tests: simulated by default, real ones on request.

``clusters`` yields a list of :class:`ClusterHandle`. By default each is a cluster of a
fresh :class:`fleet.sim.SimFleet` (with its status controllers). When
``FLEET_TEST_KUBECONFIG`` is set, the handles are the contexts of that kubeconfig
(``FLEET_TEST_CONTEXTS``, comma-separated, or its current context); where such a
cluster has no nodes (a bare API server), fleet's status controllers run against it
for the duration of the test. Tests that need faults skip on real clusters, saying so.

Override ``cluster_count`` in a test module to get more or fewer simulated clusters.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from fleet.sim.faults import Faults
from fleet.sim.server import SimCluster

READY_DELAY = 0.2


@dataclass
class ClusterHandle:
    name: str
    kubeconfig: Path
    context: str
    #: The simulated cluster, or None on a real one.
    sim: SimCluster | None
    cache_dir: Path

    @property
    def faults(self) -> Faults | None:
        return self.sim.faults if self.sim is not None else None

    def require_faults(self) -> Faults:
        """The cluster's faults; skips the test on a real cluster."""
        if self.sim is None:
            pytest.skip("fault injection needs a simulated cluster (FLEET_TEST_KUBECONFIG is set)")
        return self.sim.faults

    async def api_client(self) -> Any:
        """A new kubernetes_asyncio ApiClient for this cluster (close it, or use ``async with``)."""
        from kubernetes_asyncio import config

        return await config.new_client_from_config(
            config_file=str(self.kubeconfig), context=self.context, persist_config=False
        )

    async def dynamic_client(self, api_client: Any) -> Any:
        """A DynamicClient with a discovery cache file of its own (not the shared /tmp one)."""
        from kubernetes_asyncio.dynamic import DynamicClient

        return await DynamicClient(
            api_client, cache_file=str(self.cache_dir / f"{self.name}-discovery.json")
        )


@pytest.fixture
def cluster_count() -> int:
    return 2


def _real_contexts() -> tuple[Path, list[str]] | None:
    path = os.environ.get("FLEET_TEST_KUBECONFIG")
    if not path:
        return None
    kubeconfig = Path(path)
    doc = yaml.safe_load(kubeconfig.read_text())
    wanted = [c.strip() for c in os.environ.get("FLEET_TEST_CONTEXTS", "").split(",") if c.strip()]
    contexts = wanted or [doc.get("current-context")]
    known = {c["name"] for c in doc.get("contexts") or []}
    missing = [c for c in contexts if c not in known]
    if missing:
        raise pytest.UsageError(f"{kubeconfig}: no context named {', '.join(missing)}")
    return kubeconfig, contexts


async def _has_nodes(handle: ClusterHandle) -> bool:
    from kubernetes_asyncio import client

    async with await handle.api_client() as api:
        nodes = await client.CoreV1Api(api).list_node(limit=1)
        return bool(nodes.items)


@asynccontextmanager
async def cluster_handles(work_dir: Path, count: int) -> AsyncIterator[list[ClusterHandle]]:
    """What the ``clusters`` fixture yields, as a plain async context manager."""
    real = _real_contexts()
    async with AsyncExitStack() as stack:
        if real is None:
            from fleet.sim.fleet import SimFleet

            fleet = await stack.enter_async_context(
                SimFleet.start(work_dir / "sim", count=count, ready_delay=READY_DELAY)
            )
            handles = [
                ClusterHandle(c.name, fleet.kubeconfig_path, c.name, c, work_dir)
                for c in fleet.clusters.values()
            ]
        else:
            from fleet.sim.controllers import controllers_running

            kubeconfig, contexts = real
            handles = [ClusterHandle(c, kubeconfig, c, None, work_dir) for c in contexts]
            for handle in handles:
                if not await _has_nodes(handle):
                    api = await stack.enter_async_context(await handle.api_client())
                    await stack.enter_async_context(
                        controllers_running(api, ready_delay=READY_DELAY)
                    )
        yield handles


@pytest.fixture
async def clusters(tmp_path: Path, cluster_count: int) -> AsyncIterator[list[ClusterHandle]]:
    async with cluster_handles(tmp_path, cluster_count) as handles:
        yield handles
