"""A worker's inbox: why it should reconcile, coalesced.

A burst of watch events or pushes must cause one reconcile, not a hundred, so posts
merge: the worker takes everything that arrived since it last looked, at once. The
order of reasons is kept (first one wins as the sync's recorded trigger).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import anyio


@dataclass(frozen=True, slots=True)
class Trigger:
    """Why a reconcile was asked for: poll, webhook, manual, drift, pin, startup, config."""

    reason: str
    revision: str | None = None
    detail: str = ""
    dry_run: bool = False
    #: The explicit confirmation the prune guard asks for (``fleet sync --confirm-prune``).
    confirm_prune: bool = False
    #: For manual syncs: resolved when the sync has been recorded, with its id.
    reply: list[int] = field(default_factory=list, compare=False)


class Mailbox:
    def __init__(self) -> None:
        self._pending: list[Trigger] = []
        self._event = anyio.Event()

    def post(self, trigger: Trigger) -> None:
        if any(
            p.reason == trigger.reason
            and p.revision == trigger.revision
            and p.dry_run == trigger.dry_run
            and not trigger.reply
            for p in self._pending
        ):
            return
        self._pending.append(trigger)
        self._event.set()

    def pending(self) -> bool:
        return bool(self._pending)

    async def take(self) -> list[Trigger]:
        """Wait for at least one trigger; return all that are waiting."""
        while not self._pending:
            await self._event.wait()
            self._event = anyio.Event()
        taken, self._pending = self._pending, []
        return taken
