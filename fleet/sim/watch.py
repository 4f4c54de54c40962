"""Watch streams: the events of one resource, filtered, from a resourceVersion on.

A watch subscribes to the store *before* it reads anything, so no change can slip
between the initial state and the stream (the store calls listeners synchronously).
Semantics follow the API reference: no resourceVersion or "0" starts with a synthetic
ADDED per existing object; a specific one replays the retained events after it, or
ends with an ERROR event carrying a 410 Expired Status when it is older than the window.
An object that starts or stops matching a label selector arrives as ADDED or DELETED.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from fleet.sim.errors import ApiError
from fleet.sim.selectors import FieldSelector, LabelSelector
from fleet.sim.store import Entry, Event, GroupResource, Store, dumps

#: Turns a stored entry into the bytes of the object as this watcher sees it.
Render = Callable[[Entry], bytes]
#: The bytes of a BOOKMARK object at a resourceVersion, with optional annotations.
Bookmark = Callable[[int, dict[str, str] | None], bytes]


@dataclass(frozen=True, slots=True)
class WatchRequest:
    group_resource: GroupResource
    namespace: str | None
    labels: LabelSelector
    fields: FieldSelector
    #: None: start with the current state; otherwise resume after this resourceVersion.
    since: int | None
    send_initial_events: bool = False
    bookmarks: bool = False
    timeout: float = 1800.0
    bookmark_interval: float = 60.0


def event_line(kind: str, data: bytes) -> bytes:
    return b'{"type":"' + kind.encode() + b'","object":' + data + b"}\n"


def error_line(error: ApiError) -> bytes:
    return event_line("ERROR", dumps(error.status()))


class _Filter:
    def __init__(self, req: WatchRequest) -> None:
        self.req = req

    def selects(self, entry: Entry, labels: object | None) -> bool:
        req = self.req
        if req.namespace is not None and entry.namespace != req.namespace:
            return False
        if labels is None or not req.labels.matches(labels):  # type: ignore[arg-type]
            return False
        if req.fields.empty:
            return True
        if req.fields.only_metadata:
            return req.fields.matches_name(entry.namespace, entry.name)
        return req.fields.matches(entry.obj())

    def translate(self, event: Event) -> str | None:
        """The event type this watcher gets, or None if it should not see the event."""
        if event.entry.group_resource != self.req.group_resource:
            return None
        now = self.selects(event.entry, event.entry.labels)
        if event.type == "ADDED":
            return "ADDED" if now else None
        before = self.selects(event.entry, event.old_labels)
        if event.type == "DELETED":
            return "DELETED" if before else None
        if before and now:
            return "MODIFIED"
        if now:
            return "ADDED"
        return "DELETED" if before else None


async def stream(
    store: Store, req: WatchRequest, render: Render, bookmark: Bookmark
) -> AsyncIterator[bytes]:
    """Yield the lines of a watch response until the timeout or the consumer stops."""
    selector = _Filter(req)
    pending: deque[tuple[str, Entry]] = deque()
    wakeup = asyncio.Event()

    def listener(event: Event) -> None:
        kind = selector.translate(event)
        if kind is not None:
            pending.append((kind, event.entry))
            wakeup.set()

    unsubscribe = store.subscribe(listener)
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + req.timeout
        initial: list[tuple[str, Entry]] = []
        if req.since is None:
            for entry in store.entries(req.group_resource, req.namespace):
                if selector.selects(entry, entry.labels):
                    initial.append(("ADDED", entry))
        else:
            replay = store.events_after(req.since)
            if replay is None:
                yield error_line(
                    ApiError(
                        410, "Expired", f"too old resource version: {req.since} ({store.oldest_rv})"
                    )
                )
                return
            for event in replay:
                seen_as = selector.translate(event)
                if seen_as is not None:
                    initial.append((seen_as, event.entry))
        synced_rv = store.rv
        for kind, entry in initial:
            yield event_line(kind, render(entry))
        if req.send_initial_events and req.bookmarks:
            marker = {"k8s.io/initial-events-end": "true"}
            yield event_line("BOOKMARK", bookmark(synced_rv, marker))
        next_bookmark = loop.time() + req.bookmark_interval
        while True:
            now = loop.time()
            if now >= deadline:
                return
            wait = deadline - now
            if req.bookmarks:
                wait = min(wait, max(next_bookmark - now, 0.0))
            if not pending:
                wakeup.clear()
                try:
                    await asyncio.wait_for(wakeup.wait(), timeout=wait)
                except TimeoutError:
                    # The wait can time out with events already queued (they arrived while
                    # it was being cancelled): a bookmark at store.rv would then claim them
                    # delivered, and a stream ending next would lose them for good.
                    if req.bookmarks and not pending and loop.time() >= next_bookmark:
                        next_bookmark = loop.time() + req.bookmark_interval
                        yield event_line("BOOKMARK", bookmark(store.rv, None))
                    continue
            # Everything queued goes out in one write: fewer TLS records under fan-out.
            batch = []
            while pending:
                kind, entry = pending.popleft()
                batch.append(event_line(kind, render(entry)))
            yield b"".join(batch)
    finally:
        unsubscribe()
