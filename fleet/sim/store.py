"""The object store of one simulated cluster: etcd's role, kept in memory.

Objects are kept as compact JSON bytes (not dicts): a get or list answers with the bytes
as they are, a watch event shares them with every watcher, and 200 clusters with 100
objects each stay within tens of megabytes. Only labels, uid and owner uids are kept
decoded, because selectors and garbage collection read them on every pass.

The store assigns resourceVersions (one counter per cluster, strictly increasing), keeps
the last ``window`` events for watches that resume from a resourceVersion, and calls
listeners synchronously on each change, so a watcher never misses an event between a
list and its watch. It is pure: no I/O and no event loop.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

#: (group, resource) of a stored object, e.g. ("apps", "deployments").
GroupResource = tuple[str, str]


def dumps(obj: Any) -> bytes:
    """Compact JSON, the wire and storage form of every object.

    orjson writes the same compact UTF-8 as ``json.dumps(separators=(",", ":"),
    ensure_ascii=False)`` several times faster (encoding was a sixth of the simulator's
    CPU); what it refuses (integers beyond 64 bits, non-string keys) goes through json.
    """
    try:
        return orjson.dumps(obj)
    except TypeError:
        return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def loads(data: bytes | str) -> Any:
    """JSON decoding, fast; json's error message (and its big integers) on what orjson
    refuses."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)


class Entry:
    """One stored object: its bytes plus the few fields read without decoding."""

    __slots__ = (
        "api_version",
        "data",
        "deleting",
        "group_resource",
        "labels",
        "name",
        "namespace",
        "owners",
        "rv",
        "uid",
    )

    def __init__(self, group_resource: GroupResource, obj: Mapping[str, Any], rv: int) -> None:
        meta = obj.get("metadata") or {}
        self.group_resource = group_resource
        self.api_version: str = obj.get("apiVersion") or ""
        self.namespace: str = meta.get("namespace") or ""
        self.name: str = meta["name"]
        self.rv = rv
        self.uid: str = meta.get("uid") or ""
        self.labels: Mapping[str, str] = meta.get("labels") or {}
        self.owners: tuple[str, ...] = tuple(
            str(ref.get("uid")) for ref in meta.get("ownerReferences") or () if ref.get("uid")
        )
        self.deleting = bool(meta.get("deletionTimestamp"))
        self.data = dumps(obj)

    def obj(self) -> dict[str, Any]:
        """A fresh decoded copy, safe to modify."""
        result: dict[str, Any] = orjson.loads(self.data)
        return result


@dataclass(frozen=True, slots=True)
class Event:
    """One change: ``type`` is ADDED, MODIFIED or DELETED; ``entry`` the object after it."""

    type: str
    entry: Entry
    #: Labels before the change (for selector watches that must see an object leave).
    old_labels: Mapping[str, str] | None

    @property
    def rv(self) -> int:
        return self.entry.rv


Listener = Callable[[Event], None]


