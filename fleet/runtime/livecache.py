"""What fleet knows of the objects it manages on one cluster, kept current by watches.

The cache holds every object carrying fleet's app label, by reference, as the last list
or watch event showed it. The reconcilers read live state from here instead of asking
the API server, which is what makes an idle fleet cost no requests at all. Listeners
hear which app's object changed, so drift wakes exactly the worker that owns it.

Two sources write here: the watch stream, in order, and a sync's write answers (the
object as the server answered the apply, put in before the watch brings it). The watch
can still be delivering events older than such an answer, and a list can be a snapshot
taken before it: neither may put an object back to an older resourceVersion, or the
object reads as before the sync (OutOfSync, a second heal) until the watch catches up.
resourceVersion is opaque in general, but every etcd-backed API server (and the
simulator) gives one object's versions as increasing integers; only versions that are
both integers are compared, anything else is taken in the order it arrives.

``managedFields`` are dropped on the way in, but for the entries of managers that some
app's ignoreDifferences names: they are about half of a Deployment's size and nothing
else reads them, and a hundred clusters' caches are most of the daemon's memory.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import anyio

from fleet.model.refs import ObjectRef
from fleet.model.tracking import APP_LABEL

#: (app label value, object reference, event type: ADDED, MODIFIED, DELETED)
ChangeListener = Callable[[str, ObjectRef, str], None]


def _app_of(obj: Mapping[str, Any]) -> str:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return str(labels.get(APP_LABEL) or "")


class LiveCache:
    """Managed objects of one cluster; ``synced(kind)`` says a kind has been listed."""

    def __init__(self, cluster: str, kept_managers: frozenset[str] = frozenset()) -> None:
        self.cluster = cluster
        self.kept_managers = kept_managers
        self._objects: dict[ObjectRef, dict[str, Any]] = {}
        #: The same objects by app label value: a sync asks for its app's objects at
        #: every decision, and scanning every object of the cluster for them was a
        #: noticeable share of the daemon's CPU with several apps or a hundred clusters.
        self._by_app: dict[str, dict[ObjectRef, dict[str, Any]]] = {}
        self._listed: set[tuple[str, str]] = set()
        #: resourceVersion of each deletion the watch reported: a write answered before
        #: it, arriving after, must not bring the object back.
        self._deleted_at: dict[ObjectRef, str] = {}
        self._listeners: list[ChangeListener] = []
        self._listed_event = anyio.Event()

    def subscribe(self, listener: ChangeListener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def synced(self, group: str, kind: str) -> bool:
        return (group, kind) in self._listed

    def forget_kind(self, group: str, kind: str) -> None:
        """The kind's watch stopped (cluster down): its objects are no longer known."""
        self._listed.discard((group, kind))
        for ref in [r for r in self._objects if (r.group, r.kind) == (group, kind)]:
            self._drop(ref)
        self._forget_deletions(group, kind)

    def _forget_deletions(self, group: str, kind: str) -> None:
        for ref in [r for r in self._deleted_at if (r.group, r.kind) == (group, kind)]:
            del self._deleted_at[ref]

    def get(self, ref: ObjectRef) -> dict[str, Any] | None:
        return self._objects.get(ref)

    def objects_of(self, app: str) -> dict[ObjectRef, dict[str, Any]]:
        return dict(self._by_app.get(app) or {})

    def _put(self, ref: ObjectRef, obj: dict[str, Any]) -> None:
        """Cache ``obj``; an object updated keeps its place, as in ``_objects``."""
        before = self._objects.get(ref)
        app = _app_of(obj)
        if before is not None and _app_of(before) != app:
            self._unindex(ref, before)
        self._objects[ref] = obj
        self._by_app.setdefault(app, {})[ref] = obj

    def _drop(self, ref: ObjectRef) -> dict[str, Any] | None:
        before = self._objects.pop(ref, None)
        if before is not None:
            self._unindex(ref, before)
        return before

    def _unindex(self, ref: ObjectRef, obj: dict[str, Any]) -> None:
        app = _app_of(obj)
        owned = self._by_app.get(app)
        if owned is not None:
            owned.pop(ref, None)
            if not owned:
                del self._by_app[app]

    def replace_kind(
        self, group: str, kind: str, items: Iterable[dict[str, Any]], version: str = ""
    ) -> None:
        """A fresh list of one kind (at resourceVersion ``version``): differences from
        what was cached are reported. An object cached at a newer version than the list's
        (a write answered after the list was taken) is kept: the watch from ``version``
        brings it, or its deletion.

        An object listed at the version cached is left as it was: every kind is listed
        again each resync period, and replacing every cached object with an equal copy
        freed the long-lived originals all over the heap, which grew the daemon's RSS
        with each round of re-lists at 1,000 clusters."""
        fresh: dict[ObjectRef, dict[str, Any]] = {}
        for item in items:
            ref = ObjectRef.of(item)
            fresh[ObjectRef(group, kind, ref.namespace, ref.name)] = item
        old = {r: o for r, o in self._objects.items() if (r.group, r.kind) == (group, kind)}
        self._forget_deletions(group, kind)
        for ref, obj in old.items():
            if ref not in fresh and not _newer(_rv(obj), version):
                self._drop(ref)
                self._deleted_at[ref] = version  # gone by then: an older answer is, too
                self._emit(_app_of(obj), ref, "DELETED")
        for ref, item in fresh.items():
            before = old.get(ref)
            if before is not None:
                cached, listed = _rv(before), _rv(item)
                if _newer(cached, listed) or (listed and listed == cached):
                    continue
            self._put(ref, self._slim(item))
            if before is None:
                self._emit(_app_of(item), ref, "ADDED")
            elif _rv(before) != _rv(item):
                self._emit(_app_of(item), ref, "MODIFIED")
        self._listed.add((group, kind))
        self._listed_event.set()
        self._listed_event = anyio.Event()

    async def wait_listed(self, wanted: Iterable[tuple[str, str]]) -> None:
        """Return once every (group, kind) of ``wanted`` has been listed."""
        wanted = set(wanted)
        while not wanted <= self._listed:
            await self._listed_event.wait()

    def apply_event(self, group: str, kind: str, event_type: str, obj: dict[str, Any]) -> None:
        meta = obj.get("metadata") or {}
        ref = ObjectRef(group, kind, str(meta.get("namespace") or ""), str(meta.get("name")))
        before = self._objects.get(ref)
        known = _rv(before) if before is not None else self._deleted_at.get(ref, "")
        if _newer(known, _rv(obj)):
            # Older than what is cached: an event the watch is still catching up with
            # after a write's answer, or an answer that lost the race to the watch.
            return
        self._deleted_at.pop(ref, None)
        if event_type == "DELETED":
            self._drop(ref)
            self._deleted_at[ref] = _rv(obj)
            app = _app_of(obj) or (_app_of(before) if before else "")
        else:
            self._put(ref, self._slim(obj))
            app = _app_of(obj)
            if before is not None and _app_of(before) != app:
                # The label moved to another app (or was removed): tell the old owner too.
                self._emit(_app_of(before), ref, "DELETED")
        self._emit(app, ref, event_type)

    def _slim(self, obj: dict[str, Any]) -> dict[str, Any]:
        """``obj`` without the managedFields entries no app asks for (a shallow copy)."""
        meta = obj.get("metadata")
        if not isinstance(meta, dict) or "managedFields" not in meta:
            return obj
        kept = [
            entry
            for entry in meta["managedFields"] or []
            if isinstance(entry, dict) and entry.get("manager") in self.kept_managers
        ]
        slim_meta = {k: v for k, v in meta.items() if k != "managedFields"}
        if kept:
            slim_meta["managedFields"] = kept
        return {**obj, "metadata": slim_meta}

    def _emit(self, app: str, ref: ObjectRef, event_type: str) -> None:
        if not app:
            return
        for listener in list(self._listeners):
            listener(app, ref, event_type)


def _rv(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion") or "")


def _newer(version: str, than: str) -> bool:
    """``version`` is known to come after ``than``: both are integers (etcd's revisions,
    the simulator's counter) and it is the greater. Unknown order is never newer."""
    if not (version.isdigit() and than.isdigit()):
        return False
    return int(version) > int(than)
