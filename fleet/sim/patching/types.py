"""The shape of a kind, as far as merging and field ownership need it.

Each field of a kind is one of:

- :data:`SCALAR`: a leaf (string, number, boolean, or anything treated as a whole);
- :class:`Struct`: an object with named fields. Named fields matter to ownership: an
  applier that stops applying every field of a struct loses the struct itself. A struct
  may be *atomic* (``x-kubernetes-map-type: atomic``, Go ``+structType=atomic``): then it
  is owned and replaced as one value;
- :class:`MapOf`: an object whose keys are data (labels, ``ConfigMap.data``); *granular*
  (each key owned separately) unless atomic;
- :class:`ListOf`: a list that is ``atomic`` (replaced whole, the default), a ``set`` of
  scalars, or a ``map`` keyed by one or more fields of its items. A list also carries its
  strategic-merge-patch metadata (``patchStrategy``, ``patchMergeKey``), which does not
  always agree with its apply semantics (Service ports merge by ``port`` in a strategic
  merge patch but are keyed by ``port`` and ``protocol`` for apply);
- :data:`LOOSE` / :data:`DEDUCED`: no declared shape. ``LOOSE`` is for built-in kinds,
  whose full OpenAPI is not reproduced here: an object under it behaves as a struct of
  named fields and a list as an atomic list, which is what the real schema says for
  every field this package does not list. ``DEDUCED`` is structured-merge-diff's type
  for schemaless data (``x-kubernetes-preserve-unknown-fields``): objects are granular
  maps and lists are atomic.

``Struct.zero`` names the fields that Go always serialises (non-pointer structs, and
slices without ``omitempty``). The API server compares typed objects, so such a field
is never "added" by a write; tracking a write must make the same comparison to produce
the same ``managedFields``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

ListType = Literal["atomic", "set", "map"]


class Type:
    """Base class of the type nodes."""

    __slots__ = ()


@dataclass(frozen=True, eq=False, slots=True)
class Scalar(Type):
    pass


@dataclass(frozen=True, eq=False, slots=True)
class Untyped(Type):
    """No declared shape; ``loose`` picks struct-like (built-in) or map-like (deduced)."""

    loose: bool


@dataclass(frozen=True, eq=False, slots=True)
class Struct(Type):
    fields: Mapping[str, Type] = field(default_factory=dict)
    others: Type | None = None
    """Type of undeclared keys: ``None`` means LOOSE named fields; another type makes
    undeclared keys entries of a map with that value type."""
    atomic: bool = False
    zero: frozenset[str] = frozenset()
    patch_strategy: str = ""


@dataclass(frozen=True, eq=False, slots=True)
class MapOf(Type):
    values: Type
    atomic: bool = False
    patch_strategy: str = ""


@dataclass(frozen=True, eq=False, slots=True)
class ListOf(Type):
    items: Type
    list_type: ListType = "atomic"
    keys: tuple[str, ...] = ()
    key_defaults: Mapping[str, Any] = field(default_factory=dict)
    patch_strategy: str = ""
    patch_merge_key: str = ""


SCALAR = Scalar()
LOOSE = Untyped(loose=True)
DEDUCED = Untyped(loose=False)


# -- small constructors used by the schema tables --------------------------------------


def struct(
    *, atomic: bool = False, zero: tuple[str, ...] = (), patch: str = "", **fields: Type
) -> Struct:
    """A struct of named fields; undeclared fields are LOOSE."""
    return Struct(fields=fields, atomic=atomic, zero=frozenset(zero), patch_strategy=patch)


def atomic_struct() -> Struct:
    return Struct(atomic=True)


def string_map(*, atomic: bool = False) -> MapOf:
    return MapOf(SCALAR, atomic=atomic)


def atomic_list() -> ListOf:
    return ListOf(SCALAR)


def set_list(*, patch: str = "") -> ListOf:
    return ListOf(SCALAR, list_type="set", patch_strategy=patch)


def map_list(
    items: Type,
    *keys: str,
    smp_key: str | None = None,
    patch: str = "merge",
    defaults: Mapping[str, Any] | None = None,
) -> ListOf:
    """An associative list keyed by ``keys``; strategic merge by ``smp_key`` (default:
    the first key) unless ``patch`` is empty."""
    return ListOf(
        items,
        list_type="map",
        keys=keys,
        key_defaults=dict(defaults or {}),
        patch_strategy=patch,
        patch_merge_key=(keys[0] if smp_key is None else smp_key) if patch else "",
    )


def with_patch(node: Type, patch: str) -> Type:
    """A copy of ``node`` with another strategic-merge patch strategy."""
    return replace(node, patch_strategy=patch)  # type: ignore[type-var]


# -- navigation ------------------------------------------------------------------------


def child_type(node: Type, name: str) -> tuple[Type, bool]:
    """The type of field ``name`` of an object of type ``node``, and whether it is a
    *named* field (a struct field) rather than a map entry."""
    if isinstance(node, Struct):
        declared = node.fields.get(name)
        if declared is not None:
            return declared, True
        if node.others is None:
            return LOOSE, True
        return node.others, False
    if isinstance(node, MapOf):
        return node.values, False
    if isinstance(node, Untyped):
        return (LOOSE, True) if node.loose else (DEDUCED, False)
    return DEDUCED, False


def item_type(node: Type) -> Type:
    if isinstance(node, ListOf):
        return node.items
    if isinstance(node, Untyped):
        return node
    return DEDUCED


def is_object_type(node: Type) -> bool:
    return isinstance(node, Struct | MapOf)


def is_atomic(node: Type, value: Any) -> bool:
    """Whether a value of this type is owned and replaced as a whole."""
    if isinstance(node, Struct | MapOf):
        return node.atomic
    if isinstance(node, ListOf):
        return node.list_type == "atomic"
    if isinstance(node, Untyped):
        return isinstance(value, list)
    return True


def shape_of(node: Type, value: Any) -> str:
    """``"map"``, ``"list"`` or ``"scalar"``: how a value of ``node`` is walked."""
    if isinstance(node, Struct | MapOf):
        return "map"
    if isinstance(node, ListOf):
        return "list"
    if isinstance(node, Untyped):
        if isinstance(value, dict):
            return "map"
        if isinstance(value, list):
            return "list"
    return "scalar"


def zero_value(node: Type) -> Any:
    """What Go serialises for a zero value of this type: ``{}`` for structs, else null."""
    return {} if isinstance(node, Struct) else None
