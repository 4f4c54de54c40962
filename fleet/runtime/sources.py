"""Poll each Git source, and fetch at once when a push webhook names it.

One poller per source. A fetch failure (server down, bad credentials, an untrusted
signature) is logged and recorded as an event once per distinct error, and changes
nothing: the apps keep the revision they have. A new commit is handed to the rollout.

After each successful fetch the poller does the upkeep of the state directory (see
:meth:`DesiredStateBuilder.upkeep`): exported trees nobody wants are pruned, and the
mirror is compacted once fetches have piled up packs. It runs after the new revision is
handed over, outside the fetch's trace span, so it never delays a deployment; its
failures are logged and change nothing else.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import anyio

from fleet.adapters.git import GitError, Revision, UntrustedCommit, redact_url
from fleet.adapters.telemetry import context as telemetry
from fleet.adapters.telemetry.context import FetchSpan
from fleet.config import Source
from fleet.runtime.desired import DesiredStateBuilder
from fleet.runtime.worker import EventSink

log = logging.getLogger(__name__)

#: (source name, new revision, why: poll or webhook)
RevisionListener = Callable[[str, Revision, str], None]


class SourcePoller:
    def __init__(
        self,
        source: Source,
        builder: DesiredStateBuilder,
        interval: float,
        on_revision: RevisionListener,
        event: EventSink,
    ) -> None:
        self.source = source
        self.builder = builder
        self.interval = interval
        self.on_revision = on_revision
        self.event = event
        self.revision: Revision | None = None
        self.error: str | None = None
        self.fetched_once = anyio.Event()
        self._poke = anyio.Event()
        #: Why the next fetch was asked for early ("" for a poll on the interval).
        self._poked_by = ""

    def poke(self, reason: str = "webhook") -> None:
        """Fetch now: a push webhook named this source, or an app of it was refreshed
        (``reason`` is what a sync of the commit found is recorded as)."""
        self._poked_by = reason
        self._poke.set()

    async def run(self) -> None:
        while True:
            reason = self._poked_by or "poll"
            self._poked_by = ""
            await self.fetch(reason)
            with anyio.move_on_after(self.interval):
                await self._poke.wait()
            self._poke = anyio.Event()

    async def fetch(self, reason: str) -> None:
        with telemetry.current().fetch(self.source.name, self.source.location) as fetching:
            fetched = await self._fetch(reason, fetching)
        self.fetched_once.set()  # before the upkeep: a compaction must not delay readiness
        if fetched:
            await self.upkeep()

    async def upkeep(self) -> None:
        """Prune exported trees and compact the mirror if due; log, never raise, failures."""
        name = self.source.name
        try:
            done = await self.builder.upkeep(self.source)
        except (OSError, GitError) as error:
            log.warning("source %s: cleaning up the state directory failed: %s", name, error)
            return
        packs = done.compaction
        if packs.error is not None:
            log.warning(
                "source %s: mirror not compacted (%d packs): %s",
                name,
                packs.packs_before,
                packs.error,
            )
        elif packs.ran:
            log.info(
                "source %s: mirror compacted from %d to %d packs",
                name,
                packs.packs_before,
                packs.packs_after,
            )
        pruned = done.pruned
        if pruned.deleted or pruned.leftovers:
            log.info(
                "exported trees: %d pruned, %d leftovers removed, %d kept",
                len(pruned.deleted),
                pruned.leftovers,
                pruned.kept,
            )

    async def _fetch(self, reason: str, fetching: FetchSpan) -> bool:
        try:
            revision = await self.builder.fetch(self.source)
        except GitError as error:
            message = str(error)
            fetching.error = message
            if message != self.error:
                self.error = message
                kind = "untrusted_commit" if isinstance(error, UntrustedCommit) else "source_failed"
                log.warning(
                    "source %s (%s): %s",
                    self.source.name,
                    redact_url(self.source.location),
                    message,
                )
                await self.event(kind, message, None, None, {"source": self.source.name})
            return False
        fetching.found(revision)
        if self.error is not None:
            log.info("source %s fetches again", self.source.name)
        self.error = None
        if self.revision is None or revision.sha != self.revision.sha:
            self.revision = revision
            log.info("source %s at %s: %s", self.source.name, revision.short_sha, revision.summary)
            self.on_revision(self.source.name, revision, reason)
        return True
