"""What a worker shares with the daemon, and what it tells it back.

Apart from ``fleet.runtime.worker`` so that the rooms of a worker (comparison, syncs,
drift, deletion) can name these without importing the worker itself; the worker module
re-exports them, and the daemon, the rollouts and the holds import them from there.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import anyio

from fleet.adapters.git import Revision
from fleet.adapters.store import AsyncHistoryStore
from fleet.engine.health import CustomHealth
from fleet.runtime.desired import DesiredStateBuilder
from fleet.runtime.leadership import Fence

if TYPE_CHECKING:
    from fleet.runtime.holds import HoldBoard


@dataclass(frozen=True, slots=True)
class SyncOutcome:
    app: str
    cluster: str
    revision: str
    ok: bool
    message: str
    sync_id: int


EventSink = Callable[
    [str, str, str | None, str | None, Mapping[str, Any]], Coroutine[Any, Any, None]
]


@dataclass
class WorkerContext:
    """What every worker shares, handed in by the daemon."""

    store: AsyncHistoryStore
    builder: DesiredStateBuilder
    sync_slots: anyio.CapacityLimiter
    #: Tell the rollout how a sync of a revision ended.
    report: Callable[[SyncOutcome], None]
    #: Record an event: (kind, message, app, cluster, details).
    event: EventSink
    secret_digest_key: bytes = b""
    clock: Callable[[], float] = time.time
    #: False once the daemon is stopping: no new sync starts.
    accepting: bool = True
    #: Suspensions, sync windows and dependsOn (fleet.runtime.holds); None: no holds.
    holds: HoldBoard | None = None
    #: The fleet-wide Lua health checks (fleet.runtime.health_checks); None: none.
    health_checks: CustomHealth | None = None
    #: The leader term every write must be inside of (fleet.runtime.leadership); without
    #: ``ha`` settings it never refuses.
    fence: Fence = field(default_factory=lambda: Fence(unbounded=True))
    #: This instance took over from another leader: each worker checks its restored
    #: inventory against the cluster before its first sync (fleet.runtime.takeover).
    takeover: bool = False
    running: int = 0
    #: Syncs finished since the start (whatever their result).
    ended: int = 0
    _idle: anyio.Event | None = None

    def sync_started(self) -> None:
        self.running += 1

    def sync_ended(self) -> None:
        self.running -= 1
        self.ended += 1
        if self.running == 0 and self._idle is not None:
            self._idle.set()
            self._idle = None

    async def wait_idle(self) -> None:
        """Return when no sync is running."""
        while self.running:
            if self._idle is None:
                self._idle = anyio.Event()
            await self._idle.wait()


def about(revision: Revision) -> dict[str, str]:
    """What an event says about a revision: enough for a notification to name it."""
    return {
        "revision": revision.sha,
        "commit_message": revision.summary,
        "author": revision.author,
    }
