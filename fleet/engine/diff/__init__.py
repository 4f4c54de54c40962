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

__all__ = ["ObjectDiff", "compare", "is_secret", "normalize", "secret_digest", "unified"]


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
    patch = jsonpatch.make_patch(left or {}, right or {}).patch
    text = unified(ref, left, right) if with_text else ""
    return ObjectDiff(ref, False, tuple(copy.deepcopy(patch)), text)
