"""The drift phase of ``bench.daemon``: someone deletes an object on every cluster.

A ConfigMap of the app is deleted behind the daemon's back on every simulated cluster
(straight to each API server, as ``kubectl delete`` would, but from one process so that
1,000 clusters take seconds, not the minutes of 1,000 kubectl processes). The daemon's
watch sees it, and self-heal puts it back. Timed from the last delete until every
cluster has finished a newer sync and is Synced and Healthy again.
"""

from __future__ import annotations

from pathlib import Path

import anyio

from fleet.adapters.kube.client import ClusterClient
from fleet.adapters.kube.connection import ClusterEndpoint
from fleet.model.refs import ObjectRef

#: Clusters deleted from at once.
AT_ONCE = 50
#: The User-Agent of these deletes, so the simulator counts them apart from the daemon's.
CLIENT = "fleet-bench-drift"


async def _delete_everywhere(
    kubeconfig: Path, names: list[str], ref: ObjectRef
) -> dict[str, str | None]:
    outcome: dict[str, str | None] = {}
    limit = anyio.Semaphore(AT_ONCE)

    async def one(name: str) -> None:
        async with limit:
            endpoint = ClusterEndpoint(name, kubeconfig=kubeconfig, context=name)
            try:
                async with await ClusterClient.connect(endpoint) as client:
                    client._api.user_agent = f"{CLIENT}/1"  # bench only: its own name
                    deleted = await client.delete("v1", ref)
                outcome[name] = None if deleted else f"{ref} was not there"
            except Exception as error:  # reported with the figures, not raised
                outcome[name] = f"{type(error).__name__}: {error}"

    async with anyio.create_task_group() as group:
        for name in names:
            group.start_soon(one, name)
    return outcome


def delete_everywhere(
    kubeconfig: Path, names: list[str], namespace: str, name: str
) -> tuple[list[str], list[str]]:
    """Delete ConfigMap ``namespace/name`` on every cluster (a failure is tried once
    more): (the clusters it was deleted on, what went wrong elsewhere)."""
    ref = ObjectRef("", "ConfigMap", namespace, name)
    outcome = anyio.run(_delete_everywhere, kubeconfig, names, ref)
    again = [n for n, error in outcome.items() if error is not None]
    if again:
        outcome.update(anyio.run(_delete_everywhere, kubeconfig, again, ref))
    deleted = [n for n in names if outcome.get(n, "") is None]
    return deleted, [f"{n}: {e}" for n, e in outcome.items() if e is not None]
