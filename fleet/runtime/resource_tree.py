"""An app's resource tree on each cluster, for ``GET /api/v1/apps/{app}/resources``.

The roots come from what the daemon already knows: the worker's desired objects, the
live cache (fleet.runtime.livecache) for their live state, and the status for which are
out of sync; hooks are the app's live objects carrying fleet's hook-source annotation.
What the cluster made from them (ReplicaSets and Pods of a Deployment, Jobs of a
CronJob...) is not watched - it carries no app label - so it is listed when asked, in
the namespaces of the workloads only, bounded in time; a cluster that does not answer
in time gives the roots alone, shown unreachable with a note, and is not asked again
for :data:`SILENT_SECONDS` (an open page re-fetches on every change: each must not
wait the bound again). The arranging is pure (fleet.engine.resource_tree).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

import anyio

from fleet.engine.resource_tree import Root, build_tree
from fleet.model import annotations as names
from fleet.model.refs import ObjectRef
from fleet.runtime.health_ready import prepare_health
from fleet.runtime.resource_rows import hook_phase
from fleet.runtime.worker import Worker

log = logging.getLogger(__name__)

JSON = dict[str, Any]

#: Kinds whose owned objects are listed, and the kinds they own (down the chain).
OWNED_KINDS: Mapping[tuple[str, str], tuple[tuple[str, str], ...]] = {
    ("apps", "Deployment"): (("apps/v1", "ReplicaSet"), ("v1", "Pod")),
    ("apps", "StatefulSet"): (("v1", "Pod"),),
    ("apps", "DaemonSet"): (("v1", "Pod"),),
    ("batch", "CronJob"): (("batch/v1", "Job"), ("v1", "Pod")),
    ("batch", "Job"): (("v1", "Pod"),),
}
#: What the tree says of the app's live objects that Git no longer declares.
STALE = "not in Git: the next sync with prune deletes it"
#: How long listing one cluster's owned objects may take before the tree goes without.
LIST_TIMEOUT = 3.0
#: A list is reused this long: an open app page asks again on every change it hears of.
LIST_REUSE_SECONDS = 2.0
#: Clusters whose trees are gathered at once.
PARALLEL_TREES = 16
#: A cluster that did not answer within LIST_TIMEOUT is not listed again for this long.
SILENT_SECONDS = 15.0

_Listed = tuple[float, list[dict[str, Any]]]
#: (cluster, namespace, apiVersion, kind) -> (when, items): shared by every request.
_recent: dict[tuple[str, str, str, str], _Listed] = {}
#: cluster -> when it last did not answer within LIST_TIMEOUT.
_silent: dict[str, float] = {}


async def resource_trees(workers: list[Worker]) -> list[JSON]:
    """The trees of ``workers``, gathered a few clusters at a time, in their order."""
    found: dict[int, JSON] = {}
    limit = anyio.CapacityLimiter(PARALLEL_TREES)

    async def one(index: int, worker: Worker) -> None:
        async with limit:
            found[index] = await resource_tree(worker)

    async with anyio.create_task_group() as tasks:
        for index, worker in enumerate(workers):
            tasks.start_soon(one, index, worker)
    return [found[index] for index in range(len(workers))]


async def resource_tree(worker: Worker) -> JSON:
    """The app's tree on the worker's cluster (see the module docstring)."""
    status = worker.status
    cache = worker.runtime.cache
    reachable = status.reachable is not False
    out_of_sync = set(status.out_of_sync)
    roots: list[Root] = []
    declared: set[ObjectRef] = set()
    for manifest in worker.tracked():
        live = cache.get(manifest.ref)
        declared.add(manifest.ref)
        if not reachable:
            sync = "Unknown"
        elif live is None or str(manifest.ref) in out_of_sync:
            sync = "OutOfSync"
        else:
            sync = "Synced" if status.sync != "Unknown" else "Unknown"
        roots.append(Root(manifest.ref, live, sync))
    for ref, live in cache.objects_of(worker.app.name).items():
        if ref in declared:
            continue
        annotations = (live.get("metadata") or {}).get("annotations") or {}
        if names.HOOK_SOURCE in annotations:
            roots.append(Root(ref, live, "Synced" if reachable else "Unknown", hook_phase(live)))
        else:  # the app's, no longer in Git: a sync with prune deletes it
            roots.append(Root(ref, live, "OutOfSync" if reachable else "Unknown", note=STALE))
    note = ""
    owned: list[Mapping[str, Any]] = []
    answered = True
    if reachable:
        owned, note, answered = await _owned_objects(worker, roots)
    options = worker.options()
    await prepare_health(options.custom_health, [*(r.live for r in roots), *owned])
    nodes = build_tree(roots, owned, options.health_rules, options.custom_health)
    return {
        "app": worker.app.name,
        "cluster": worker.cluster.name,
        "revision": status.revision,
        "sync": status.sync,
        "health": status.health,
        # Not answering now is unreachable for the reader, whatever the watches say yet.
        "reachable": status.reachable if answered else False,
        "message": status.message,
        "note": note,
        "resources": [node.as_json() for node in nodes],
    }


async def _owned_objects(
    worker: Worker, roots: list[Root]
) -> tuple[list[Mapping[str, Any]], str, bool]:
    """Objects the workloads among ``roots`` may own, listed per namespace and kind; a
    note, and whether the cluster answered in time (or was silent a moment ago)."""
    wanted: set[tuple[str, str, str]] = set()
    for root in roots:
        if root.live is None:
            continue
        for api_version, kind in OWNED_KINDS.get((root.ref.group, root.ref.kind), ()):
            wanted.add((root.ref.namespace, api_version, kind))
    found: list[Mapping[str, Any]] = []
    client = worker.runtime.client
    cluster = worker.cluster.name
    silent_at = _silent.get(cluster)
    if wanted and silent_at is not None and time.monotonic() - silent_at < SILENT_SECONDS:
        return [], f"the cluster did not answer within {LIST_TIMEOUT:g} s a moment ago", False
    with anyio.move_on_after(LIST_TIMEOUT) as scope:
        for namespace, api_version, kind in sorted(wanted):
            key = (cluster, namespace, api_version, kind)
            recent = _recent.get(key)
            if recent is not None and time.monotonic() - recent[0] < LIST_REUSE_SECONDS:
                found.extend(recent[1])
                continue
            try:
                items, _ = await client.list_objects(api_version, kind, namespace=namespace)
                _forget_old()
                _recent[key] = (time.monotonic(), items)
            except Exception as error:
                log.info(
                    "resource tree of %s on %s: cannot list %s in %s: %s",
                    worker.app.name,
                    worker.cluster.name,
                    kind,
                    namespace,
                    error,
                )
                continue
            found.extend(items)
    if scope.cancelled_caught:
        _silent[cluster] = time.monotonic()
        return found, f"the cluster did not list owned objects within {LIST_TIMEOUT:g} s", False
    _silent.pop(cluster, None)
    return found, "", True


def _forget_old() -> None:
    now = time.monotonic()
    for key in [k for k, (when, _) in _recent.items() if now - when >= LIST_REUSE_SECONDS]:
        del _recent[key]
