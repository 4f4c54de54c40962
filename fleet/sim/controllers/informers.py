"""List, then watch from the list's resourceVersion, forever; feed a :class:`Store`.

The loop survives what a real API server does to long watches: the server ends the
stream (timeoutSeconds) -> resume from the last resourceVersion seen, bookmarks
included; 410 Gone -> list again and report what changed meanwhile; connection refused,
reset or a 5xx -> back off (up to 5 s) and resume.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Callable

import aiohttp
import anyio
from anyio.abc import TaskStatus

from fleet.sim.controllers.kube import ApiError, Gone, KubeAccess, Resource
from fleet.sim.controllers.objects import Obj, meta
from fleet.sim.controllers.store import Store

log = logging.getLogger("fleet.sim.controllers")

Change = Callable[[str, Obj | None, Obj | None], None]
TRANSIENT = (ApiError, aiohttp.ClientError, OSError, TimeoutError, ValueError, json.JSONDecodeError)


def backoff(failures: int) -> float:
    return float(min(0.1 * 2 ** min(failures, 10), 5.0))


class Informer:
    def __init__(
        self,
        access: KubeAccess,
        resource: Resource,
        namespace: str | None,
        store: Store,
        on_change: Change,
        *,
        watch_seconds: int = 240,
    ) -> None:
        self._access = access
        self._resource = resource
        self._namespace = namespace if resource.namespaced else None
        self._store = store
        self._on_change = on_change
        self._watch_seconds = watch_seconds
        self._version: str | None = None
        self._failures = 0

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Run until cancelled; ``task_status.started()`` after the first full list."""
        started = False
        kind = self._resource.kind
        while True:
            try:
                if self._version is None:
                    items, self._version = await self._access.list(self._resource, self._namespace)
                    for old, new in self._store.replace_all(items):
                        self._on_change(kind, old, new)
                    if not started:
                        started = True
                        task_status.started()
                await self._follow(self._version)
                self._failures = 0
            except Gone:
                log.debug("%s watch expired at %s; listing again", kind, self._version)
                self._version = None
            except TRANSIENT as exc:
                self._failures += 1
                level = logging.WARNING if self._failures in (3, 10) else logging.DEBUG
                log.log(
                    level, "%s list/watch failed %d times (%s); retrying", kind, self._failures, exc
                )
                await anyio.sleep(backoff(self._failures))

    async def _follow(self, version: str) -> None:
        """Apply watch events until the stream ends, tracking the last version seen."""
        timeout = self._watch_seconds + random.randint(0, max(self._watch_seconds // 8, 1))
        events = self._access.watch(self._resource, self._namespace, version, timeout)
        try:
            async for event in events:
                self._failures = 0  # connected: the next failure starts a fresh back-off
                obj = event.get("object") or {}
                kind = event.get("type")
                if kind in ("ADDED", "MODIFIED", "DELETED"):
                    change = self._store.observe(str(kind), obj)
                    if change is not None:
                        self._on_change(self._resource.kind, *change)
                self._version = str(meta(obj).get("resourceVersion") or "") or self._version
        finally:
            await events.aclose()
