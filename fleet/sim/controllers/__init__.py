"""Status controllers that move objects as a real cluster would, written as API clients.

They list and watch through kubernetes_asyncio and write only through the API (status
subresources, creating and deleting children), so they drive the simulator and a bare
kube-apiserver alike: Deployment -> ReplicaSet -> Pods that become Ready after
``ready_delay``, StatefulSets, DaemonSets on pretend nodes, Jobs, Pod phases,
LoadBalancer ingress and bound PVCs. Failure markers: :mod:`.markers`. Behaviour and
markers are documented in docs/sim-controllers.md.

Entry points:

- :func:`run_controllers` for one cluster, until cancelled;
- :func:`run_fleet_controllers` for many clusters at once;
- :func:`controllers_running`, an async context manager for tests and fixtures.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from functools import partial

import anyio
from kubernetes_asyncio import client

from fleet.sim.controllers.markers import (
    FAILING_IMAGE_NAMES,
    READY_DELAY_ANNOTATION,
)
from fleet.sim.controllers.runtime import Controllers, ControllerSettings, run_controllers

__all__ = [
    "FAILING_IMAGE_NAMES",
    "READY_DELAY_ANNOTATION",
    "ControllerSettings",
    "Controllers",
    "controllers_running",
    "run_controllers",
    "run_fleet_controllers",
]


async def run_fleet_controllers(
    api_clients: Iterable[client.ApiClient],
    *,
    ready_delay: float = 1.0,
    namespace: str | None = None,
    nodes: int = 1,
) -> None:
    """One set of controllers per cluster, concurrently, until cancelled."""
    async with anyio.create_task_group() as tg:
        for api_client in api_clients:
            tg.start_soon(
                partial(
                    run_controllers,
                    api_client,
                    ready_delay=ready_delay,
                    namespace=namespace,
                    nodes=nodes,
                )
            )


@asynccontextmanager
async def controllers_running(
    api_client: client.ApiClient,
    *,
    ready_delay: float = 1.0,
    namespace: str | None = None,
    nodes: int = 1,
) -> AsyncIterator[None]:
    """Controllers for the body of a ``with`` block; entered once the caches are listed."""
    async with anyio.create_task_group() as tg:
        await tg.start(
            partial(
                run_controllers,
                api_client,
                ready_delay=ready_delay,
                namespace=namespace,
                nodes=nodes,
            )
        )
        try:
            yield
        finally:
            tg.cancel_scope.cancel()
