"""Merging an apply configuration into an object, and comparing two objects by field.

Both walk two values side by side, by their type, the way structured-merge-diff does:

- a *leaf* is a scalar, an atomic list or object, a value whose JSON kind does not match
  its type, or a list or object that is empty (or null) on both sides;
- objects are walked key by key, lists item by item, matching items by their key
  (associative lists) or value (sets).

:func:`merge` keeps the right-hand side at every leaf and keeps everything only the
left-hand side has. Items of a list come out in the configuration's order, with the
live-only items kept at their relative places.

:func:`compare` reports which paths were added, modified or removed. A non-leaf (a
struct, map, list item) is itself added or removed when only one side has it; this is why
an object created by an Update owns ``f:labels: {".": {}}`` but not ``f:spec``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fleet.sim.patching.fieldsets import FieldSet, PathElement, field_element
from fleet.sim.patching.typed import list_elements
from fleet.sim.patching.types import (
    Struct,
    Type,
    Untyped,
    child_type,
    is_atomic,
    item_type,
    shape_of,
    zero_value,
)
from fleet.sim.patching.values import MISSING, json_equal


@dataclass(slots=True)
class Comparison:
    """Paths added, modified and removed going from one object to another."""

    added: FieldSet = field(default_factory=FieldSet)
    modified: FieldSet = field(default_factory=FieldSet)
    removed: FieldSet = field(default_factory=FieldSet)

    def is_same(self) -> bool:
        return self.added.empty() and self.modified.empty() and self.removed.empty()

    def excluding(self, ignored: FieldSet) -> Comparison:
        """This comparison without the ignored paths and everything below them."""
        return Comparison(
            self.added.recursive_difference(ignored),
            self.modified.recursive_difference(ignored),
            self.removed.recursive_difference(ignored),
        )

    def changed(self) -> FieldSet:
        return self.added.union(self.modified)


def _present(value: Any) -> bool:
    return value is not MISSING and value is not None


def _walk_kind(node: Type, left: Any, right: Any) -> str:
    """``"leaf"``, ``"map"`` or ``"list"``: how to walk this pair of values."""
    if isinstance(node, Untyped):
        shapes = {shape_of(node, v) for v in (left, right) if _present(v)}
        if len(shapes) != 1:
            return "leaf"
        shape = shapes.pop()
    else:
        shape = shape_of(node, None)
    if shape == "scalar" or is_atomic(node, [] if shape == "list" else {}):
        return "leaf"
    pytype = dict if shape == "map" else list
    if any(_present(v) and not isinstance(v, pytype) for v in (left, right)):
        return "leaf"
    if not any(_present(v) and len(v) > 0 for v in (left, right)):
        return "leaf"
    return shape


def _with_zero(node: Type, value: Any) -> Any:
    if isinstance(node, Struct) and node.zero and isinstance(value, dict):
        missing = [name for name in node.zero if name not in value]
        if missing:
            filled = dict(value)
            for name in missing:
                filled[name] = zero_value(child_type(node, name)[0])
            return filled
    return value


def _index(node: Type, items: Any) -> tuple[list[PathElement], dict[PathElement, list[Any]]]:
    order: list[PathElement] = []
    by_element: dict[PathElement, list[Any]] = {}
    if isinstance(items, list):
        for element, item in list_elements(node, items, strict=False, where=()):
            if element not in by_element:
                order.append(element)
                by_element[element] = []
            by_element[element].append(item)
    return order, by_element


def merged_order(left: list[PathElement], right: list[PathElement]) -> list[PathElement]:
    """The order of items in a merged list: the right side's order for every item it has,
    left-only items kept where they were relative to the shared ones."""
    in_left, in_right = set(left), set(right)
    shared = [e for e in right if e in in_left]
    shared_at = 0
    next_shared = shared[0] if shared else None
    taken: set[PathElement] = set()
    out: list[PathElement] = []
    li = ri = 0

    def advance() -> None:
        nonlocal shared_at, next_shared
        shared_at += 1
        next_shared = shared[shared_at] if shared_at < len(shared) else None

    while li < len(left) or ri < len(right):
        if li < len(left) and ri < len(right):
            element = left[li]
            if element == right[ri]:
                taken.add(element)
                out.append(element)
                li += 1
                ri += 1
                advance()
                continue
            if element in in_right and next_shared is not None and next_shared != element:
                li += 1
                continue
        if li < len(left):
            element = left[li]
            if element not in in_right:
                out.append(element)
                li += 1
                continue
            if element in taken:
                li += 1
                continue
        if ri < len(right):
            element = right[ri]
            taken.add(element)
            out.append(element)
            ri += 1
            if next_shared == element:
                advance()
    return out


def merge(left: Any, right: Any, node: Type) -> Any:
    """``right`` (an apply configuration) merged into ``left`` (the live object)."""
    kind = _walk_kind(node, left, right)
    if kind == "leaf":
        return right if right is not MISSING else left
    if kind == "map":
        lmap = left if isinstance(left, dict) else {}
        rmap = right if isinstance(right, dict) else {}
        out: dict[str, Any] = {}
        for name, lvalue in lmap.items():
            rvalue = rmap.get(name, MISSING)
            merged = merge(lvalue, rvalue, child_type(node, name)[0])
            if merged is None and rvalue is not MISSING:
                continue
            out[name] = merged
        for name, rvalue in rmap.items():
            if name not in lmap and rvalue is not None:
                out[name] = merge(MISSING, rvalue, child_type(node, name)[0])
        return out
    itype = item_type(node)
    lorder, litems = _index(node, left)
    rorder, ritems = _index(node, right)
    items: list[Any] = []
    for element in merged_order(lorder, rorder):
        if element in ritems:
            lvalue = litems[element][0] if element in litems else MISSING
            items.append(merge(lvalue, ritems[element][0], itype))
        else:
            items.extend(litems[element])
    return items


def compare(left: Any, right: Any, node: Type) -> Comparison:
    """What changed from ``left`` to ``right`` (both objects of type ``node``)."""
    out = Comparison()
    _compare(left, right, node, out)
    return out


def _compare(left: Any, right: Any, node: Type, out: Comparison) -> str:
    left = _with_zero(node, left)
    right = _with_zero(node, right)
    kind = _walk_kind(node, left, right)
    if kind == "leaf":
        if left is MISSING:
            return "added"
        if right is MISSING:
            return "removed"
        return "" if json_equal(left, right) else "modified"
    if kind == "map":
        lmap = left if isinstance(left, dict) else {}
        rmap = right if isinstance(right, dict) else {}
        for name in [*lmap, *(n for n in rmap if n not in lmap)]:
            child = Comparison()
            ctype = child_type(node, name)[0]
            state = _compare(lmap.get(name, MISSING), rmap.get(name, MISSING), ctype, child)
            _attach(out, field_element(name), state, child)
    else:
        itype = item_type(node)
        lorder, litems = _index(node, left)
        rorder, ritems = _index(node, right)
        for element in [*lorder, *(e for e in rorder if e not in litems)]:
            child = Comparison()
            lvalue = litems[element][0] if element in litems else MISSING
            rvalue = ritems[element][0] if element in ritems else MISSING
            _attach(out, element, _compare(lvalue, rvalue, itype, child), child)
    if left is MISSING:
        return "added"
    if right is MISSING:
        return "removed"
    return ""


def _attach(out: Comparison, element: PathElement, state: str, child: Comparison) -> None:
    if state:
        getattr(out, state).members.add(element)
    for name in ("added", "modified", "removed"):
        below: FieldSet = getattr(child, name)
        if not below.empty():
            getattr(out, name).children[element] = below
