"""OpenAPI documents, as much of them as clients read.

kubectl reads ``/openapi/v3`` to learn whether the server validates fields itself (the
``fieldValidation`` query parameter of each PATCH operation, found by the operation's
``x-kubernetes-group-version-kind``); when it does, kubectl sends
``fieldValidation=Strict`` instead of validating on the client. So each group-version
document lists every resource path with its operations and those parameters, and a
schema per kind: the CRD's own schema for custom resources, and for built-in kinds the
full typed schema with merge extensions (:mod:`fleet.sim.openapi_builtin`), which
``kubectl explain`` reads. ``/openapi/v2`` has the same paths and open schemas (each
naming its group-version-kind), in JSON or, as kubectl asks for it, in protobuf
(:mod:`fleet.sim.openapi_proto`).
"""

from __future__ import annotations

import hashlib
from typing import Any

from fleet.sim import openapi_builtin
from fleet.sim.discovery import GIT_VERSION
from fleet.sim.registry import Registry, ResourceType
from fleet.sim.store import dumps

_QUERY_PARAMS = ("dryRun", "fieldManager", "fieldValidation", "force", "pretty")
_WRITE_PARAMS = ("dryRun", "fieldManager", "fieldValidation", "pretty")
_LIST_PARAMS = (
    "allowWatchBookmarks",
    "continue",
    "fieldSelector",
    "labelSelector",
    "limit",
    "resourceVersion",
    "resourceVersionMatch",
    "sendInitialEvents",
    "timeoutSeconds",
    "watch",
)


def gv_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def schema_name(rt: ResourceType, version: str) -> str:
    group = rt.group or "core"
    prefix = "io.k8s.api" if not rt.custom else ".".join(reversed(rt.group.split(".")))
    return f"{prefix}.{group.split('.')[0]}.{version}.{rt.kind}"


def _params(names: tuple[str, ...], v3: bool) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = []
    for name in names:
        if v3:
            params.append(
                {"name": name, "in": "query", "schema": {"type": "string", "uniqueItems": True}}
            )
        else:
            params.append({"name": name, "in": "query", "type": "string", "uniqueItems": True})
    return params


def _op(
    rt: ResourceType, version: str, action: str, params: tuple[str, ...], v3: bool
) -> dict[str, Any]:
    ref = ("#/components/schemas/" if v3 else "#/definitions/") + schema_name(rt, version)
    op: dict[str, Any] = {
        "operationId": f"{action}{rt.kind}",
        "parameters": _params(params, v3),
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": {"group": rt.group, "version": version, "kind": rt.kind},
    }
    if v3:
        op["responses"] = {
            "200": {"description": "OK", "content": {"application/json": {"schema": {"$ref": ref}}}}
        }
        if action in ("post", "put", "patch"):
            media = ["application/json"]
            if action == "patch":
                media = [
                    "application/apply-patch+yaml",
                    "application/json-patch+json",
                    "application/merge-patch+json",
                    "application/strategic-merge-patch+json",
                ]
            op["requestBody"] = {
                "content": {m: {"schema": {"$ref": ref}} for m in media},
                "required": True,
            }
    else:
        op["responses"] = {"200": {"description": "OK", "schema": {"$ref": ref}}}
    return op


def _paths(rt: ResourceType, version: str, v3: bool) -> dict[str, Any]:
    base = "/" + gv_path(rt.group, version)
    collection = (
        f"{base}/namespaces/{{namespace}}/{rt.plural}" if rt.namespaced else f"{base}/{rt.plural}"
    )
    item = collection + "/{name}"
    paths: dict[str, Any] = {
        collection: {
            "get": _op(rt, version, "list", _LIST_PARAMS, v3),
            "post": _op(rt, version, "post", _WRITE_PARAMS, v3),
            "delete": _op(rt, version, "deletecollection", ("dryRun",), v3),
        },
        item: {
            "get": _op(rt, version, "get", ("pretty",), v3),
            "put": _op(rt, version, "put", _WRITE_PARAMS, v3),
            "patch": _op(rt, version, "patch", _QUERY_PARAMS, v3),
            "delete": _op(rt, version, "delete", ("dryRun", "propagationPolicy"), v3),
        },
    }
    if rt.status:
        paths[item + "/status"] = {
            "get": _op(rt, version, "get", ("pretty",), v3),
            "put": _op(rt, version, "put", _WRITE_PARAMS, v3),
            "patch": _op(rt, version, "patch", _QUERY_PARAMS, v3),
        }
    return paths


def _schemas(rt: ResourceType, version: str) -> dict[str, dict[str, Any]]:
    """The component schemas of a kind: its own, under :func:`schema_name`, and for a
    built-in kind those of its nested types (:mod:`fleet.sim.openapi_builtin`)."""
    own = schema_name(rt, version)
    if rt.custom and rt.schemas.get(version):
        body: dict[str, Any] = dict(rt.schemas[version])
        body["x-kubernetes-group-version-kind"] = [
            {"group": rt.group, "version": version, "kind": rt.kind}
        ]
        return {own: body}
    built = None if rt.custom else openapi_builtin.kind_schemas(rt.group, version, rt.kind)
    if built is None:
        return {own: {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}
    name, components = built
    out = dict(components)
    if name != own:  # the paths refer to the kind by schema_name: point it at the model
        out[own] = {"allOf": [{"$ref": f"#/components/schemas/{name}"}]}
    return out


def v3_group_version(registry: Registry, group: str, version: str) -> dict[str, Any] | None:
    types = registry.in_group_version(group, version)
    if not types:
        return None
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    for rt in types:
        paths.update(_paths(rt, version, v3=True))
        schemas.update(_schemas(rt, version))
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": GIT_VERSION},
        "paths": paths,
        "components": {"schemas": schemas},
    }


def v3_root(registry: Registry) -> dict[str, Any]:
    paths = {}
    for group, versions in registry.group_versions().items():
        for version in versions:
            doc = v3_group_version(registry, group, version)
            # orjson keeps the (deterministic) insertion order: a fifth of the cost of
            # json.dumps(sort_keys=True), paid by every cluster kubectl first talks to
            digest = hashlib.sha512(dumps(doc)).hexdigest()[:64].upper()
            path = gv_path(group, version)
            paths[path] = {"serverRelativeURL": f"/openapi/v3/{path}?hash={digest}"}
    return {"paths": paths}


def v2(registry: Registry) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    definitions: dict[str, Any] = {}
    for group, versions in registry.group_versions().items():
        for version in versions:
            for rt in registry.in_group_version(group, version):
                paths.update(_paths(rt, version, v3=False))
                definitions[schema_name(rt, version)] = {
                    "type": "object",
                    "x-kubernetes-group-version-kind": [
                        {"group": rt.group, "kind": rt.kind, "version": version}
                    ],
                    "x-kubernetes-preserve-unknown-fields": True,
                }
    return {
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": GIT_VERSION},
        "paths": paths,
        "definitions": definitions,
    }
