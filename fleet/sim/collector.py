"""The cluster's background cleanup: garbage collection and the deletion finalizers.

Run after every change that can leave work (a delete, an owner reference set, a
finalizer removed), on the next turn of the event loop, the way kube-controller-manager
works apart from the API server. One pass does:

* foreground deletion: delete an owner's dependents; drop ``foregroundDeletion`` once
  no dependent with ``blockOwnerDeletion`` remains;
* orphan deletion: remove the owner reference from each dependent, then ``orphan``;
* garbage collection: delete (in the background) an object whose owners are all gone;
* namespaces: delete everything in a Terminating namespace, then the namespace;
* CRDs: delete every custom object of a deleted CRD, stop serving it, then the CRD.

Deletions it makes trigger further passes, so cascades finish without polling.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

from fleet.sim import meta
from fleet.sim.cluster import CRD_FINALIZER, CRD_GR, NAMESPACES_GR, ClusterState
from fleet.sim.errors import ApiError
from fleet.sim.options import DeleteOptions, WriteOptions
from fleet.sim.store import Entry

GC_MANAGER = "kube-controller-manager"


def collect(cluster: ClusterState) -> None:
    """One pass over every piece of pending cleanup."""
    store = cluster.store
    deleting = [e for gr in store.group_resources() for e in store.entries(gr) if e.deleting]
    for entry in deleting:
        obj = entry.obj()
        fins = meta.finalizers(obj)
        if "foregroundDeletion" in fins:
            _foreground(cluster, entry, obj)
        if "orphan" in fins:
            _orphan(cluster, entry, obj)
        if entry.group_resource == NAMESPACES_GR:
            _namespace(cluster, entry, obj)
        if entry.group_resource == CRD_GR and CRD_FINALIZER in fins:
            _crd(cluster, entry, obj)
    for owner_uid in list(store._dependents):
        owner = store.by_uid(owner_uid)
        if owner is not None:
            continue
        for dependent in store.dependents(owner_uid):
            if dependent.deleting:
                continue
            if all(store.by_uid(uid) is None for uid in dependent.owners):
                _delete(cluster, dependent, "Background")


def _delete(cluster: ClusterState, entry: Entry, policy: str | None) -> None:
    group, plural = entry.group_resource
    rt = cluster.registry.by_group_resource(group, plural)
    if rt is None:
        cluster.store.remove(entry.group_resource, entry.namespace, entry.name)
        return
    # Already gone or changed under us: the next pass looks again.
    with contextlib.suppress(ApiError):
        cluster.delete(rt, entry.namespace, entry.name, DeleteOptions(propagation=policy))


def _drop_finalizer(
    cluster: ClusterState, entry: Entry, obj: dict[str, Any], finalizer: str
) -> None:
    group, plural = entry.group_resource
    rt = cluster.registry.by_group_resource(group, plural)
    if rt is None:
        return
    obj["metadata"]["finalizers"] = [f for f in meta.finalizers(obj) if f != finalizer]
    with contextlib.suppress(ApiError):
        cluster.update(rt, rt.storage_version, entry.namespace, entry.name, obj, WriteOptions())


def _foreground(cluster: ClusterState, entry: Entry, obj: dict[str, Any]) -> None:
    blocking = False
    for dependent in cluster.store.dependents(entry.uid):
        refs = dependent.obj()["metadata"].get("ownerReferences") or []
        if any(r.get("uid") == entry.uid and r.get("blockOwnerDeletion") for r in refs):
            blocking = True
        if not dependent.deleting:
            has_own = bool(cluster.store.dependents(dependent.uid))
            _delete(cluster, dependent, "Foreground" if has_own else "Background")
    if not blocking:
        _drop_finalizer(cluster, entry, obj, "foregroundDeletion")


def _orphan(cluster: ClusterState, entry: Entry, obj: dict[str, Any]) -> None:
    for dependent in cluster.store.dependents(entry.uid):
        group, plural = dependent.group_resource
        rt = cluster.registry.by_group_resource(group, plural)
        if rt is None:
            continue
        body = dependent.obj()
        refs = [
            r for r in body["metadata"].get("ownerReferences") or [] if r.get("uid") != entry.uid
        ]
        if refs:
            body["metadata"]["ownerReferences"] = refs
        else:
            body["metadata"].pop("ownerReferences", None)
        try:
            cluster.update(
                rt, rt.storage_version, dependent.namespace, dependent.name, body, WriteOptions()
            )
        except ApiError:
            return
    _drop_finalizer(cluster, entry, obj, "orphan")


def _namespace(cluster: ClusterState, entry: Entry, obj: dict[str, Any]) -> None:
    since = cluster.terminating_since.setdefault(entry.name, time.monotonic())
    waited = time.monotonic() - since
    if waited < cluster.namespace_delay:
        cluster.request_collection(after=cluster.namespace_delay - waited)
        return
    content = cluster.store.in_namespace(entry.name)
    for item in content:
        if not item.deleting:
            _delete(cluster, item, None)
    if cluster.store.in_namespace(entry.name):
        return
    spec_finalizers = (obj.get("spec") or {}).get("finalizers") or []
    if spec_finalizers:
        obj["spec"]["finalizers"] = []
        rt = cluster.type(*NAMESPACES_GR)
        cluster.update(rt, "v1", "", entry.name, obj, WriteOptions(), subresource="finalize")
        cluster.terminating_since.pop(entry.name, None)


def _crd(cluster: ClusterState, entry: Entry, obj: dict[str, Any]) -> None:
    spec = obj["spec"]
    gr = (spec["group"], spec["names"]["plural"])
    cluster.store.drop_resource(gr)
    cluster.registry.remove(*gr)
    _drop_finalizer(cluster, entry, obj, CRD_FINALIZER)


def install(cluster: ClusterState) -> None:
    cluster.set_collector(lambda: collect(cluster))
