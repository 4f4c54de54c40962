"""A watch-fed cache of one kind, indexed by controlling owner, that remembers our writes.

Controllers decide from this cache, not from fresh reads. Two things keep those
decisions from acting twice on stale data:

- Write-through: the object a write returns goes into the cache at once, so a pod just
  created is counted by the next sync even before its watch event arrives.
- Pending writes: after our write produced resourceVersion X, watch events for that
  object are older than X until the event carrying X arrives (a watch delivers each
  object's changes in order), so they are skipped instead of rolling the cache back.
  A mark that is never met (a re-list, a lost event) expires after a while.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from fleet.sim.controllers.objects import Obj, controller_ref, meta, name_of, namespace_of

Key = tuple[str, str]  # (namespace, name)
PENDING_TTL = 30.0


def key_of(obj: Obj) -> Key:
    return namespace_of(obj), name_of(obj)


def _version(obj: Obj) -> str:
    return str(meta(obj).get("resourceVersion") or "")


def _owner_uid(obj: Obj) -> str | None:
    ref = controller_ref(obj)
    return str(ref.get("uid")) if ref else None


@dataclass(slots=True)
class _Pending:
    version: str | None  # None: we deleted it
    expires: float
    uid: str = ""


class Store:
    """Objects of one kind by (namespace, name), with an index by controller uid."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._objects: dict[Key, Obj] = {}
        self._by_owner: dict[str, set[Key]] = {}
        self._pending: dict[Key, _Pending] = {}

    def __len__(self) -> int:
        return len(self._objects)

    def get(self, namespace: str, name: str) -> Obj | None:
        return self._objects.get((namespace, name))

    def all(self) -> list[Obj]:
        return list(self._objects.values())

    def in_namespace(self, namespace: str) -> list[Obj]:
        return [obj for (ns, _), obj in self._objects.items() if ns == namespace]

    def owned_by(self, uid: str) -> list[Obj]:
        return [self._objects[k] for k in self._by_owner.get(uid, ()) if k in self._objects]

    def _put(self, obj: Obj) -> Obj | None:
        key = key_of(obj)
        old = self._drop(key)
        self._objects[key] = obj
        owner = _owner_uid(obj)
        if owner:
            self._by_owner.setdefault(owner, set()).add(key)
        return old

    def _drop(self, key: Key) -> Obj | None:
        old = self._objects.pop(key, None)
        if old is not None:
            owner = _owner_uid(old)
            if owner and owner in self._by_owner:
                self._by_owner[owner].discard(key)
                if not self._by_owner[owner]:
                    del self._by_owner[owner]
        return old

    def observe(self, event_type: str, obj: Obj) -> tuple[Obj | None, Obj | None] | None:
        """Apply a watch event; returns (old, new) when the cache changed, else None."""
        key = key_of(obj)
        if event_type == "DELETED":
            self._pending.pop(key, None)
            old = self._drop(key)
            return (old, None) if old is not None else None
        pending = self._pending.get(key)
        if pending is not None:
            met = pending.version == _version(obj)
            recreated = pending.version is None and meta(obj).get("uid") != pending.uid
            if not met and not recreated and self._clock() < pending.expires:
                return None  # older than what we wrote
            del self._pending[key]
            if met and key in self._objects and _version(self._objects[key]) == _version(obj):
                return None  # our write-through already holds this version
        old = self._put(obj)
        return old, obj

    def wrote(self, obj: Obj) -> tuple[Obj | None, Obj | None] | None:
        """Record the server's answer to our create or update; returns the change.

        The watch event for it will be skipped, so the caller reacts to the change now.
        """
        key = key_of(obj)
        current = self._objects.get(key)
        if current is not None and _version(current) == _version(obj):
            return None  # a no-op write: no event will follow
        old = self._put(obj)
        self._pending[key] = _Pending(_version(obj), self._clock() + PENDING_TTL)
        return old, obj

    def deleted(self, namespace: str, name: str) -> tuple[Obj | None, Obj | None] | None:
        """Record that we deleted an object outright; returns the change."""
        key = (namespace, name)
        old = self._drop(key)
        if old is None:
            return None
        uid = str(meta(old).get("uid") or "")
        self._pending[key] = _Pending(None, self._clock() + PENDING_TTL, uid)
        return old, None

    def replace_all(self, objects: Iterable[Obj]) -> list[tuple[Obj | None, Obj | None]]:
        """Swap in a fresh list; returns what changed, removals included."""
        fresh = {key_of(o): o for o in objects}
        changes: list[tuple[Obj | None, Obj | None]] = []
        for key in list(self._objects):
            if key not in fresh:
                changes.append((self._drop(key), None))
        for obj in fresh.values():
            current = self._objects.get(key_of(obj))
            if current is None or _version(current) != _version(obj):
                changes.append((self._put(obj), obj))
        self._pending.clear()
        return changes
