"""Field sets: which fields of an object a manager owns, in the ``FieldsV1`` format.

A field set is a trie of *path elements*, each written as in ``managedFields``:

- ``f:<name>``: a field of an object (``f:spec``, ``f:replicas``);
- ``k:<json>``: an item of an associative list, by its key fields, a compact JSON
  object with the key names sorted (``k:{"containerPort":80,"protocol":"TCP"}``);
- ``v:<json>``: an item of a set-like list, by its value (``v:"example.com/finalizer"``);
- ``i:<n>``: an item of a list by position (only for lists that have no keys).

A node is a *member* when the path to it is itself owned. In ``FieldsV1`` a member leaf
is ``{}``, and a member that also has owned children carries a ``".": {}`` entry. Entries
are written in structured-merge-diff's order (fields, then keys, then values, then
indices; each sorted), which is the order a kube-apiserver writes them in.

Sets are built once and then treated as immutable: the algebra returns new sets. That
is what lets the ``fieldsV1`` codec cache: every write decodes and re-encodes each
manager's set, and most of them are the same sets again and again. A set keeps its
encoded text once asked for it, and that text is remembered as the key that decodes back
to the very same set, so a set written by one write and read by the next is neither
parsed nor walked again (see :meth:`FieldSet.from_fields_v1` and
:meth:`FieldSet.to_fields_v1`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from functools import lru_cache
from typing import Any

import orjson

from fleet.sim.patching.values import canonical_json, value_sort_key, value_to_string

PathElement = str
Path = tuple[PathElement, ...]


def field_element(name: str) -> PathElement:
    return "f:" + name


def key_element(key_fields: dict[str, Any]) -> PathElement:
    fields = tuple(key_fields.items())
    if all(type(v) is str or type(v) is int for _, v in fields):
        # Equal strings and integers have equal JSON, so their elements can be cached
        # (every comparison of a list names each item again).
        return _key_element_of(fields)
    return _key_element(key_fields)


@lru_cache(maxsize=8192)
def _key_element_of(fields: tuple[tuple[str, Any], ...]) -> PathElement:
    return _key_element(dict(fields))


def _key_element(key_fields: dict[str, Any]) -> PathElement:
    if all(_plain(k) and _plain(v) for k, v in key_fields.items()):
        inner = ",".join(f"{_plain(k)}:{_plain(key_fields[k])}" for k in sorted(key_fields))
        return "k:{" + inner + "}"
    return "k:" + canonical_json(key_fields)


_NEEDS_ESCAPING = re.compile(r'[^\x20-\x7e]|["\\<>&]')


def _plain(value: Any) -> str:
    """Fast JSON for the common key values (plain strings, integers); "" otherwise."""
    if isinstance(value, str):
        return "" if _NEEDS_ESCAPING.search(value) else f'"{value}"'
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return ""


def value_element(value: Any) -> PathElement:
    return "v:" + canonical_json(value)


def index_element(index: int) -> PathElement:
    return f"i:{index}"


_KIND_RANK = {"f": 0, "k": 1, "v": 2, "i": 3}


@lru_cache(maxsize=8192)
def element_sort_key(element: PathElement) -> tuple[Any, ...]:
    """structured-merge-diff's order of path elements."""
    kind, _, rest = element.partition(":")
    rank = _KIND_RANK.get(kind, 4)
    if kind == "f":
        return (rank, rest)
    if kind == "k":
        fields = json.loads(rest)
        return (rank, tuple((name, value_sort_key(fields[name])) for name in sorted(fields)))
    if kind == "v":
        return (rank, value_sort_key(json.loads(rest)))
    if kind == "i":
        return (rank, int(rest))
    return (rank, element)


def render_element(element: PathElement) -> str:
    """One element as the API server prints it in messages: ``.name``, ``[name="web"]``,
    ``[="value"]`` or ``[3]``."""
    kind, _, rest = element.partition(":")
    if kind == "f":
        return "." + rest
    if kind == "k":
        fields = json.loads(rest)
        return "[" + ",".join(f"{k}={value_to_string(fields[k])}" for k in sorted(fields)) + "]"
    if kind == "v":
        return "[=" + value_to_string(json.loads(rest)) + "]"
    if kind == "i":
        return f"[{rest}]"
    return "{{invalid path element}}"


def render_path(path: Iterable[PathElement]) -> str:
    """A path as printed in conflict messages, e.g. ``.spec.containers[name="web"].image``."""
    return "".join(render_element(e) for e in path)


