"""Walking a JSON object by its type: its field set, removing owned items, item keys.

These are the primitives of server-side apply, written after the behaviour of
structured-merge-diff (the library a kube-apiserver uses):

- :func:`to_field_set` lists what an object *sets*: every scalar and atomic value, every
  item of a set or associative list, every entry of a granular map; a struct field is not
  itself in the set unless it is atomic, so ``f:spec`` never appears without children.
- :func:`ensure_named_fields` adds the struct fields above owned paths, which is how an
  applier that stops applying all of ``spec.strategy`` also gives up ``strategy``.
- :func:`remove_items` deletes the given paths from an object. A map or list emptied by
  the removal disappears (the API server stores it as null, which a typed object drops).
"""

from __future__ import annotations

from typing import Any

from fleet.sim.patching.errors import InvalidApply
from fleet.sim.patching.fieldsets import (
    FieldSet,
    Path,
    PathElement,
    field_element,
    index_element,
    key_element,
    render_element,
    render_path,
    value_element,
)
from fleet.sim.patching.types import (
    ListOf,
    Type,
    child_type,
    is_atomic,
    item_type,
    shape_of,
)

_JSON_KIND = {dict: "object", list: "list", str: "string", bool: "boolean", type(None): "null"}


def _kind_name(value: Any) -> str:
    return _JSON_KIND.get(type(value), "number")


def item_element(node: Type, item: Any, index: int, *, strict: bool, where: Path) -> PathElement:
    """The path element of list item ``item`` (at ``index``) of a list of type ``node``.

    ``strict`` (for an apply configuration) raises :class:`InvalidApply` where a key is
    missing; otherwise the item falls back to its index, as a lenient reader must for
    stored objects that predate a schema change.
    """
    if isinstance(node, ListOf) and node.list_type == "map":
        if not isinstance(item, dict):
            if strict:
                raise InvalidApply(
                    f"{render_path(where)}: element {index}: associative list with keys has "
                    f"an element that is not an object ({_kind_name(item)})"
                )
            return index_element(index)
        fields: dict[str, Any] = {}
        for key in node.keys:
            if key in item:
                fields[key] = item[key]
            elif key in node.key_defaults:
                fields[key] = node.key_defaults[key]
            elif strict:
                raise InvalidApply(
                    f"{render_path(where)}: element {index}: associative list with keys has "
                    f"an element that omits key field {key!r} (and doesn't have default value)"
                )
            else:
                return index_element(index)
        return key_element(fields)
    if isinstance(node, ListOf) and node.list_type == "set":
        return value_element(item)
    return index_element(index)


def list_elements(
    node: Type, items: list[Any], *, strict: bool, where: Path
) -> list[tuple[PathElement, Any]]:
    """``(element, item)`` for each item; duplicates raise when ``strict``."""
    out: list[tuple[PathElement, Any]] = []
    seen: set[PathElement] = set()
    for index, item in enumerate(items):
        element = item_element(node, item, index, strict=strict, where=where)
        if element in seen and strict:
            raise InvalidApply(
                f"{render_path(where)}: duplicate entries for key {render_element(element)}"
            )
        seen.add(element)
        out.append((element, item))
    return out


def _check_shape(node: Type, value: Any, where: Path) -> None:
    shape = shape_of(node, value)
    if value is None:
        return
    if shape == "map" and not isinstance(value, dict):
        raise InvalidApply(f"{render_path(where)}: expected object, got {_kind_name(value)}")
    if shape == "list" and not isinstance(value, list):
        raise InvalidApply(f"{render_path(where)}: expected list, got {_kind_name(value)}")


def to_field_set(value: Any, node: Type, *, strict: bool = False) -> FieldSet:
    """The fields that ``value`` (an object of type ``node``) sets."""
    _member, children = _walk_set(value, node, strict, ())
    return children if children is not None else FieldSet()


def _walk_set(value: Any, node: Type, strict: bool, where: Path) -> tuple[bool, FieldSet | None]:
    """(is this value itself a member, the set of its children)."""
    if strict:
        _check_shape(node, value, where)
    shape = shape_of(node, value)
    if shape == "scalar" or is_atomic(node, value):
        return True, None
    if shape == "map":
        if not isinstance(value, dict):
            return value is not None, None
        out = FieldSet()
        for name, child in value.items():
            element = field_element(name)
            ctype, named = child_type(node, name)
            member, grand = _walk_set(child, ctype, strict, (*where, element))
            if member or not named:
                out.members.add(element)
            if grand is not None and not grand.empty():
                out.children[element] = grand
        return False, out
    if not isinstance(value, list):
        return value is not None, None
    out = FieldSet()
    itype = item_type(node)
    for element, item in list_elements(node, value, strict=strict, where=where):
        _member, grand = _walk_set(item, itype, strict, (*where, element))
        out.members.add(element)
        if grand is not None and not grand.empty():
            out.children[element] = grand
    return False, out


def ensure_named_fields(fields: FieldSet, node: Type) -> FieldSet:
    """``fields`` plus every struct field that has owned paths below it."""
    out = FieldSet(fields.members)
    for element, child in fields.children.items():
        kind, _, name = element.partition(":")
        if kind == "f":
            ctype, named = child_type(node, name)
            if named:
                out.members.add(element)
        else:
            ctype = item_type(node)
        out.children[element] = ensure_named_fields(child, ctype)
    return out


_GONE: Any = object()


def remove_items(value: Any, fields: FieldSet, node: Type) -> Any:
    """``value`` without the paths in ``fields`` (a new value; the input is untouched).

    Returns ``None`` when nothing is left of an object or list.
    """
    out = _remove(value, fields, node)
    return None if out is _GONE else out


def _remove(value: Any, fields: FieldSet, node: Type) -> Any:
    shape = shape_of(node, value)
    if shape == "map" and isinstance(value, dict):
        if not value or is_atomic(node, value):
            return _GONE
        kept: dict[str, Any] = {}
        for name, child in value.items():
            element = field_element(name)
            if element in fields.members:
                continue
            below = fields.children.get(element)
            if below is not None and not below.empty():
                child = _remove(child, below, child_type(node, name)[0])
                if child is _GONE:
                    continue
            kept[name] = child
        return kept if kept else _GONE
    if shape == "list" and isinstance(value, list):
        if not value or is_atomic(node, value):
            return _GONE
        itype = item_type(node)
        items: list[Any] = []
        for element, item in list_elements(node, value, strict=False, where=()):
            if element in fields.members:
                continue
            below = fields.children.get(element)
            if below is not None and not below.empty():
                item = _remove(item, below, itype)
                if item is _GONE:
                    item = None
            items.append(item)
        return items if items else _GONE
    return value
