"""Which revision a cluster goes back to, from its sync history.

"Back" means the last revision that was healthy *there*: the newest sync on that cluster
that succeeded (synced and healthy) of a revision other than the one being left. Dry runs
applied nothing and do not count. A sync the user names (``fleet rollback --to ID``)
must have succeeded too: a failed sync may have applied part of its revision, and going
back to it is going back to a broken state. The render is reproducible from the revision
(Git holds it; renders are pure functions of the tree), so the revision is all a
rollback needs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PastSync:
    """What the decisions need of one recorded sync."""

    id: int
    app: str
    cluster: str
    revision: str
    result: str
    dry_run: bool = False


class RollbackError(ValueError):
    """The rollback asked for cannot be done (the message says why)."""


def last_healthy_revision(history: Iterable[PastSync], leaving: str | None) -> str | None:
    """The newest revision that synced healthy, other than ``leaving``; None if there is none.

    ``history`` is one cluster's syncs in any order.
    """
    for sync in sorted(history, key=lambda s: s.id, reverse=True):
        if sync.dry_run or sync.result != "Succeeded" or not sync.revision:
            continue
        if sync.revision != leaving:
            return sync.revision
    return None


def revision_of_sync(sync: PastSync | None, app: str, sync_id: int) -> str:
    """The revision ``fleet rollback APP --to SYNC_ID`` goes back to, or why it cannot."""
    if sync is None:
        raise RollbackError(f"no sync with id {sync_id}")
    if sync.app != app:
        raise RollbackError(f"sync {sync_id} is a sync of app {sync.app}, not of {app}")
    if sync.dry_run:
        raise RollbackError(f"sync {sync_id} was a dry run: it applied nothing to go back to")
    if sync.result != "Succeeded":
        raise RollbackError(
            f"sync {sync_id} of {sync.revision[:12]} ended {sync.result}: "
            "roll back to a sync that succeeded"
        )
    return sync.revision
