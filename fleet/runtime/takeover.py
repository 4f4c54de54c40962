"""After a takeover, each app's restored inventory is checked against its cluster.

The history a new leader restores is the replica's newest copy: the old leader may have
applied objects after it (missing from the inventory, so a later sync that drops them
from Git would leave them behind) or pruned some (still listed, though gone). Before its
first sync of an app on a cluster, the new leader reads what the cluster says the app
owns (the tracking annotations, as a daemon with a lost database does) and corrects the
inventory with fleet.engine.leadership.check_restored_inventory, once the kinds involved
have been listed. The correction is recorded as an ``inventory_checked`` event.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from fleet.adapters.store import StoredRef
from fleet.adapters.store.inventory import RefLike
from fleet.engine import rebuild_inventory
from fleet.engine.leadership import check_restored_inventory
from fleet.model.refs import ObjectRef, split_api_version

if TYPE_CHECKING:
    from fleet.runtime.worker import Worker

log = logging.getLogger(__name__)


async def check_after_takeover(
    worker: Worker, restored: frozenset[ObjectRef], kinds: set[tuple[str, str]]
) -> frozenset[ObjectRef]:
    """The inventory to sync with: ``restored`` corrected by what the cluster tracks
    (``kinds`` are the (apiVersion, kind) pairs that have just been listed)."""
    app, cluster = worker.app.name, worker.cluster.name
    cache = worker.runtime.cache
    owned = cache.objects_of(app)
    tracked = rebuild_inventory(app, owned.values())
    live = frozenset(ref for ref in restored if cache.get(ref) is not None) | frozenset(owned)
    listed = frozenset((split_api_version(version)[0], kind) for version, kind in kinds)
    check = check_restored_inventory(restored, tracked, live, listed)
    if check.added or check.gone:
        stored = await worker.ctx.store.get_inventory(app, cluster)
        revision = worker.status.revision or "-"
        keys = [StoredRef(ref.group, ref.kind, ref.namespace, ref.name) for ref in check.inventory]
        entries: dict[RefLike, str] = {key: stored.get(key, revision) for key in keys}
        await worker.ctx.store.replace_inventory(app, cluster, entries)
    message = (
        f"inventory checked after takeover: {len(check.added)} tracked on the cluster but "
        f"missing from the restored history (added), {len(check.gone)} no longer on the "
        f"cluster (dropped), {len(check.inventory)} in all"
    )
    log.info("%s on %s: %s", app, cluster, message)
    await worker.ctx.event(
        "inventory_checked",
        message,
        app,
        cluster,
        {
            "added": sorted(str(ref) for ref in check.added)[:20],
            "gone": sorted(str(ref) for ref in check.gone)[:20],
            "count": len(check.inventory),
        },
    )
    return check.inventory
