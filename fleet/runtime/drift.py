"""Drift and health as a worker notes them, and self-heal's back-off.

Every compare can find the same drift, or the same Degraded health, again: what is
recorded (an event, a notification) is the change, once per transition, not every
sighting. Self-heal re-syncs drift on an automated app with ``selfHeal``, but backs off
when the drift keeps coming back (another controller fighting fleet must not become a
hot loop): 0 s for the first drift, then 2, 4, 8 ... up to 5 minutes, and a drift that
stays away for ``SELF_HEAL_CALM`` starts the count again.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import TYPE_CHECKING

import anyio

from fleet.adapters.git import Revision
from fleet.engine import RetryPolicy, app_health, backoff_delay
from fleet.model.refs import ObjectRef
from fleet.runtime.health_ready import prepare_health
from fleet.runtime.mailbox import Trigger
from fleet.runtime.worker_context import about

if TYPE_CHECKING:
    from fleet.runtime.worker import Worker

#: Self-heal back-off: 0 s for the first drift, then 2, 4, 8 ... up to 5 minutes.
SELF_HEAL_BACKOFF = RetryPolicy(
    max_attempts=1_000, base_delay=2.0, factor=2.0, max_delay=300.0, jitter=0.2
)
#: Drift that stays away this long resets the back-off.
SELF_HEAL_CALM = 120.0
#: The self-heal jitter of every worker: one generator for all (each holds 2.5 KiB).
_JITTER = random.Random()


class DriftWatch:
    """What one worker has said about drift and health, and how often it healed."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self._heals = 0
        self._last_heal_at = 0.0
        self._drift_reported: str | None = None
        self._degraded_reported = False
        self._rng = _JITTER

    def synced(self) -> None:
        """A sync succeeded: drift and Degraded health are news again."""
        self._drift_reported = None
        self._degraded_reported = False

    async def note_health(self, revision: Revision, health: str) -> None:
        """Record the app turning Degraded: once per transition, not on every compare."""
        if health != "Degraded":
            self._degraded_reported = False
            return
        if self._degraded_reported:
            return
        self._degraded_reported = True
        worker = self.worker
        cache = worker.runtime.cache
        options = worker.options()
        judged = [(m.ref, cache.get(m.ref)) for m in worker.tracked()]
        await prepare_health(options.custom_health, (live for _, live in judged))
        worst = app_health(
            judged,
            options.health_rules,
            options.custom_health,
        )
        await worker.ctx.event(
            "health_degraded",
            f"health is Degraded: {worst.message}"[:2000],
            worker.app.name,
            worker.cluster.name,
            about(revision),
        )

    async def note_drift(
        self, revision: Revision, out_of_sync: list[str], triggers: Sequence[Trigger]
    ) -> None:
        """Record drift that is not healed: once per distinct set of objects."""
        if not out_of_sync:
            self._drift_reported = None
            return
        signature = "|".join(out_of_sync)
        if signature == self._drift_reported:
            return
        self._drift_reported = signature
        await self.worker.ctx.event(
            "drift",
            f"{len(out_of_sync)} object(s) differ from Git: {', '.join(out_of_sync[:5])}",
            self.worker.app.name,
            self.worker.cluster.name,
            {**about(revision), "objects": out_of_sync[:50], "selfHeal": False},
        )

    async def self_heal(
        self, revision: Revision, out_of_sync: list[str], inventory: frozenset[ObjectRef]
    ) -> None:
        """Sync the drift away, after the back-off; compare again if it had to wait."""
        worker = self.worker
        now = worker.ctx.clock()
        if now - self._last_heal_at > SELF_HEAL_CALM:
            self._heals = 0
        delay = (
            0.0
            if self._heals == 0
            else backoff_delay(self._heals, SELF_HEAL_BACKOFF, self._rng.random)
        )
        wait = self._last_heal_at + delay - now
        if wait > 0:
            await anyio.sleep(wait)
            out_of_sync, sync_status, health = await worker.compare(inventory)
            worker.show_compared(revision, out_of_sync, sync_status, health)
            if sync_status == "Synced" or not worker.heal_needed:
                return
        self._heals += 1
        self._last_heal_at = worker.ctx.clock()
        await worker.ctx.event(
            "drift",
            f"{len(out_of_sync)} object(s) drifted, healing: {', '.join(out_of_sync[:5])}",
            worker.app.name,
            worker.cluster.name,
            {**about(revision), "objects": out_of_sync[:50], "selfHeal": True},
        )
        trigger = Trigger("drift", detail=", ".join(out_of_sync[:5]))
        await worker.syncs.sync(revision, trigger, inventory)