class FieldSet:
    """An immutable-by-convention set of field paths (see the module docstring)."""

    __slots__ = ("_fields_v1", "children", "members")

    def __init__(
        self,
        members: Iterable[PathElement] = (),
        children: dict[PathElement, FieldSet] | None = None,
    ) -> None:
        self.members: set[PathElement] = set(members)
        self.children: dict[PathElement, FieldSet] = children if children is not None else {}
        #: The ``fieldsV1`` JSON text, once :meth:`to_fields_v1` has been asked for it.
        self._fields_v1: bytes | None = None

    # -- building -------------------------------------------------------------------

    @classmethod
    def from_paths(cls, paths: Iterable[Path]) -> FieldSet:
        out = cls()
        for path in paths:
            out.insert(path)
        return out

    def insert(self, path: Path) -> None:
        """Add ``path`` (mutates; only while building a set)."""
        if not path:
            raise ValueError("cannot insert the empty path")
        node = self
        for element in path[:-1]:
            node = node.children.setdefault(element, FieldSet())
        node.members.add(path[-1])

    # -- queries --------------------------------------------------------------------

    def empty(self) -> bool:
        # Invariant kept by every constructor here: a child set is never empty.
        return not self.members and not self.children

    def has(self, path: Path) -> bool:
        node: FieldSet | None = self
        for element in path[:-1]:
            node = node.children.get(element) if node is not None else None
            if node is None:
                return False
        return node is not None and bool(path) and path[-1] in node.members

    def with_prefix(self, element: PathElement) -> FieldSet:
        return self.children.get(element) or FieldSet()

    def paths(self, prefix: Path = ()) -> Iterator[Path]:
        """Every member path: members of a node (sorted) before its children (sorted)."""
        for element in sorted(self.members, key=element_sort_key):
            yield (*prefix, element)
        for element in sorted(self.children, key=element_sort_key):
            yield from self.children[element].paths((*prefix, element))

    def __len__(self) -> int:
        return len(self.members) + sum(len(c) for c in self.children.values())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FieldSet):
            return NotImplemented
        return set(self.paths()) == set(other.paths())

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return "FieldSet(" + ", ".join(render_path(p) for p in self.paths()) + ")"

    # -- algebra --------------------------------------------------------------------
    #
    # Each operation returns ``self`` (or ``other``) when the result would equal it, so
    # that a manager's set untouched by a write stays the same object, and its cached
    # ``fieldsV1`` text is reused when the write is encoded.

    def union(self, other: FieldSet) -> FieldSet:
        if other is self or other.empty():
            return self
        if self.empty():
            return other
        children: dict[PathElement, FieldSet] | None = None
        for element, child in other.children.items():
            mine = self.children.get(element)
            both = child if mine is None else mine.union(child)
            if both is not mine:
                if children is None:
                    children = dict(self.children)
                children[element] = both
        if children is None and other.members <= self.members:
            return self
        return FieldSet(self.members | other.members, children or dict(self.children))

    def intersection(self, other: FieldSet) -> FieldSet:
        children: dict[PathElement, FieldSet] = {}
        kept_all = True
        for element, child in self.children.items():
            theirs = other.children.get(element)
            both = child.intersection(theirs) if theirs is not None else None
            if both is not None and not both.empty():
                children[element] = both
            kept_all = kept_all and both is child
        if kept_all and self.members <= other.members:
            return self
        return FieldSet(self.members & other.members, children)

    def difference(self, other: FieldSet) -> FieldSet:
        """Paths in ``self`` and not in ``other`` (children of removed members stay)."""
        children: dict[PathElement, FieldSet] = {}
        kept_all = True
        for element, child in self.children.items():
            theirs = other.children.get(element)
            rest = child if theirs is None else child.difference(theirs)
            if not rest.empty():
                children[element] = rest
            kept_all = kept_all and rest is child
        if kept_all and self.members.isdisjoint(other.members):
            return self
        return FieldSet(self.members - other.members, children)

    def recursive_difference(self, other: FieldSet) -> FieldSet:
        """Like :meth:`difference`, but a member of ``other`` also removes its subtree."""
        children: dict[PathElement, FieldSet] = {}
        kept_all = True
        for element, child in self.children.items():
            if element in other.members:
                kept_all = False
                continue
            theirs = other.children.get(element)
            rest = child if theirs is None else child.recursive_difference(theirs)
            if not rest.empty():
                children[element] = rest
            kept_all = kept_all and rest is child
        if kept_all and self.members.isdisjoint(other.members):
            return self
        return FieldSet(self.members - other.members, children)

    # -- FieldsV1 -------------------------------------------------------------------

    def to_fields_v1(self) -> dict[str, Any]:
        """The ``fieldsV1`` object of a ``managedFields`` entry (a new one each time).

        The text is kept on the set, and remembered as a decoding of it: decoding the
        text (C) is cheaper than walking the set, and the next write reads back this
        text from the stored object and gets this set again. Only call this once the set
        is built (it must not change afterwards).
        """
        text = self._fields_v1
        if text is None:
            text = _dumps(self._emit(include_self=False))
            self._fields_v1 = text
            _PARSED.put(text, self)
        fields: dict[str, Any] = _loads(text)
        return fields

    def _emit(self, include_self: bool) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if include_self and (self.members or self.children):
            out["."] = {}
        live_children = {e: c for e, c in self.children.items() if not c.empty()}
        for element in sorted(self.members | live_children.keys(), key=element_sort_key):
            child = live_children.get(element)
            if child is None:
                out[element] = {}
            else:
                out[element] = child._emit(include_self=element in self.members)
        return out

    @classmethod
    def from_fields_v1(cls, fields: Any) -> FieldSet:
        """Parse a ``fieldsV1`` object; raises ``ValueError`` when it is malformed.

        The result may be shared with other callers (it is cached by the object's
        JSON text): treat it as immutable, as every set.
        """
        try:
            text = orjson.dumps(fields)
            from_orjson = True
        except TypeError:
            # What orjson refuses (keys that are not strings, lone surrogates, integers
            # beyond 64 bits) gets the standard library's text, as it always had.
            try:
                text = json.dumps(fields, separators=(",", ":")).encode()
            except (TypeError, ValueError):
                out, _, _ = cls._read(fields, ())
                return out
            from_orjson = False
        cached = _PARSED.get(text)
        if cached is None:
            cached, root_is_member, canonical = cls._read(_loads(text), ())
            if canonical and from_orjson and not root_is_member:
                # Written as :meth:`to_fields_v1` writes it (true of every set this
                # simulator stored): the text is the encoding, no need to walk for it.
                cached._fields_v1 = text
            _PARSED.put(text, cached)
        return cached

    @classmethod
    def _read(cls, fields: Any, where: Path) -> tuple[FieldSet, bool, bool]:
        """(the set, whether the node itself is a member, whether ``fields`` is exactly
        what :meth:`_emit` writes for it: ``"."`` first and only above children, every
        other entry in order)."""
        if not isinstance(fields, dict):
            raise ValueError(f"fieldsV1 at {render_path(where) or '.'} is not an object")
        out = cls()
        is_member = False
        canonical = True
        last: tuple[Any, ...] | None = None
        for position, (key, value) in enumerate(fields.items()):
            if key == ".":
                is_member = True
                canonical = canonical and position == 0 and value == {} and type(value) is dict
                continue
            _check_element(key, where)
            child, child_is_member, child_canonical = cls._read(value, (*where, key))
            if child_is_member or child.empty():
                out.members.add(key)
            if not child.empty():
                out.children[key] = child
            if canonical:
                order = element_sort_key(key)
                canonical = child_canonical and _strictly_before(last, order)
                last = order
        if is_member and out.empty():
            canonical = False  # written {} for a member without children
        return out, is_member, canonical


