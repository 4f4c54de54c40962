"""Deleting what an app owns on a cluster, when it leaves the config with
``deletionPolicy: delete``.

It is a sync too: the engine prunes the whole inventory in mirrored wave order, with the
same ownership checks, protections and project bounds as any prune, and history records
it under the ``config`` trigger. The inventory is dropped only once every object is
gone; a failed or interrupted deletion keeps it, so nothing the app owned is forgotten.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio

from fleet.adapters.git import GitError
from fleet.engine import Succeeded, Verdict
from fleet.model.refs import ObjectRef
from fleet.runtime import values_from
from fleet.runtime.comparison import watched_kinds
from fleet.runtime.desired import DesiredStateError
from fleet.runtime.executor import SyncExecutor, SyncJob
from fleet.runtime.journal import SyncJournal

if TYPE_CHECKING:
    from fleet.runtime.worker import Worker


async def _watch_owned_kinds(worker: Worker, inventory: frozenset[ObjectRef]) -> None:
    """Make the cluster cache list the kinds the app owns before pruning them.

    A worker that never reconciled (an app that left the config at start, such as a
    generated app whose folder vanished while the daemon was down) has not asked for
    them: the prune would find nothing live and delete nothing. Its last synced
    revision, rendered again, says which kinds (and versions) those are.
    """
    if worker.desired.manifests:
        return
    ctx = worker.ctx
    synced = await ctx.store.history(
        app=worker.app.name, cluster=worker.cluster.name, result="Succeeded", limit=1
    )
    if not synced:
        return
    try:
        revision = await values_from.resolve(
            ctx.builder, worker.config, worker.app, synced[0].revision
        )
        await worker.desired.render(ctx.builder, worker.app, worker.cluster, revision)
    except (GitError, DesiredStateError, KeyError):
        return  # the prune then works from what the cache already lists
    runtime = worker.runtime
    kinds = watched_kinds(
        worker.desired.manifests, inventory, runtime.cache.objects_of(worker.app.name)
    )
    runtime.ensure_kinds(kinds)
    await runtime.wait_listed(kinds, patience=15.0)


async def delete_objects(worker: Worker) -> bool:
    """Delete everything the worker's app owns on its cluster; True when it succeeded."""
    inventory = await worker.inventory()
    if not inventory:
        return True
    app, cluster = worker.app.name, worker.cluster.name
    await _watch_owned_kinds(worker, inventory)
    options = worker.options(prune=True, allow_empty=True, confirm_prune=True)
    store = worker.ctx.store
    revision = worker.status.revision or "-"
    sync_id = await store.start_sync(app, cluster, revision, "config")
    job = SyncJob(
        app=app,
        cluster=cluster,
        revision=revision,
        desired=worker.desired.manifests,
        inventory=inventory,
        options=options,
        deleting=True,
    )
    journal = SyncJournal(worker, sync_id)
    runtime = worker.runtime
    verdict: Verdict | None = None
    try:
        verdict = await SyncExecutor(
            job,
            runtime.client,
            runtime.cache,
            journal,
            clock=worker.ctx.clock,
            fence=worker.ctx.fence,
        ).run()
    finally:
        with anyio.CancelScope(shield=True):
            await journal.flush()
            if verdict is None:
                await store.finish_sync(sync_id, "Interrupted", "the daemon stopped")
            elif isinstance(verdict, Succeeded):
                await store.finish_sync(sync_id, "Succeeded", "app removed: objects deleted")
                await store.delete_inventory(app, cluster)
            else:
                await store.finish_sync(sync_id, "Failed", verdict.message)
    return isinstance(verdict, Succeeded)
