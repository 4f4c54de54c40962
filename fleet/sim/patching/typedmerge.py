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
    ListOf,
    MapOf,
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
    """``"leaf"``, ``"map"`` or ``"list"``: how to walk this pair of values.

    Written without temporary sets or generators: it runs for every node walked."""
    left_present, right_present = _present(left), _present(right)
    if isinstance(node, Untyped):
        left_shape = shape_of(node, left) if left_present else ""
        right_shape = shape_of(node, right) if right_present else ""
        if left_shape and right_shape and left_shape != right_shape:
            return "leaf"
        shape = left_shape or right_shape
        if not shape:
            return "leaf"
    else:
        shape = shape_of(node, None)
    if shape == "scalar" or is_atomic(node, [] if shape == "list" else {}):
        return "leaf"
    pytype = dict if shape == "map" else list
    if (left_present and not isinstance(left, pytype)) or (
        right_present and not isinstance(right, pytype)
    ):
        return "leaf"
    if not ((left_present and len(left) > 0) or (right_present and len(right) > 0)):
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


def compare(left: Any, right: Any, node: Type, ignored: FieldSet | None = None) -> Comparison:
    """What changed from ``left`` to ``right`` (both objects of type ``node``).

    With ``ignored``, the result is ``compare(left, right, node).excluding(ignored)``,
    but what is ignored is not walked at all: a write through ``/status`` ignores every
    top-level field but ``status``, so its comparison is that of the two statuses.
    """
    if _same(left, right):
        return Comparison()
    skip = ignored if ignored is not None and not ignored.empty() else None
    _state, below = _compare(left, right, node, skip)
    return below if below is not None else Comparison()


def _same(left: Any, right: Any) -> bool:
    """Whether two values are equal as JSON, so that walking them would find nothing.

    Most of a written object is unchanged (a status write leaves spec and metadata
    alone), so this check before each walk saves most of it. Python's ``==`` runs in C
    and decides most pairs; only when it says equal does :func:`_no_bool_for_number`
    confirm (``==`` alone would take ``True`` for ``1``).
    """
    return left is not MISSING and left == right and _no_bool_for_number(left, right)


def _no_bool_for_number(left: Any, right: Any) -> bool:
    """Given ``left == right``, whether they are also equal as JSON (see
    :func:`json_equal`): ``==`` differs where a boolean meets a number, and for a NaN,
    which ``==`` on containers takes as equal to itself when it is the same object."""
    if isinstance(left, dict):
        pairs: Any = ((value, right[name]) for name, value in left.items())
    elif isinstance(left, list):
        pairs = zip(left, right, strict=True)
    elif isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool)
    else:
        return bool(left == right)
    for value, other in pairs:
        if (type(value) is not type(other) or isinstance(value, dict | list | float)) and (
            not _no_bool_for_number(value, other)
        ):
            return False
    return True


def _compare(
    left: Any, right: Any, node: Type, skip: FieldSet | None
) -> tuple[str, Comparison | None]:
    """How the pair itself changed (``"added"``, ``"removed"``, ``"modified"`` or
    ``""``) and the changes below it (``None`` for none: most pairs walked are leaves,
    so the three sets of a :class:`Comparison` are made only when something is
    recorded). Callers skip pairs that are :func:`_same` (nothing to record). ``skip``:
    the ignored paths below this pair (a member is left out with all below it)."""
    left = _with_zero(node, left)
    right = _with_zero(node, right)
    kind = _walk_kind(node, left, right)
    if kind == "leaf":
        if left is MISSING:
            return "added", None
        if right is MISSING:
            return "removed", None
        return ("" if json_equal(left, right) else "modified"), None
    out: Comparison | None = None
    if kind == "map":
        lmap = left if isinstance(left, dict) else {}
        rmap = right if isinstance(right, dict) else {}
        for name in [*lmap, *(n for n in rmap if n not in lmap)]:
            element = field_element(name)
            below_skip = skip
            if skip is not None:
                if element in skip.members:
                    continue
                below_skip = skip.children.get(element)
            lvalue, rvalue = lmap.get(name, MISSING), rmap.get(name, MISSING)
            if lvalue is MISSING or rvalue is MISSING:
                out = _attach_one_sided(
                    out, element, lvalue, rvalue, child_type(node, name)[0], below_skip
                )
            elif not _same(lvalue, rvalue):
                state, below = _compare(lvalue, rvalue, child_type(node, name)[0], below_skip)
                out = _attach(out, element, state, below)
    else:
        itype = item_type(node)
        lorder, litems = _index(node, left)
        rorder, ritems = _index(node, right)
        for element in [*lorder, *(e for e in rorder if e not in litems)]:
            below_skip = skip
            if skip is not None:
                if element in skip.members:
                    continue
                below_skip = skip.children.get(element)
            lvalue = litems[element][0] if element in litems else MISSING
            rvalue = ritems[element][0] if element in ritems else MISSING
            if lvalue is MISSING or rvalue is MISSING:
                out = _attach_one_sided(out, element, lvalue, rvalue, itype, below_skip)
            elif not _same(lvalue, rvalue):
                state, below = _compare(lvalue, rvalue, itype, below_skip)
                out = _attach(out, element, state, below)
    if left is MISSING:
        return "added", out
    if right is MISSING:
        return "removed", out
    return "", out


