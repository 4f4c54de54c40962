"""Hooks a killed sync left holding fleet's finalizer, cleaned up when no sync runs.

A sync cleans up such leftovers itself (fleet.engine.leftover_hooks), but after a kill
-9 or a takeover the first thing a worker does may be no sync at all: the interrupted
revision may already match the cluster ("nothing to apply"). Its hooks would then hold
the finalizer until the app's next real sync, and a namespace deleted meanwhile would
stay Terminating. So once per worker, after its first reconcile (no sync of the app on
the cluster is running then, and a resumed sync has finished and read its hooks), the
leftovers are deleted or released as their delete policy says, through the executor
(fenced: a deposed leader writes nothing). A ``hooks_cleaned_up`` event lists them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from fleet.engine import Progress
from fleet.engine.decisions import Running
from fleet.engine.leftover_hooks import leftover_hooks
from fleet.runtime.executor import ResourceRow, SyncExecutor, SyncJob

if TYPE_CHECKING:
    from fleet.runtime.worker import Worker

log = logging.getLogger(__name__)


class _NoSyncJournal:
    """No sync runs, so no history rows: the event says what was done."""

    async def progress(self, progress: Progress, status: Running) -> None:
        return None

    async def resources(self, rows: Sequence[ResourceRow]) -> None:
        return None


async def clean_up_leftover_hooks(worker: Worker) -> int:
    """Delete or release the app's leftover hooks on the worker's cluster; how many."""
    app, cluster = worker.app.name, worker.cluster.name
    options = worker.options()
    found = leftover_hooks(
        app,
        worker.runtime.cache.objects_of(app).items(),
        (),
        options.health_rules,
        options.custom_health,
    )
    if not found:
        return 0
    job = SyncJob(app, cluster, worker.status.revision or "-", (), frozenset(), options)
    executor = SyncExecutor(
        job,
        worker.runtime.client,
        worker.runtime.cache,
        _NoSyncJournal(),
        clock=worker.ctx.clock,
        fence=worker.ctx.fence,
    )
    results = await executor.clean_up([hook.action() for hook in found])
    ok = {result.action_id for result in results if result.ok}
    done = [hook for hook in found if hook.action().id in ok]
    errors = [f"{result.action_id}: {result.error}" for result in results if not result.ok]
    message = (
        f"hooks left over by an interrupted sync cleaned up: {len(done)} "
        f"({sum(h.delete for h in done)} deleted by their delete policy, the rest released)"
    )
    if errors:
        message += f"; {len(errors)} could not be: {errors[0]}"
    log.info("%s on %s: %s", app, cluster, message)
    await worker.ctx.event(
        "hooks_cleaned_up",
        message,
        app,
        cluster,
        {
            "deleted": [str(h.ref) for h in done if h.delete][:20],
            "released": [str(h.ref) for h in done if not h.delete][:20],
            "errors": errors[:20],
        },
    )
    return len(done)
