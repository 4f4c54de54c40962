"""Poll each Git source, and fetch at once when a push webhook names it.

One poller per source. A fetch failure (server down, bad credentials, an untrusted
signature) is logged and recorded as an event once per distinct error, and changes
nothing: the apps keep the revision they have. A new commit is handed to the rollout.
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
        self._poked_by_webhook = False

    def poke(self) -> None:
        """Fetch now (a push webhook named this source)."""
        self._poked_by_webhook = True
        self._poke.set()

    async def run(self) -> None:
        while True:
            reason = "webhook" if self._poked_by_webhook else "poll"
            self._poked_by_webhook = False
            await self.fetch(reason)
            self.fetched_once.set()
            with anyio.move_on_after(self.interval):
                await self._poke.wait()
            self._poke = anyio.Event()

    async def fetch(self, reason: str) -> None:
        with telemetry.current().fetch(self.source.name, self.source.url) as fetching:
            await self._fetch(reason, fetching)

    async def _fetch(self, reason: str, fetching: FetchSpan) -> None:
        try:
            revision = await self.builder.fetch(self.source)
        except GitError as error:
            message = str(error)
            fetching.error = message
            if message != self.error:
                self.error = message
                kind = "untrusted_commit" if isinstance(error, UntrustedCommit) else "source_failed"
                log.warning(
                    "source %s (%s): %s", self.source.name, redact_url(self.source.url), message
                )
                await self.event(kind, message, None, None, {"source": self.source.name})
            return
        fetching.found(revision)
        if self.error is not None:
            log.info("source %s fetches again", self.source.name)
        self.error = None
        if self.revision is None or revision.sha != self.revision.sha:
            self.revision = revision
            log.info("source %s at %s: %s", self.source.name, revision.short_sha, revision.summary)
            self.on_revision(self.source.name, revision, reason)