def _attach(
    out: Comparison | None, element: PathElement, state: str, child: Comparison | None
) -> Comparison | None:
    """``out`` (made if needed) with ``element``'s own change and those below it."""
    if not state and child is None:
        return out
    if out is None:
        out = Comparison()
    if state == "modified":
        out.modified.members.add(element)
    elif state == "added":
        out.added.members.add(element)
    elif state == "removed":
        out.removed.members.add(element)
    if child is not None:
        if not child.added.empty():
            out.added.children[element] = child.added
        if not child.modified.empty():
            out.modified.children[element] = child.modified
        if not child.removed.empty():
            out.removed.children[element] = child.removed
    return out


def _attach_one_sided(
    out: Comparison | None,
    element: PathElement,
    left: Any,
    right: Any,
    node: Type,
    skip: FieldSet | None,
) -> Comparison:
    """``out`` (made if needed) with ``element``, which only one side has: it is added
    (or removed) with everything below it."""
    if out is None:
        out = Comparison()
    into = out.added if left is MISSING else out.removed
    into.members.add(element)
    below = _one_side(right if left is MISSING else left, node, skip)
    if below is not None and not below.empty():
        into.children[element] = below
    return out


def _one_side(value: Any, node: Type, skip: FieldSet | None) -> FieldSet | None:
    """The paths :func:`_compare` records below a value only one side has (all of them
    added, or all removed; ``None`` for a leaf). The same walk as pairing it with
    ``MISSING``, decided by the type alone (what :func:`_walk_kind` does for such a
    pair): a created object, a new list item or a new status is mostly such values."""
    if isinstance(node, Struct):
        if node.atomic or not isinstance(value, dict):
            return None
        value = _with_zero(node, value)
    elif isinstance(node, MapOf):
        if node.atomic or not isinstance(value, dict):
            return None
    elif isinstance(node, ListOf):
        if node.list_type == "atomic" or not isinstance(value, list) or not value:
            return None
        return _one_side_items(value, node, skip)
    elif not isinstance(node, Untyped) or not isinstance(value, dict):
        return None  # a scalar, or an untyped list (atomic) or scalar
    if not value:
        return None
    out = FieldSet()
    for name, child in value.items():
        element = field_element(name)
        below_skip = skip
        if skip is not None:
            if element in skip.members:
                continue
            below_skip = skip.children.get(element)
        out.members.add(element)
        below = _one_side(child, child_type(node, name)[0], below_skip)
        if below is not None and not below.empty():
            out.children[element] = below
    return out


def _one_side_items(value: list[Any], node: ListOf, skip: FieldSet | None) -> FieldSet:
    out = FieldSet()
    order, items = _index(node, value)
    for element in order:
        below_skip = skip
        if skip is not None:
            if element in skip.members:
                continue
            below_skip = skip.children.get(element)
        out.members.add(element)
        below = _one_side(items[element][0], node.items, below_skip)
        if below is not None and not below.empty():
            out.children[element] = below
    return out
