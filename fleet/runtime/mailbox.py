"""A worker's inbox: why it should reconcile, coalesced.

A burst of watch events or pushes must cause one reconcile, not a hundred, so posts
merge: the worker takes everything that arrived since it last looked, at once. The
order of reasons is kept (first one wins as the sync's recorded trigger).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import anyio


class SyncIds(list[int]):
    """The ids of the syncs a trigger started; ``await wait()`` returns once there is one."""

    def __init__(self) -> None:
        super().__init__()
        self._appended: anyio.Event | None = None

    def append(self, sync_id: int) -> None:
        super().append(sync_id)
        if self._appended is not None:
            self._appended.set()

    async def wait(self) -> None:
        if not self:
            if self._appended is None:
                self._appended = anyio.Event()
            await self._appended.wait()


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
    reply: SyncIds = field(default_factory=SyncIds, compare=False)
    #: At startup: the interrupted sync (of ``revision``) this one runs again.
    resumed_from: int | None = None
    #: With ``resumed_from``: the interrupted sync's saved engine progress (JSON).
    progress: str | None = None


class Mailbox:
    def __init__(self) -> None:
        self._pending: list[Trigger] = []
        self._event = anyio.Event()

    def post(self, trigger: Trigger) -> Trigger:
        """Queue ``trigger``; return the trigger that will run for it.

        That is ``trigger`` itself, or an equal one already waiting that it merged into:
        a caller waiting for the sync id (``reply``) watches the returned one.
        """
        for pending in self._pending:
            if (
                pending.reason == trigger.reason
                and pending.revision == trigger.revision
                and pending.dry_run == trigger.dry_run
                and pending.confirm_prune == trigger.confirm_prune
            ):
                return pending
        self._pending.append(trigger)
        self._event.set()
        return trigger

    def pending(self) -> bool:
        return bool(self._pending)

    def holds_plain(self, reason: str) -> bool:
        """A trigger for ``reason`` at no revision waits: a like one posted would merge."""
        return any(
            p.reason == reason and p.revision is None and not p.dry_run and not p.confirm_prune
            for p in self._pending
        )

    async def take(self) -> list[Trigger]:
        """Wait for at least one trigger; return all that are waiting."""
        while not self._pending:
            await self._event.wait()
            self._event = anyio.Event()
        taken, self._pending = self._pending, []
        return taken
