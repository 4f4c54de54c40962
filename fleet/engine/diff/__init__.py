"""Compare a desired object, as the server-side apply dry-run returns it, with the live one.

``compare`` gives an ``ObjectDiff``: whether the object is in sync, a structured diff
(RFC 6902 JSON Patch operations that turn live into desired, for the API and history) and
a unified diff for people. Both are stable: keys are sorted and the text is a pure
function of the two objects. Secret values appear only as digests.
"""

from __future__ import annotations

import copy
import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import jsonpatch
import yaml

from fleet.engine.diff.ignore import apply_ignores, rules_for
from fleet.engine.diff.normalize import is_secret, normalize, secret_digest
from fleet.model.ignore_differences import IgnoreDifference
from fleet.model.refs import ObjectRef

__all__ = [
    "ObjectDiff",
    "compare",
    "in_sync",
    "is_secret",
    "normalize",
    "secret_digest",
    "unified",
]


@dataclass(frozen=True, slots=True)
class ObjectDiff:
    ref: ObjectRef
    in_sync: bool
    #: JSON Patch operations (``op``, ``path``, ``value``) from live to desired.
    patch: tuple[Mapping[str, Any], ...]
    text: str

    @property
    def changed_paths(self) -> tuple[str, ...]:
        return tuple(str(op["path"]) for op in self.patch)


def _yaml(obj: Mapping[str, Any] | None) -> list[str]:
    if obj is None:
        return []
    text = yaml.safe_dump(dict(obj), sort_keys=True, default_flow_style=False, width=1000)
    return text.splitlines(keepends=True)


def unified(
    ref: ObjectRef, live: Mapping[str, Any] | None, desired: Mapping[str, Any] | None
) -> str:
    """A unified diff of two normalised objects, labelled with the object's name."""
    name = str(ref).replace(" ", "/")
    lines = difflib.unified_diff(
        _yaml(live), _yaml(desired), fromfile=f"live/{name}", tofile=f"desired/{name}"
    )
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def comparable(
    obj: Mapping[str, Any] | None,
    ref: ObjectRef,
    rules: Iterable[IgnoreDifference],
    live: Mapping[str, Any] | None,
    secret_key: bytes = b"",
) -> dict[str, Any] | None:
    """``obj`` normalised with the ignore rules that select ``ref`` applied.

    The result shares unchanged parts with ``obj`` when no rule selects ``ref``: do not
    mutate it.
    """
    if obj is None:
        return None
    selected = rules_for(ref, rules)
    return apply_ignores(normalize(obj, secret_key, deep=bool(selected)), selected, live)


def in_sync(
    ref: ObjectRef,
    desired: Mapping[str, Any] | None,
    live: Mapping[str, Any] | None,
    rules: Iterable[IgnoreDifference] = (),
    secret_key: bytes = b"",
) -> bool:
    """``compare(...).in_sync`` without the patch: for a sync, which reads only that."""
    rules = tuple(rules)
    left = comparable(live, ref, rules, live, secret_key)
    return left == comparable(desired, ref, rules, live, secret_key)


def compare(
    ref: ObjectRef,
    desired: Mapping[str, Any] | None,
    live: Mapping[str, Any] | None,
    rules: Iterable[IgnoreDifference] = (),
    secret_key: bytes = b"",
    *,
    with_text: bool = True,
) -> ObjectDiff:
    """Diff of a dry-run result (or None: to be deleted) against live (None: absent).

    ``with_text=False`` leaves the unified diff out: a sync reads only whether the object
    is in sync and which paths changed, and the YAML text is the costly part.
    """
    rules = tuple(rules)
    left = comparable(live, ref, rules, live, secret_key)
    right = comparable(desired, ref, rules, live, secret_key)
    if left == right:
        return ObjectDiff(ref, True, (), "")
    patch = jsonpatch.make_patch(*without_common(left or {}, right or {})).patch
    text = unified(ref, left, right) if with_text else ""
    return ObjectDiff(ref, False, tuple(copy.deepcopy(patch)), text)


def without_common(
    src: Mapping[str, Any], dst: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``src`` and ``dst`` without the members they hold alike, at every object level.

    jsonpatch makes no operation, and notes nothing, for a member equal on both sides,
    so the patch of what is left is the patch of the whole; but it finds that out by
    serialising every scalar, the bulk of a sync's diff when one field of a Deployment
    changed. Only members the same by JSON's measure are left out: same types (1, 1.0
    and True differ), floats written alike; lists are never looked into.
    """
    left: dict[str, Any] = {}
    right: dict[str, Any] = {}
    for key, value in src.items():
        if key not in dst:
            left[key] = value
            continue
        other = dst[key]
        if _same_json(value, other):
            continue
        if type(value) is dict and type(other) is dict:
            left[key], right[key] = without_common(value, other)
        else:
            left[key], right[key] = value, other
    for key, value in dst.items():
        if key not in src:
            right[key] = value
    return left, right


def _same_json(a: Any, b: Any) -> bool:
    """``a`` and ``b`` are the same JSON value, written the same way."""
    kind = type(a)
    if kind is not type(b):
        return False
    if kind is dict:
        return a.keys() == b.keys() and all(_same_json(a[k], b[k]) for k in a)
    if kind is list:
        return len(a) == len(b) and all(_same_json(x, y) for x, y in zip(a, b, strict=True))
    if kind is float:
        return bool(a == b) and repr(a) == repr(b)
    if kind in (str, int, bool) or a is None:
        return bool(a == b)
    return False  # anything else: left to jsonpatch
