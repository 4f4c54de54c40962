"""``metadata.managedFields``: decoding, encoding, manager identities, the updater cap.

A manager is identified as a kube-apiserver identifies it: by its name, operation
(``Apply`` or ``Update``), subresource, and, for ``Update`` only, the apiVersion it wrote
with. So ``kubectl`` applying and ``kubectl`` updating are two managers, and an applier
keeps one entry across apiVersions. The identity is kept as the JSON text the API server
uses, which also gives conflict messages their order.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

from fleet.sim.patching.fieldsets import FieldSet

ManagedFieldsEntry = dict[str, Any]

APPLY = "Apply"
UPDATE = "Update"

MAX_UPDATE_MANAGERS = 10
"""Update managers beyond this many are merged, oldest first, into ``ancient-changes``."""

ANCIENT_CHANGES = "ancient-changes"

STRIPPED_FIELDS = FieldSet.from_paths(
    [("f:apiVersion",), ("f:kind",), ("f:metadata",)]
    + [
        ("f:metadata", "f:" + name)
        for name in (
            "name",
            "namespace",
            "creationTimestamp",
            "selfLink",
            "uid",
            "clusterName",
            "generation",
            "managedFields",
            "resourceVersion",
        )
    ]
)
"""Paths never owned by anyone (the object's identity and server-set metadata)."""


@dataclass(slots=True)
class VersionedSet:
    fields: FieldSet
    api_version: str
    applied: bool


@dataclass(slots=True)
class Managed:
    """The managers of one object: their field sets and last-change times."""

    sets: dict[str, VersionedSet] = field(default_factory=dict)
    times: dict[str, str | None] = field(default_factory=dict)

    def copy(self) -> Managed:
        return Managed(dict(self.sets), dict(self.times))

    def drop_empty(self) -> None:
        for key in [k for k, v in self.sets.items() if v.fields.empty()]:
            del self.sets[key]
            self.times.pop(key, None)


def _go_json(value: dict[str, str]) -> str:
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


@lru_cache(maxsize=1024)
def manager_key(manager: str, operation: str, api_version: str, subresource: str = "") -> str:
    """The identity of a manager, as the API server writes it (cached: every write
    names each of an object's managers again)."""
    ident = {"manager": manager or "unknown", "operation": operation}
    if operation == UPDATE and api_version:
        ident["apiVersion"] = api_version
    if subresource:
        ident["subresource"] = subresource
    return _go_json(ident)


@lru_cache(maxsize=1024)
def _name_and_subresource(key: str) -> tuple[str, str]:
    """The manager's name and subresource in a :func:`manager_key` (cached, as it is)."""
    ident = json.loads(key)
    return ident["manager"], ident.get("subresource") or ""


def describe_manager(key: str) -> str:
    """How conflict messages name a manager: ``"name"``, then ``with subresource "s"``,
    then ``using apps/v1`` for Update managers."""
    ident = json.loads(key)
    text = json.dumps(ident.get("manager", ""), ensure_ascii=False)
    if ident.get("subresource"):
        text += f" with subresource {json.dumps(ident['subresource'], ensure_ascii=False)}"
    if ident.get("operation") == UPDATE:
        text += f" using {ident.get('apiVersion', '')}"
    return text


def decode(entries: Any) -> Managed:
    """Read ``metadata.managedFields``; raises ``ValueError`` naming a malformed entry."""
    out = Managed()
    if entries is None:
        return out
    if not isinstance(entries, list):
        raise ValueError("metadata.managedFields must be a list")
    for i, entry in enumerate(entries):
        where = f"metadata.managedFields[{i}]"
        if not isinstance(entry, dict):
            raise ValueError(f"{where} must be an object")
        operation = entry.get("operation")
        if operation not in (APPLY, UPDATE):
            raise ValueError(f"{where}.operation must be `Apply` or `Update`")
        api_version = entry.get("apiVersion")
        if not isinstance(api_version, str) or not api_version:
            raise ValueError(f"{where}.apiVersion must not be empty")
        fields_type = entry.get("fieldsType")
        if fields_type != "FieldsV1":
            problem = "missing" if not fields_type else f"invalid ({fields_type!r})"
            raise ValueError(f"{where}.fieldsType is {problem}: only FieldsV1 is supported")
        name = entry.get("manager", "")
        subresource = entry.get("subresource", "")
        if not isinstance(name, str) or not isinstance(subresource, str):
            raise ValueError(f"{where}: manager and subresource must be strings")
        key = manager_key(name, operation, api_version, subresource)
        fields = FieldSet.from_fields_v1(entry.get("fieldsV1") or {})
        out.sets[key] = VersionedSet(fields, api_version, operation == APPLY)
        stamp = entry.get("time")
        out.times[key] = stamp if isinstance(stamp, str) else None
    return out


@lru_cache(maxsize=1024)
def _seconds(stamp: str | None) -> float:
    """A timestamp in whole seconds (0 when absent or malformed); cached, as every
    write sorts its managers by the same few timestamps."""
    if not stamp:
        return 0.0
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp() // 1
    except ValueError:
        return 0.0


def encode(managed: Managed) -> list[ManagedFieldsEntry]:
    """``metadata.managedFields`` in the API server's order: Apply before Update, then
    oldest first, then by manager name, apiVersion and subresource."""
    entries: list[ManagedFieldsEntry] = []
    for key, versioned in managed.sets.items():
        name, subresource = _name_and_subresource(key)
        entry: ManagedFieldsEntry = {
            "manager": name,
            "operation": APPLY if versioned.applied else UPDATE,
            "apiVersion": versioned.api_version,
        }
        stamp = managed.times.get(key)
        if stamp:
            entry["time"] = stamp
        entry["fieldsType"] = "FieldsV1"
        entry["fieldsV1"] = versioned.fields.to_fields_v1()
        if subresource:
            entry["subresource"] = subresource
        entries.append(entry)
    entries.sort(
        key=lambda e: (
            e["operation"],
            _seconds(e.get("time")),
            e["manager"],
            e["apiVersion"],
            e.get("subresource", ""),
        )
    )
    return entries


def cap_update_managers(managed: Managed, limit: int = MAX_UPDATE_MANAGERS) -> None:
    """Merge the oldest Update managers into one ``ancient-changes`` entry per apiVersion
    until at most ``limit`` Update managers remain (in place)."""
    updaters = [k for k, v in managed.sets.items() if not v.applied]
    if len(updaters) <= limit:
        return
    updaters.sort(key=lambda k: (_seconds(managed.times.get(k)), k))
    first_of_version: dict[str, str] = {}
    count = len(updaters)
    for key in updaters:
        if count <= limit:
            break
        versioned = managed.sets[key]
        bucket = manager_key(ANCIENT_CHANGES, UPDATE, versioned.api_version)
        first = first_of_version.get(versioned.api_version)
        if first is None:
            first_of_version[versioned.api_version] = key
            continue
        if bucket not in managed.sets:
            managed.sets[bucket] = managed.sets.pop(first)
            managed.times[bucket] = managed.times.pop(first, None)
        merged = versioned.fields.union(managed.sets[bucket].fields)
        managed.sets[bucket] = VersionedSet(merged, versioned.api_version, False)
        managed.times[bucket] = managed.times.get(key)
        del managed.sets[key]
        managed.times.pop(key, None)
        count -= 1
