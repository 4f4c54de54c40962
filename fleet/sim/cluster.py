"""The API semantics of one simulated cluster, independent of HTTP.

:class:`ClusterState` holds the store and the registry of one cluster and implements the
write verbs the way the API server's generic registry does: create, update (PUT),
patch, status and scale subresources, delete with finalizers and propagation policies,
deletecollection, and dry-run for all of them. Every refusal is an
:class:`~fleet.sim.errors.ApiError`; nothing is stored unless every check passed.
The garbage collector and the namespace and CRD finalizers live in
:mod:`fleet.sim.collector` and are started by :meth:`ClusterState.request_collection`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fleet.sim import crds, errors, meta, patches, patching, pruning
from fleet.sim.defaults import ClusterIPs, apply_defaults, keep_allocated
from fleet.sim.options import DeleteOptions, WriteOptions
from fleet.sim.registry import Registry, ResourceType
from fleet.sim.store import Entry, Store
from fleet.sim.validation import object_problems, update_problems

Obj = dict[str, Any]
CRD_GR = ("apiextensions.k8s.io", "customresourcedefinitions")
NAMESPACES_GR = ("", "namespaces")
CRD_FINALIZER = "customresourcecleanup.apiextensions.k8s.io"


@dataclass(frozen=True, slots=True)
class DeleteResult:
    """``object`` is the object still present (being finalized) or the one removed."""

    object: Obj
    removed: bool


DEFAULT_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


class ClusterState:
    """Store, registry and write semantics of one cluster."""

    def __init__(self, name: str, watch_window: int = 1000, namespace_delay: float = 0.2) -> None:
        self.name = name
        #: How long a Terminating namespace waits before its content is deleted (the
        #: namespace controller of a real cluster takes a moment too, and clients such as
        #: ``kubectl delete -f`` rely on that to delete the rest of a file themselves).
        self.namespace_delay = namespace_delay
        self.terminating_since: dict[str, float] = {}
        self.store = Store(window=watch_window)
        self.registry = Registry()
        self.ips = ClusterIPs()
        self._collector: Callable[[], None] | None = None
        self._collect_scheduled = False
        self._schemas: dict[tuple[str, str, str], tuple[int, patching.Schema]] = {}
        for namespace in DEFAULT_NAMESPACES:
            self.create(self.type("", "namespaces"), "v1", "", {"metadata": {"name": namespace}})

    # ---------------------------------------------------------------- lookups

    def type(self, group: str, plural: str) -> ResourceType:
        rt = self.registry.by_group_resource(group, plural)
        if rt is None:
            raise errors.no_such_path()
        return rt

    def get(self, rt: ResourceType, namespace: str, name: str) -> Entry:
        entry = self.store.get(rt.group_resource, namespace, name)
        if entry is None:
            raise errors.not_found(rt.plural, rt.group, name)
        return entry

    def schema(self, rt: ResourceType, version: str) -> patching.Schema:
        """The patch/apply schema of ``rt`` at ``version`` (cached until the registry changes)."""
        key = (rt.group, rt.plural, version)
        cached = self._schemas.get(key)
        if cached is None or cached[0] != self.registry.generation:
            crd = None
            if rt.custom:
                entry = self.store.get(CRD_GR, "", f"{rt.plural}.{rt.group}")
                crd = entry.obj() if entry else None
            cached = (self.registry.generation, patches.schema_for(rt, version, crd))
            self._schemas[key] = cached
        return cached[1]

    def served(self, rt: ResourceType, version: str, obj: Obj) -> Obj:
        """``obj`` as served under ``version`` (only ``apiVersion`` differs)."""
        obj["apiVersion"] = rt.api_version(version)
        obj["kind"] = rt.kind
        return obj

    # ----------------------------------------------------------------- checks

    def _check_identity(self, rt: ResourceType, version: str, namespace: str, obj: Obj) -> None:
        if not isinstance(obj, dict):
            raise errors.bad_request("the body of the request is not a JSON object")
        api_version = obj.get("apiVersion")
        kind = obj.get("kind")
        if api_version and api_version not in {rt.api_version(v) for v in rt.versions}:
            raise errors.bad_request(
                f"the API version in the data ({api_version}) "
                "does not match the expected API version "
                f"({rt.api_version(version)})"
            )
        if kind and kind != rt.kind:
            raise errors.bad_request(
                f"the kind in the data ({kind}) does not match the expected kind ({rt.kind})"
            )
        body_meta = meta.metadata(obj)
        body_ns = body_meta.get("namespace")
        if rt.namespaced:
            if body_ns and namespace and body_ns != namespace:
                raise errors.bad_request(
                    "the namespace of the provided object does not "
                    "match the namespace sent on the request"
                )
            body_meta["namespace"] = namespace
        else:
            body_meta.pop("namespace", None)

    def _check_namespace(self, rt: ResourceType, namespace: str, name: str, creating: bool) -> None:
        if not rt.namespaced:
            return
        ns = self.store.get(NAMESPACES_GR, "", namespace)
        if ns is None:
            raise errors.not_found("namespaces", "", namespace)
        if creating and ns.deleting:
            raise errors.forbidden(
                rt.plural,
                rt.group,
                name,
                f"unable to create new content in namespace {namespace} "
                "because it is being terminated",
            )

    def _prune(self, rt: ResourceType, version: str, obj: Obj, opts: WriteOptions) -> None:
        """Drop fields a custom resource's schema does not declare (Strict: refuse them)."""
        schema = rt.schemas.get(version) if rt.custom else None
        if not schema:
            return
        dropped = pruning.prune(obj, schema)
        if dropped and opts.field_validation == "Strict":
            unknown = ", ".join(f'unknown field "{path}"' for path in dropped)
            raise errors.bad_request(f"strict decoding error: {unknown}")
        if opts.field_validation == "Warn":
            opts.warnings.extend(f'unknown field "{path}"' for path in dropped)

    def _validate(self, rt: ResourceType, obj: Obj, old: Obj | None) -> None:
        problems = object_problems(rt, obj)
        if old is not None:
            problems.extend(update_problems(rt, old, obj))
        if problems:
            raise errors.invalid(
                rt.kind, rt.group, str(meta.metadata(obj).get("name", "")), problems
            )

    # ----------------------------------------------------------------- create

    def create(
        self,
        rt: ResourceType,
        version: str,
        namespace: str,
        body: Obj,
        opts: WriteOptions | None = None,
        operation: str = "Update",
    ) -> Obj:
        """POST: store a new object and return it as stored."""
        opts = opts or WriteOptions()
        self._check_identity(rt, version, namespace, body)
        obj = body
        md = meta.metadata(obj)
        if not md.get("name"):
            if md.get("generateName"):
                md["name"] = meta.generated_name(str(md["generateName"]))
            else:
                raise errors.invalid(
                    rt.kind,
                    rt.group,
                    "",
                    [
                        errors.Cause(
                            "metadata.name",
                            "Required value: name or generateName is required",
                            "FieldValueRequired",
                        )
                    ],
                )
        name = str(md["name"])
        self._check_namespace(rt, namespace, name, creating=True)
        for volatile in (
            "resourceVersion",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "selfLink",
        ):
            md.pop(volatile, None)
        md["uid"] = meta.new_uid()
        md["creationTimestamp"] = meta.now()
        md["generation"] = 1
        self.served(rt, version, obj)
        self._initial_status(rt, obj)
        apply_defaults(rt.group, rt.kind, obj, self.ips)
        self._prune(rt, version, obj, opts)
        self._validate(rt, obj, None)
        if self.store.get(rt.group_resource, namespace if rt.namespaced else "", name) is not None:
            raise errors.already_exists(rt.plural, rt.group, name)
        if rt.group_resource == CRD_GR:
            self._accept_crd(obj)
        patches.track(None, obj, opts, operation, "", self.schema(rt, version))
        if opts.dry_run:
            return obj
        if rt.group_resource == CRD_GR:
            self.registry.add(crds.resource_type(obj))
        self.store.put(rt.group_resource, self.served(rt, rt.storage_version, obj))
        if md.get("ownerReferences"):
            self.request_collection()
        return self.served(rt, version, obj)

    def _initial_status(self, rt: ResourceType, obj: Obj) -> None:
        key = (rt.group, rt.kind)
        if key == ("", "Namespace"):
            obj["status"] = {"phase": "Active"}
        elif key == ("", "Pod"):
            obj["status"] = {"phase": "Pending", "qosClass": "BestEffort"}
        elif key == ("", "PersistentVolumeClaim"):
            obj["status"] = {"phase": "Pending"}
        elif key == ("", "Service"):
            obj["status"] = {"loadBalancer": {}}
        elif rt.status and key != ("", "Node"):
            obj.pop("status", None)

    def _accept_crd(self, obj: Obj) -> None:
        existing = self.registry.kind(obj["spec"]["group"], obj["spec"]["names"]["kind"])
        if existing is not None and not existing.custom:
            raise errors.invalid(
                "CustomResourceDefinition",
                "apiextensions.k8s.io",
                obj["metadata"]["name"],
                [errors.Cause("spec.group", "Invalid value: group is served by a built-in API")],
            )
        obj["status"] = crds.established_status(obj, meta.now())
        fins = meta.finalizers(obj)
        if CRD_FINALIZER not in fins:
            obj["metadata"]["finalizers"] = [*fins, CRD_FINALIZER]

    # ----------------------------------------------------------------- update

    def update(
        self,
        rt: ResourceType,
        version: str,
        namespace: str,
        name: str,
        body: Obj,
        opts: WriteOptions | None = None,
        subresource: str = "",
        operation: str = "Update",
    ) -> Obj:
        """PUT (also the last step of every patch): replace the object, or its status."""
        opts = opts or WriteOptions()
        self._check_identity(rt, version, namespace, body)
        body_name = meta.metadata(body).get("name")
        if body_name and body_name != name:
            raise errors.bad_request(
                f"the name of the object ({body_name}) does not match the name on the URL ({name})"
            )
        meta.metadata(body)["name"] = name
        entry = self.get(rt, namespace if rt.namespaced else "", name)
        old = entry.obj()
        wanted_rv = meta.metadata(body).get("resourceVersion")
        if wanted_rv and str(wanted_rv) != str(entry.rv):
            raise errors.conflict(rt.plural, rt.group, name, errors.STALE_RESOURCE_VERSION)
        new = self._merge_update(rt, old, body, subresource)
        self.served(rt, version, new)
        if rt.group_resource == ("", "services"):
            keep_allocated(old, new)
        apply_defaults(rt.group, rt.kind, new, self.ips)
        self._prune(rt, version, new, opts)
        self._validate(rt, new, old)
        status_apart = rt.status or not rt.custom
        if meta.spec_part(new, status_apart) != meta.spec_part(old, status_apart):
            new["metadata"]["generation"] = int(old["metadata"].get("generation") or 1) + 1
        if rt.group_resource == CRD_GR:
            self._update_crd(old, new)
        patches.track(old, new, opts, operation, subresource, self.schema(rt, version))
        return self._store_update(rt, version, entry, old, new, opts.dry_run)

    def _merge_update(self, rt: ResourceType, old: Obj, body: Obj, subresource: str) -> Obj:
        if subresource == "status":
            new = dict(old)
            new["metadata"] = dict(old["metadata"])
            if "managedFields" in meta.metadata(body):
                new["metadata"]["managedFields"] = meta.metadata(body)["managedFields"]
            if "status" in body:
                new["status"] = body["status"]
            else:
                new.pop("status", None)
            return new
        new = dict(body)
        md = dict(meta.metadata(body))
        old_md = old["metadata"]
        for kept in (
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
        ):
            if kept in old_md:
                md[kept] = old_md[kept]
            else:
                md.pop(kept, None)
        if rt.namespaced:
            md["namespace"] = old_md.get("namespace", "")
        md.pop("resourceVersion", None)
        if "managedFields" not in md and "managedFields" in old_md:
            md["managedFields"] = old_md["managedFields"]
        new["metadata"] = md
        if rt.status or rt.group_resource == CRD_GR:
            if "status" in old:
                new["status"] = old["status"]
            else:
                new.pop("status", None)
        return new

    def _update_crd(self, old: Obj, new: Obj) -> None:
        for key in (("group",), ("names", "plural")):
            if _dig(old["spec"], key) != _dig(new["spec"], key):
                raise errors.invalid(
                    "CustomResourceDefinition",
                    "apiextensions.k8s.io",
                    new["metadata"]["name"],
                    [errors.Cause("spec." + ".".join(key), "Invalid value: field is immutable")],
                )
        if not new["metadata"].get("deletionTimestamp"):
            new["status"] = crds.established_status(new, meta.now())

    def _store_update(
        self, rt: ResourceType, version: str, entry: Entry, old: Obj, new: Obj, dry_run: bool
    ) -> Obj:
        if meta.without_volatile(new) == meta.without_volatile(old):
            return self.served(rt, version, old)  # a no-op write changes nothing, not even the RV
        if dry_run:
            new["metadata"]["resourceVersion"] = str(entry.rv)
            return new
        if (
            new["metadata"].get("deletionTimestamp")
            and not meta.finalizers(new)
            and not self._namespace_pending(rt, new)
        ):
            gone = self.store.remove(rt.group_resource, entry.namespace, entry.name)
            self.request_collection()
            return self.served(rt, version, gone.obj() if gone else new)
        if rt.group_resource == CRD_GR and not new["metadata"].get("deletionTimestamp"):
            self.registry.add(crds.resource_type(new))
        stored = self.store.put(rt.group_resource, self.served(rt, rt.storage_version, new))
        if stored.owners != entry.owners or stored.deleting:
            self.request_collection()
        return self.served(rt, version, new)

    @staticmethod
    def _namespace_pending(rt: ResourceType, obj: Obj) -> bool:
        return rt.group_resource == NAMESPACES_GR and bool(
            (obj.get("spec") or {}).get("finalizers")
        )

    # ----------------------------------------------------------------- delete

    def delete(
        self, rt: ResourceType, namespace: str, name: str, opts: DeleteOptions | None = None
    ) -> DeleteResult:
        opts = opts or DeleteOptions()
        entry = self.get(rt, namespace if rt.namespaced else "", name)
        if opts.uid and opts.uid != entry.uid:
            raise errors.conflict(
                rt.plural,
                rt.group,
                name,
                f"Precondition failed: UID in precondition: {opts.uid}, "
                f"UID in object meta: {entry.uid}",
            )
        if opts.resource_version and opts.resource_version != str(entry.rv):
            raise errors.conflict(
                rt.plural,
                rt.group,
                name,
                f"Precondition failed: ResourceVersion in precondition: {opts.resource_version}, "
                f"ResourceVersion in object meta: {entry.rv}",
            )
        obj = entry.obj()
        md = obj["metadata"]
        fins = meta.finalizers(obj)
        policy = opts.propagation
        if policy not in (None, "Foreground", "Background", "Orphan"):
            raise errors.invalid(
                "DeleteOptions",
                "",
                "",
                [
                    errors.Cause(
                        "propagationPolicy",
                        f'Unsupported value: "{policy}"',
                        "FieldValueNotSupported",
                    )
                ],
            )
        if policy == "Foreground" and "foregroundDeletion" not in fins:
            fins.append("foregroundDeletion")
        elif policy == "Orphan" and "orphan" not in fins:
            fins.append("orphan")
        pending = bool(fins) or self._namespace_pending(rt, obj) or rt.group_resource == CRD_GR
        if not pending:
            if opts.dry_run:
                return DeleteResult(obj, removed=True)
            gone = self.store.remove(rt.group_resource, entry.namespace, entry.name)
            self.request_collection()
            return DeleteResult(gone.obj() if gone else obj, removed=True)
        if fins:
            md["finalizers"] = fins
        if not md.get("deletionTimestamp"):
            md["deletionTimestamp"] = meta.now()
            md["deletionGracePeriodSeconds"] = 0
        if rt.group_resource == NAMESPACES_GR:
            obj.setdefault("status", {})["phase"] = "Terminating"
            if not opts.dry_run:
                self.terminating_since.setdefault(name, time.monotonic())
        if rt.group_resource == CRD_GR:
            conditions = [
                c
                for c in obj.get("status", {}).get("conditions", [])
                if c.get("type") != "Terminating"
            ]
            conditions.append(
                {
                    "type": "Terminating",
                    "status": "True",
                    "reason": "InstanceDeletionInProgress",
                    "message": "CustomResource deletion is in progress",
                    "lastTransitionTime": meta.now(),
                }
            )
            obj.setdefault("status", {})["conditions"] = conditions
        if opts.dry_run:
            return DeleteResult(obj, removed=False)
        if obj != entry.obj():
            self.store.put(rt.group_resource, obj)
        self.request_collection()
        return DeleteResult(obj, removed=False)

    # -------------------------------------------------------------- collection

    def set_collector(self, collect: Callable[[], None]) -> None:
        self._collector = collect

    def request_collection(self, after: float = 0.0) -> None:
        """Run the garbage collector soon (on the next loop turn), as the real one runs apart."""
        if self._collector is None:
            return
        if after > 0:
            # Without an event loop (pure unit tests) nothing runs later.
            with contextlib.suppress(RuntimeError):
                asyncio.get_running_loop().call_later(after, self.request_collection)
            return
        if self._collect_scheduled:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._collector()
            return
        self._collect_scheduled = True
        loop.call_soon(self._run_collector)

    def _run_collector(self) -> None:
        self._collect_scheduled = False
        if self._collector is not None:
            self._collector()


def _dig(obj: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        obj = obj.get(key) if isinstance(obj, dict) else None
    return obj
