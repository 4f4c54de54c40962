"""Remove the fields a user declared harmless (ignoreDifferences) before comparing.

Fields are removed from both sides: by JSON pointer, and by field manager, reading the
live object's managedFields (the ``FieldsV1`` set format of server-side apply) for the
managers listed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Any

from fleet.model.ignore_differences import IgnoreDifference
from fleet.model.pointers import pointer_parts
from fleet.model.refs import ObjectRef


@lru_cache(maxsize=1024)
def _parts(pointer: str) -> tuple[str, ...]:
    return pointer_parts(pointer)


def remove_pointer(obj: Any, parts: Sequence[str]) -> None:
    """Delete the value at a parsed JSON pointer if it is there (in place)."""
    if not parts:
        return
    node = obj
    for part in parts[:-1]:
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return
    last = parts[-1]
    if isinstance(node, dict):
        node.pop(last, None)
    elif isinstance(node, list) and last.isdigit() and int(last) < len(node):
        del node[int(last)]


def _item_matches(item: Any, key: str) -> bool:
    kind, _, text = key.partition(":")
    try:
        wanted = json.loads(text)
    except ValueError:
        return False
    if kind == "v":
        return bool(item == wanted)
    return (
        isinstance(item, dict)
        and isinstance(wanted, dict)
        and all(item.get(k) == v for k, v in wanted.items())
    )


def _targets(node: Any, key: str) -> list[Any]:
    """Map keys or list indexes a FieldsV1 key designates in ``node``."""
    if key.startswith("f:"):
        return [key[2:]] if isinstance(node, dict) and key[2:] in node else []
    if not isinstance(node, list):
        return []
    if key.startswith("i:"):
        index = int(key[2:]) if key[2:].isdigit() else -1
        return [index] if 0 <= index < len(node) else []
    if key.startswith(("k:", "v:")):
        return [i for i, item in enumerate(node) if _item_matches(item, key)]
    return []


def remove_managed(node: Any, fields: Mapping[str, Any]) -> None:
    """Delete every field a FieldsV1 set names from ``node`` (in place).

    A leaf is deleted; a map or list item is entered, and deleted as well when the set
    marks it as owned (``.``) and nothing of it remains.
    """
    for key, children in fields.items():
        if key == ".":
            continue
        for target in reversed(_targets(node, key)):
            if children:
                remove_managed(node[target], children)
                if "." not in children or node[target] not in ({}, []):
                    continue
            del node[target]


def _managed_by(live: Mapping[str, Any] | None, managers: Iterable[str]) -> list[Mapping[str, Any]]:
    wanted = set(managers)
    if not wanted or live is None:
        return []
    entries = (live.get("metadata") or {}).get("managedFields") or []
    return [
        entry["fieldsV1"]
        for entry in entries
        if isinstance(entry, Mapping)
        and entry.get("manager") in wanted
        and isinstance(entry.get("fieldsV1"), Mapping)
    ]


def rules_for(ref: ObjectRef, rules: Iterable[IgnoreDifference]) -> tuple[IgnoreDifference, ...]:
    return tuple(rule for rule in rules if rule.selects(ref))


def apply_ignores(
    obj: dict[str, Any],
    rules: Iterable[IgnoreDifference],
    live: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """Remove every ignored field from ``obj`` (in place) and return it."""
    for rule in rules:
        for pointer in rule.json_pointers:
            remove_pointer(obj, _parts(pointer))
        for fields in _managed_by(live, rule.managed_fields_managers):
            remove_managed(obj, fields)
    return obj
