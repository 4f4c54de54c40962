"""Schemas of kinds: the built-in table, and schemas read from CustomResourceDefinitions.

A :class:`Schema` is what every algorithm of this package needs to know about a kind:
its shape (:mod:`fleet.sim.patching.types`), whether it has ``status`` and ``scale``
subresources (a main-resource write cannot change status, a status write can change only
status), and whether strategic merge patch applies (not for custom resources).

Custom resources follow the CRD's structural schema: ``x-kubernetes-list-type``
(``atomic``, the default, ``set`` or ``map`` with ``x-kubernetes-list-map-keys``; a key
field's ``default`` is used when an item omits it), ``x-kubernetes-map-type``
(``granular``, the default, or ``atomic``) and ``x-kubernetes-preserve-unknown-fields``
(schemaless: objects are granular maps, lists atomic). ``metadata`` always has the
built-in ObjectMeta shape, whatever the CRD says.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from fleet.sim.patching.builtin_kinds import BUILTIN_KINDS
from fleet.sim.patching.builtin_types import OBJECT_META, root
from fleet.sim.patching.errors import UnknownKind
from fleet.sim.patching.fieldsets import FieldSet, field_element
from fleet.sim.patching.types import (
    DEDUCED,
    SCALAR,
    ListOf,
    ListType,
    MapOf,
    Struct,
    Type,
)


@dataclass(frozen=True, eq=False, slots=True)
class Schema:
    """One kind at one version, as the patch and apply algorithms see it."""

    group: str
    version: str
    kind: str
    root: Struct
    status_subresource: bool = False
    scale_subresource: bool = False
    strategic_merge: bool = True
    """False for custom resources: a strategic merge patch is answered with 415."""

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def ignored_fields(self, subresource: str, *objects: Mapping[str, Any] | None) -> FieldSet:
        """Fields a write through ``subresource`` cannot own (their value is reset).

        A main-resource write of a kind with a status subresource cannot set ``status``;
        a write through ``/status`` sets nothing but ``status`` (the top-level fields of
        ``objects`` other than ``status`` are ignored).
        """
        if subresource == "status":
            names = {k for obj in objects if obj for k in obj if k != "status"}
            return FieldSet(field_element(n) for n in names)
        if not subresource and self.status_subresource:
            return FieldSet([field_element("status")])
        return FieldSet()


@cache
def kind_schema(group: str, version: str, kind: str) -> Schema:
    """The schema of a built-in kind; raises :class:`UnknownKind` for any other."""
    found = BUILTIN_KINDS.get((group, version, kind))
    if found is None:
        api_version = f"{group}/{version}" if group else version
        raise UnknownKind(f"no built-in schema for {kind} in {api_version}")
    return Schema(group, version, kind, found.root, found.status, found.scale)


def builtin_kinds() -> list[tuple[str, str, str]]:
    """Every (group, version, kind) that :func:`kind_schema` knows."""
    return sorted(BUILTIN_KINDS)


def generic_schema(
    group: str,
    version: str,
    kind: str,
    *,
    status_subresource: bool = False,
    scale_subresource: bool = False,
    strategic_merge: bool = True,
) -> Schema:
    """A schema with only ObjectMeta declared: every other object is a struct and every
    other list atomic. For a built-in kind missing from the table."""
    return Schema(
        group, version, kind, root(), status_subresource, scale_subresource, strategic_merge
    )


# -- custom resources ------------------------------------------------------------------


def schema_from_openapi(
    openapi_v3_schema: Mapping[str, Any] | None,
    *,
    group: str,
    version: str,
    kind: str,
    status_subresource: bool = False,
    scale_subresource: bool = False,
) -> Schema:
    """The schema of a custom resource from its ``openAPIV3Schema``."""
    converted = _convert(openapi_v3_schema or {"x-kubernetes-preserve-unknown-fields": True})
    if isinstance(converted, Struct):
        fields, others, atomic = dict(converted.fields), converted.others, converted.atomic
    else:
        fields, others, atomic = {}, DEDUCED, False
    fields.update(apiVersion=SCALAR, kind=SCALAR, metadata=OBJECT_META)
    top = Struct(fields=fields, others=others or DEDUCED, atomic=atomic)
    return Schema(
        group,
        version,
        kind,
        top,
        status_subresource,
        scale_subresource,
        strategic_merge=False,
    )


def schema_for_crd(crd: Mapping[str, Any], version: str) -> Schema:
    """The schema of one served version of a CustomResourceDefinition object."""
    spec = crd.get("spec") or {}
    group = str(spec.get("group", ""))
    kind = str((spec.get("names") or {}).get("kind", ""))
    for entry in spec.get("versions") or ():
        if isinstance(entry, Mapping) and entry.get("name") == version:
            subresources = entry.get("subresources") or spec.get("subresources") or {}
            schema = (entry.get("schema") or spec.get("validation") or {}).get("openAPIV3Schema")
            return schema_from_openapi(
                schema,
                group=group,
                version=version,
                kind=kind,
                status_subresource="status" in subresources,
                scale_subresource="scale" in subresources,
            )
    name = (crd.get("metadata") or {}).get("name", "")
    raise UnknownKind(f"CustomResourceDefinition {name!r} does not serve version {version!r}")


_SCALAR_TYPES = frozenset({"string", "integer", "number", "boolean"})
_LIST_TYPES: dict[str, ListType] = {"atomic": "atomic", "set": "set", "map": "map"}


def _convert(node: Any) -> Type:
    if not isinstance(node, Mapping):
        return DEDUCED
    if node.get("x-kubernetes-int-or-string") is True:
        return SCALAR
    kind = node.get("type")
    if kind == "array":
        return _convert_array(node)
    atomic = node.get("x-kubernetes-map-type") == "atomic"
    properties = node.get("properties")
    extra = node.get("additionalProperties")
    if kind == "object" or properties or extra is not None:
        if isinstance(properties, Mapping) and properties:
            others = _convert(extra) if isinstance(extra, Mapping) else DEDUCED
            fields = {str(k): _convert(v) for k, v in properties.items()}
            return Struct(fields=fields, others=others, atomic=atomic)
        if isinstance(extra, Mapping):
            return MapOf(_convert(extra), atomic=atomic)
        return MapOf(DEDUCED, atomic=True) if atomic else DEDUCED
    if kind in _SCALAR_TYPES:
        return SCALAR
    return DEDUCED


def _convert_array(node: Mapping[str, Any]) -> ListOf:
    items = node.get("items")
    item_type = _convert(items)
    list_type = _LIST_TYPES.get(str(node.get("x-kubernetes-list-type", "atomic")), "atomic")
    if list_type != "map":
        return ListOf(item_type, list_type=list_type)
    keys = tuple(str(k) for k in node.get("x-kubernetes-list-map-keys") or ())
    properties = (items or {}).get("properties") or {} if isinstance(items, Mapping) else {}
    defaults = {
        k: properties[k]["default"]
        for k in keys
        if isinstance(properties.get(k), Mapping) and "default" in properties[k]
    }
    return ListOf(item_type, list_type="map", keys=keys, key_defaults=defaults)
