"""Write verbs over HTTP: POST, PUT, PATCH (four patch types), DELETE, deletecollection.

This module decodes requests and encodes answers; the semantics are in
:class:`~fleet.sim.cluster.ClusterState` and the patch algorithms in
:mod:`fleet.sim.patches`. The ``status`` and ``scale`` subresources are handled here
because they only reshape what is read and written.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from fleet.sim import errors, patches, wire
from fleet.sim.cluster import ClusterState
from fleet.sim.options import DeleteOptions, WriteOptions
from fleet.sim.registry import ResourceType
from fleet.sim.selectors import format_selector
from fleet.sim.store import dumps

Obj = dict[str, Any]


def _dry_run(request: web.Request) -> bool:
    values = request.query.getall("dryRun", [])
    for value in values:
        if value != "All":
            raise errors.bad_request(
                f'dryRun: Unsupported value: "{value}": supported values: "All"'
            )
    return bool(values)


def _manager(request: web.Request, required: bool = False) -> str:
    manager = request.query.get("fieldManager", "")
    if len(manager) > 128:
        raise errors.invalid(
            "PatchOptions",
            "meta.k8s.io",
            "",
            [
                errors.Cause(
                    "fieldManager", "Too long: must have at most 128 bytes", "FieldValueTooLong"
                )
            ],
        )
    if not manager and not required:
        agent = request.headers.get("User-Agent", "unknown")
        manager = agent.split("/")[0][:128] or "unknown"
    return manager


def write_options(request: web.Request, apply: bool = False) -> WriteOptions:
    validation = request.query.get("fieldValidation") or "Warn"
    if validation not in ("Ignore", "Warn", "Strict"):
        raise errors.bad_request(f'fieldValidation: Unsupported value: "{validation}"')
    manager = _manager(request, required=apply)
    if apply and not manager:
        raise errors.bad_request(
            'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: '
            "is required for apply patch"
        )
    force = wire.parse_bool(request.query.get("force"))
    if force and not apply:
        raise errors.bad_request("force: Forbidden: may not be specified for non-apply patch")
    return WriteOptions(
        dry_run=_dry_run(request), field_manager=manager, force=force, field_validation=validation
    )


class Writer:
    """Write verbs of one cluster."""

    def __init__(self, cluster: ClusterState) -> None:
        self.cluster = cluster

    async def create(
        self, request: web.Request, rt: ResourceType, version: str, namespace: str
    ) -> web.Response:
        if "create" not in rt.verbs:
            raise errors.method_not_allowed("POST")
        body = wire.decode_object(await wire.read_body(request), wire.media_type(request))
        opts = write_options(request)
        obj = self.cluster.create(rt, version, namespace, body, opts)
        return wire.respond(201, obj, warnings=opts.warnings)

    async def replace(
        self,
        request: web.Request,
        rt: ResourceType,
        version: str,
        namespace: str,
        name: str,
        subresource: str,
    ) -> web.Response:
        body = wire.decode_object(await wire.read_body(request), wire.media_type(request))
        opts = write_options(request)
        if subresource == "scale":
            return wire.respond(200, self._write_scale(rt, version, namespace, name, body, opts))
        obj = self.cluster.update(rt, version, namespace, name, body, opts, subresource)
        return wire.respond(200, obj, warnings=opts.warnings)

    async def patch(
        self,
        request: web.Request,
        rt: ResourceType,
        version: str,
        namespace: str,
        name: str,
        subresource: str,
    ) -> web.Response:
        content_type = wire.media_type(request)
        raw = await wire.read_body(request)
        apply = content_type == wire.APPLY_YAML
        opts = write_options(request, apply=apply)
        patch_type = patches.patch_type(content_type, rt)
        patch = wire.decode(raw, content_type)
        key_ns = namespace if rt.namespaced else ""
        entry = self.cluster.store.get(rt.group_resource, key_ns, name)
        if entry is None:
            if not apply or subresource:
                raise errors.not_found(rt.plural, rt.group, name)
            if isinstance(patch, dict):
                _check_apply_name(patch, name)
            schema = self.cluster.schema(rt, version)
            created = patches.apply(None, patch, schema, opts, rt)
            obj = self.cluster.create(rt, version, namespace, created, opts, operation="Apply")
            return wire.respond(201, obj, warnings=opts.warnings)
        if subresource == "scale":
            scale = scale_of(rt, entry.obj())
            patched = patches.patch(patch_type, scale, patch, patches.scale_schema(), opts, None)
            return wire.respond(200, self._write_scale(rt, version, namespace, name, patched, opts))
        current = entry.obj()
        current["apiVersion"] = rt.api_version(version)
        schema = self.cluster.schema(rt, version)
        patched = patches.patch(patch_type, current, patch, schema, opts, rt, subresource)
        operation = "Apply" if apply else "Update"
        obj = self.cluster.update(
            rt, version, namespace, name, patched, opts, subresource, operation=operation
        )
        return wire.respond(200, obj, warnings=opts.warnings)

    def _write_scale(
        self,
        rt: ResourceType,
        version: str,
        namespace: str,
        name: str,
        scale: Obj,
        opts: WriteOptions,
    ) -> Obj:
        replicas = (scale.get("spec") or {}).get("replicas")
        if not isinstance(replicas, int) or replicas < 0:
            raise errors.invalid(
                "Scale",
                "autoscaling",
                name,
                [
                    errors.Cause(
                        "spec.replicas",
                        f"Invalid value: {replicas}: must be greater than or equal to 0",
                    )
                ],
            )
        entry = self.cluster.get(rt, namespace if rt.namespaced else "", name)
        wanted_rv = (scale.get("metadata") or {}).get("resourceVersion")
        if wanted_rv and str(wanted_rv) != str(entry.rv):
            raise errors.conflict(rt.plural, rt.group, name, errors.STALE_RESOURCE_VERSION)
        obj = entry.obj()
        _set_path(obj, rt.scale_paths[0], replicas)
        updated = self.cluster.update(rt, version, namespace, name, obj, opts, subresource="scale")
        return scale_of(rt, updated)

    async def delete(
        self, request: web.Request, rt: ResourceType, namespace: str, name: str
    ) -> web.Response:
        opts = await delete_options(request)
        result = self.cluster.delete(rt, namespace, name, opts)
        if (
            result.removed
            and not rt.custom
            and rt.group_resource not in {("", "pods"), ("", "namespaces")}
        ):
            meta = result.object.get("metadata") or {}
            status = {
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Success",
                "details": {
                    "name": name,
                    "group": rt.group,
                    "kind": rt.plural,
                    "uid": meta.get("uid", ""),
                },
            }
            return wire.respond(200, status)
        return wire.respond(200, result.object)

    async def delete_collection(
        self,
        request: web.Request,
        rt: ResourceType,
        version: str,
        namespace: str | None,
        reader_matching: Any,
    ) -> web.Response:
        if "deletecollection" not in rt.verbs:
            raise errors.method_not_allowed("DELETE")
        opts = await delete_options(request)
        labels, fields = reader_matching.selectors(request, rt)
        deleted = []
        for entry in reader_matching.matching(rt, namespace, labels, fields):
            try:
                result = self.cluster.delete(rt, entry.namespace, entry.name, opts)
            except errors.ApiError as error:
                if error.code == 404:
                    continue
                raise
            deleted.append(dumps(result.object))
        return wire.respond(
            200,
            wire.list_bytes(rt.list_kind, rt.api_version(version), self.cluster.store.rv, deleted),
        )


def _check_apply_name(patch: Obj, name: str) -> None:
    body_name = (patch.get("metadata") or {}).get("name")
    if body_name and body_name != name:
        raise errors.bad_request(
            f"the name of the object ({body_name}) does not match the name on the URL ({name})"
        )


async def delete_options(request: web.Request) -> DeleteOptions:
    body: Obj = {}
    raw = await wire.read_body(request)
    if raw.strip():
        body = wire.decode_object(raw, wire.media_type(request))
    dry_run = _dry_run(request) or bool(body.get("dryRun"))
    for value in body.get("dryRun") or []:
        if value != "All":
            raise errors.bad_request(f'dryRun: Unsupported value: "{value}"')
    propagation = request.query.get("propagationPolicy") or body.get("propagationPolicy")
    orphan = request.query.get("orphanDependents")
    orphan_flag = wire.parse_bool(orphan) if orphan is not None else body.get("orphanDependents")
    if propagation is None and orphan_flag is not None:
        propagation = "Orphan" if orphan_flag else "Background"
    preconditions = body.get("preconditions") or {}
    return DeleteOptions(
        dry_run=dry_run,
        propagation=propagation,
        uid=preconditions.get("uid"),
        resource_version=preconditions.get("resourceVersion"),
    )


def _get_path(obj: Obj, path: str) -> Any:
    node: Any = obj
    for key in path.strip(".").split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return node


def _set_path(obj: Obj, path: str, value: Any) -> None:
    keys = path.strip(".").split(".")
    node = obj
    for key in keys[:-1]:
        node = node.setdefault(key, {})
    node[keys[-1]] = value


def scale_of(rt: ResourceType, obj: Obj) -> Obj:
    """The autoscaling/v1 ``Scale`` view of a scalable object."""
    md = obj.get("metadata") or {}
    spec_path, status_path, selector_path = rt.scale_paths
    if rt.custom:
        selector = _get_path(obj, selector_path) if selector_path else None
    else:
        selector = format_selector((obj.get("spec") or {}).get("selector"))
        if rt.kind == "ReplicationController":
            selector = ",".join(
                f"{k}={v}"
                for k, v in sorted(((obj.get("spec") or {}).get("selector") or {}).items())
            )
    status: Obj = {"replicas": _get_path(obj, status_path) or 0}
    if selector:
        status["selector"] = selector
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            k: md[k]
            for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
            if k in md
        },
        "spec": {"replicas": _get_path(obj, spec_path) or 0},
        "status": status,
    }
