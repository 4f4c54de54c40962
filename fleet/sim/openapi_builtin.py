"""OpenAPI v3 schemas of the built-in kinds, for ``kubectl explain`` and client-side apply.

The simulator does not carry Kubernetes' own OpenAPI document. The field names, types
and descriptions come from the model classes of kubernetes_asyncio (generated from that
document: ``openapi_types``, ``attribute_map`` and each property's docstring); the
merge semantics (``x-kubernetes-list-type``, ``-list-map-keys``, ``-patch-strategy``,
``-patch-merge-key``, ``-map-type``) come from the simulator's own patching schema
(:mod:`fleet.sim.patching.builtin_types`), the one it merges with. kubectl computes
client-side apply patches from these extensions when a kind's schema names its
group-version-kind, so they must agree with what the server merges.

A kind without a model class (none today) keeps the open schema.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from kubernetes_asyncio.client import models

from fleet.sim import patching
from fleet.sim.patching.types import DEDUCED, ListOf, MapOf, Struct, Type, child_type, item_type

_LIST = re.compile(r"list\[(.+)\]")
_DICT = re.compile(r"dict\(str, (.+)\)")
_PRIMITIVES: dict[str, dict[str, Any]] = {
    "str": {"type": "string"},
    "int": {"type": "integer", "format": "int64"},
    "float": {"type": "number", "format": "double"},
    "bool": {"type": "boolean"},
    "datetime": {"type": "string", "format": "date-time"},
    "date": {"type": "string", "format": "date"},
    "object": {},
}
#: Where apimachinery types live, for the names of their components.
_META = {
    "V1ObjectMeta",
    "V1LabelSelector",
    "V1LabelSelectorRequirement",
    "V1OwnerReference",
    "V1ManagedFieldsEntry",
    "V1Condition",
    "V1ListMeta",
}


def model_class(group: str, version: str, kind: str) -> type | None:
    """The kubernetes_asyncio model of a kind (``V1Deployment``, ``CoreV1Event``)."""
    head = version[:1].upper() + version[1:]
    prefix = "".join(p.capitalize() for p in (group.split(".")[0] or "core").split("-"))
    for name in (f"{head}{kind}", f"{prefix}{head}{kind}"):
        found = getattr(models, name, None)
        if isinstance(found, type) and hasattr(found, "openapi_types"):
            return found
    return None


def _description(cls: type, attribute: str) -> str:
    prop = getattr(cls, attribute, None)
    doc = getattr(getattr(prop, "fget", None), "__doc__", None) or ""
    paragraphs = [p.replace("# noqa: E501", "").strip() for p in doc.split("\n\n")]
    body = [p for p in paragraphs[1:] if p and not p.startswith(":")]
    return " ".join(" ".join(p.split()) for p in body)


def _component_name(model: str, group: str, version: str) -> str:
    short = re.sub(r"^(?:[A-Z][a-z]+)?V\d+(?:(?:alpha|beta)\d+)?", "", model) or model
    if model in _META:
        return f"io.k8s.apimachinery.pkg.apis.meta.v1.{short}"
    return f"io.k8s.api.{(group or 'core').split('.')[0]}.{version}.{short}"


def _merge_extensions(node: Type) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if isinstance(node, ListOf):
        out["x-kubernetes-list-type"] = node.list_type
        if node.keys:
            out["x-kubernetes-list-map-keys"] = list(node.keys)
        if node.patch_strategy:
            out["x-kubernetes-patch-strategy"] = node.patch_strategy
        if node.patch_merge_key:
            out["x-kubernetes-patch-merge-key"] = node.patch_merge_key
    elif isinstance(node, Struct | MapOf):
        if node.atomic:
            out["x-kubernetes-map-type"] = "atomic"
        if node.patch_strategy:
            out["x-kubernetes-patch-strategy"] = node.patch_strategy
    return out


class _Builder:
    """Walks a model class and the patching type side by side, collecting components."""

    def __init__(self, group: str, version: str) -> None:
        self.group = group
        self.version = version
        self.components: dict[str, dict[str, Any]] = {}
        #: Components are shared by name, so each is built with the first patching type
        #: met; the built-in tables declare nested types the same way wherever they occur.

    def ref(self, model: str, node: Type) -> dict[str, Any]:
        name = _component_name(model, self.group, self.version)
        if name not in self.components:
            self.components[name] = {}  # a placeholder first: types may refer to themselves
            self.components[name] = self.build(getattr(models, model), node)
        return {"$ref": f"#/components/schemas/{name}"}

    def build(self, cls: type, node: Type) -> dict[str, Any]:
        properties: dict[str, Any] = {}
        types: dict[str, str] = getattr(cls, "openapi_types", {})
        names: dict[str, str] = getattr(cls, "attribute_map", {})
        for attribute, type_name in types.items():
            json_name = names.get(attribute, attribute)
            child, _ = child_type(node, json_name)
            prop = self.property(type_name, child)
            description = _description(cls, attribute)
            if description:
                prop["description"] = description
            properties[json_name] = prop
        schema: dict[str, Any] = {"type": "object", "properties": properties}
        schema.update(_merge_extensions(node))
        return schema

    def property(self, type_name: str, node: Type) -> dict[str, Any]:
        listed = _LIST.fullmatch(type_name)
        if listed:
            prop = {"type": "array", "items": self.property(listed.group(1), item_type(node))}
            prop.update(_merge_extensions(node))
            return prop
        mapped = _DICT.fullmatch(type_name)
        if mapped:
            values = node.values if isinstance(node, MapOf) else DEDUCED
            prop = {
                "type": "object",
                "additionalProperties": self.property(mapped.group(1), values),
            }
            prop.update(_merge_extensions(node))
            return prop
        if type_name in _PRIMITIVES:
            return dict(_PRIMITIVES[type_name])
        if hasattr(models, type_name):
            # A $ref cannot carry siblings in OpenAPI 3.0: wrap it, as the API server does.
            extensions = _merge_extensions(node)
            ref = self.ref(type_name, node)
            return {"allOf": [ref], **extensions} if extensions else {"allOf": [ref]}
        return {}


@cache
def kind_schemas(group: str, version: str, kind: str) -> tuple[str, dict[str, Any]] | None:
    """The component name of a kind and every component it needs, or None."""
    cls = model_class(group, version, kind)
    if cls is None:
        return None
    try:
        root: Type = patching.kind_schema(group, version, kind).root
    except patching.UnknownKind:
        root = patching.generic_schema(group, version, kind).root
    builder = _Builder(group, version)
    name = _component_name(cls.__name__, group, version)
    builder.components[name] = {}
    schema = builder.build(cls, root)
    schema["x-kubernetes-group-version-kind"] = [{"group": group, "version": version, "kind": kind}]
    builder.components[name] = schema
    return name, builder.components