def _strictly_before(last: tuple[Any, ...] | None, order: tuple[Any, ...]) -> bool:
    if last is None:
        return True
    try:
        return last < order
    except TypeError:
        return False


PARSED_CACHE_SIZE = 1024
"""How many parsed ``fieldsV1`` sets are kept: a few kilobytes each, so a few MiB."""


class _ParsedSets:
    """The sets of the most recently used ``fieldsV1`` texts (least recently used out).

    Filled both ways: by decoding a text, and by encoding a set (its text then decodes to
    that set, whose own text is already known)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._sets: dict[bytes, FieldSet] = {}

    def get(self, text: bytes) -> FieldSet | None:
        found = self._sets.pop(text, None)
        if found is not None:
            self._sets[text] = found  # now the most recently used
        return found

    def put(self, text: bytes, fields: FieldSet) -> None:
        self._sets.pop(text, None)
        self._sets[text] = fields
        if len(self._sets) > self.size:
            del self._sets[next(iter(self._sets))]

    def clear(self) -> None:
        self._sets.clear()

    def __len__(self) -> int:
        return len(self._sets)


_PARSED = _ParsedSets(PARSED_CACHE_SIZE)


def _dumps(value: Any) -> bytes:
    """Compact JSON (orjson; the standard library for what orjson refuses)."""
    try:
        return orjson.dumps(value)
    except TypeError:
        return json.dumps(value, separators=(",", ":")).encode()


def _loads(text: bytes) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def _check_element(element: str, where: Path) -> None:
    kind, sep, rest = element.partition(":")
    ok = bool(sep) and kind in _KIND_RANK
    if ok and kind in ("k", "v"):
        try:
            parsed = json.loads(rest)
        except ValueError:
            ok = False
        else:
            ok = kind == "v" or isinstance(parsed, dict)
    elif ok and kind == "i":
        ok = rest.isdigit()
    if not ok:
        raise ValueError(f"invalid path element {element!r} in fieldsV1 at {render_path(where)}")
