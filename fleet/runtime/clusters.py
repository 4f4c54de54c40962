"""One cluster as the daemon holds it: a client, a live cache, and the watches that fill it.

Workers (one per app on the cluster) tell the cluster which kinds they need watched;
the cluster starts one watch per kind and keeps it until the daemon stops. Whether the
cluster is reachable is learned from those watches, so a cluster that goes down is
noticed within one failed request (a cut connection at once; a silent one by the watch
deadline, see fleet.runtime.watchers) and its workers are told both ways: their status
turns Unknown while it is down, and they compare again when it comes back.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

import anyio
from anyio.abc import TaskGroup

from fleet.adapters.kube.client import ClusterClient
from fleet.adapters.kube.errors import KubeError
from fleet.model.refs import split_api_version
from fleet.runtime.livecache import LiveCache
from fleet.runtime.status import utc_now
from fleet.runtime.watchers import WatchSettings, watch_kind

log = logging.getLogger(__name__)

#: (cluster, reachable, message) when reachability changes.
ReachabilityListener = Callable[[str, bool, str], None]


@dataclass
class Reachability:
    reachable: bool | None = None
    #: Why it is not reachable, in a few readable words (empty while reachable).
    message: str = ""
    #: When it was last found unreachable after being reachable (or never reached).
    since: datetime | None = None
    listeners: list[ReachabilityListener] = field(default_factory=list)


class ClusterRuntime:
    """Owns the watches of one cluster; started inside the daemon's task group."""

    def __init__(
        self,
        client: ClusterClient,
        tasks: TaskGroup,
        watch_settings: WatchSettings | None = None,
        kept_managers: frozenset[str] = frozenset(),
    ) -> None:
        self.name = client.name
        self.client = client
        self.cache = LiveCache(client.name, kept_managers)
        self._tasks = tasks
        self._watch_settings = watch_settings or WatchSettings()
        self._kinds: dict[tuple[str, str], anyio.CancelScope] = {}
        self.reachability = Reachability()
        self._back = anyio.Event()

    @property
    def reachable(self) -> bool | None:
        return self.reachability.reachable

    def on_reachability(self, listener: ReachabilityListener) -> None:
        self.reachability.listeners.append(listener)

    def _report(self, cluster: str, error: KubeError | None) -> None:
        reachable = error is None or (not error.unreachable and error.status not in (401, 403))
        message = "" if error is None or reachable else error.sentence
        before = self.reachability.reachable
        self.reachability.reachable = reachable
        self.reachability.message = message
        if before is not reachable:
            self.reachability.since = None if reachable else utc_now()
            if reachable:
                log.info("cluster %s is reachable", self.name)
                self._back.set()
                self._back = anyio.Event()
            else:
                log.warning("cluster %s is unreachable: %s", self.name, message)
            for listener in list(self.reachability.listeners):
                listener(self.name, reachable, message)

    def ensure_kinds(self, kinds: Iterable[tuple[str, str]]) -> None:
        """Start watching each (apiVersion, kind) not watched yet."""
        for api_version, kind in kinds:
            group, _ = split_api_version(api_version)
            key = (group, kind)
            if key in self._kinds or not kind:
                continue
            scope = anyio.CancelScope()
            self._kinds[key] = scope
            self._tasks.start_soon(self._run_watch, scope, api_version, kind)

    async def _run_watch(self, scope: anyio.CancelScope, api_version: str, kind: str) -> None:
        with scope:
            while True:
                try:
                    await watch_kind(
                        self.client,
                        self.cache,
                        api_version,
                        kind,
                        self._watch_settings,
                        self._report,
                        recovered=self._reached_again,
                    )
                except Exception:  # one watch's bug must not stop the daemon
                    log.exception("cluster %s: watching %s failed; trying again", self.name, kind)
                    await anyio.sleep(self._watch_settings.backoff_max)

    async def _reached_again(self) -> None:
        await self._back.wait()

    async def wait_listed(self, kinds: Iterable[tuple[str, str]], patience: float) -> bool:
        """Wait (up to ``patience`` s) until every kind has been listed once.

        Gives up early once the cluster is known to be unreachable (down, or refusing
        fleet's credentials): its workers hear from it again when it comes back.
        """
        wanted = {(split_api_version(v)[0], k) for v, k in kinds}
        deadline = anyio.current_time() + patience
        while (remaining := deadline - anyio.current_time()) > 0:
            with anyio.move_on_after(min(remaining, 0.25)):
                await self.cache.wait_listed(wanted)
                return True
            if self.reachable is False:
                return False
        return False

    def stop(self) -> None:
        for scope in self._kinds.values():
            scope.cancel()
        self._kinds.clear()