class Store:
    """Objects of one cluster by group/resource, namespace and name."""

    def __init__(self, window: int = 1000, first_rv: int = 1) -> None:
        self.rv = first_rv
        self.window = window
        self._objects: dict[GroupResource, dict[tuple[str, str], Entry]] = {}
        self._by_uid: dict[str, Entry] = {}
        self._dependents: dict[str, set[Entry]] = {}
        self._log: deque[Event] = deque(maxlen=max(window, 1))
        #: The oldest resourceVersion a watch may still resume from.
        self.oldest_rv = first_rv
        self._listeners: list[Listener] = []

    # ------------------------------------------------------------------ reads

    def get(self, gr: GroupResource, namespace: str, name: str) -> Entry | None:
        bucket = self._objects.get(gr)
        return bucket.get((namespace, name)) if bucket else None

    def entries(self, gr: GroupResource, namespace: str | None = None) -> list[Entry]:
        """Entries sorted by namespace then name (the order of the real server's keys)."""
        bucket = self._objects.get(gr)
        if not bucket:
            return []
        keys = (
            sorted(bucket) if namespace is None else sorted(k for k in bucket if k[0] == namespace)
        )
        return [bucket[k] for k in keys]

    def count(self, gr: GroupResource, namespace: str | None = None) -> int:
        bucket = self._objects.get(gr) or {}
        if namespace is None:
            return len(bucket)
        return sum(1 for k in bucket if k[0] == namespace)

    def by_uid(self, uid: str) -> Entry | None:
        return self._by_uid.get(uid)

    def dependents(self, owner_uid: str) -> list[Entry]:
        return sorted(
            self._dependents.get(owner_uid, ()),
            key=lambda e: (e.group_resource, e.namespace, e.name),
        )

    def group_resources(self) -> list[GroupResource]:
        return [gr for gr, bucket in self._objects.items() if bucket]

    def in_namespace(self, namespace: str) -> list[Entry]:
        return [
            e
            for bucket in self._objects.values()
            for (ns, _), e in sorted(bucket.items())
            if ns == namespace
        ]

    def __len__(self) -> int:
        return sum(len(b) for b in self._objects.values())

    # ----------------------------------------------------------------- writes

    def next_rv(self) -> int:
        self.rv += 1
        return self.rv

    def put(self, gr: GroupResource, obj: dict[str, Any]) -> Entry:
        """Create or replace ``obj``; stamps a new resourceVersion into it."""
        rv = self.next_rv()
        obj.setdefault("metadata", {})["resourceVersion"] = str(rv)
        entry = Entry(gr, obj, rv)
        bucket = self._objects.setdefault(gr, {})
        old = bucket.get((entry.namespace, entry.name))
        bucket[(entry.namespace, entry.name)] = entry
        if old is not None:
            self._unindex(old)
        self._index(entry)
        self._emit(Event("MODIFIED" if old else "ADDED", entry, old.labels if old else None))
        return entry

    def remove(self, gr: GroupResource, namespace: str, name: str) -> Entry | None:
        """Delete for good; the DELETED event carries the object at a new resourceVersion."""
        bucket = self._objects.get(gr)
        old = bucket.pop((namespace, name), None) if bucket else None
        if old is None:
            return None
        self._unindex(old)
        rv = self.next_rv()
        obj = old.obj()
        obj["metadata"]["resourceVersion"] = str(rv)
        gone = Entry(gr, obj, rv)
        self._emit(Event("DELETED", gone, old.labels))
        return gone

    def drop_resource(self, gr: GroupResource) -> list[Entry]:
        """Remove every object of a resource (its CRD was deleted)."""
        bucket = self._objects.get(gr) or {}
        return [e for e in (self.remove(gr, ns, n) for ns, n in sorted(bucket)) if e is not None]

    # ---------------------------------------------------------------- watches

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def events_after(self, rv: int) -> list[Event] | None:
        """Events newer than ``rv``, or None when ``rv`` is older than the window."""
        if rv < self.oldest_rv:
            return None
        # The log is in resourceVersion order (every change takes the next one and is
        # logged at once), and a watch resumes from a recent version: walking back from
        # the newest end reads the events it returns and one more, not the whole window
        # (about 2 % of the simulator's CPU serving kubectl's rollouts at 250 clusters).
        newer: list[Event] = []
        for event in reversed(self._log):
            if event.entry.rv <= rv:
                break
            newer.append(event)
        newer.reverse()
        return newer

    def _emit(self, event: Event) -> None:
        if len(self._log) == self._log.maxlen:
            self.oldest_rv = self._log[0].rv
        self._log.append(event)
        for listener in list(self._listeners):
            listener(event)

    def _index(self, entry: Entry) -> None:
        if entry.uid:
            self._by_uid[entry.uid] = entry
        for owner in entry.owners:
            self._dependents.setdefault(owner, set()).add(entry)

    def _unindex(self, entry: Entry) -> None:
        if entry.uid and self._by_uid.get(entry.uid) is entry:
            del self._by_uid[entry.uid]
        for owner in entry.owners:
            deps = self._dependents.get(owner)
            if deps is not None:
                deps.discard(entry)
                if not deps:
                    del self._dependents[owner]


def entries_data(entries: Iterable[Entry]) -> list[bytes]:
    return [e.data for e in entries]
