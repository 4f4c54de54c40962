"""Field ownership for writes that are not server-side apply: create, update (PUT),
JSON patch, merge patch and strategic merge patch.

The store computes the object to persist, then asks :func:`track_update` for its
``managedFields``. Before that, :func:`reset_fields` makes the write obey its
subresource: through the main resource a kind with a status subresource keeps its old
status; through ``/status`` only the status changes.
"""

from __future__ import annotations

from typing import Any

from fleet.sim.patching.managers import (
    UPDATE,
    Managed,
    ManagedFieldsEntry,
    cap_update_managers,
    decode,
    encode,
    manager_key,
)
from fleet.sim.patching.ownership import record_update
from fleet.sim.patching.schema import Schema
from fleet.sim.patching.values import JSONObject, copy_json


def managed_fields_of(obj: JSONObject | None) -> Any:
    return ((obj or {}).get("metadata") or {}).get("managedFields")


def without_managed_fields(obj: JSONObject | None) -> JSONObject:
    """A shallow copy of ``obj`` whose metadata has no ``managedFields``."""
    if obj is None:
        return {}
    out = dict(obj)
    meta = out.get("metadata")
    if isinstance(meta, dict) and "managedFields" in meta:
        out["metadata"] = {k: v for k, v in meta.items() if k != "managedFields"}
    return out


def set_managed_fields(obj: JSONObject, entries: list[ManagedFieldsEntry]) -> JSONObject:
    """``obj`` with ``metadata.managedFields`` set to ``entries`` (removed when empty),
    as a new top-level dict."""
    out = dict(obj)
    meta = dict(out.get("metadata") or {})
    if entries:
        meta["managedFields"] = entries
    else:
        meta.pop("managedFields", None)
    out["metadata"] = meta
    return out


def _is_reset_request(entries: Any) -> bool:
    """``managedFields: [{}]`` asks to strip all managed fields (an empty list does not:
    a client unaware of the field must not wipe it by accident)."""
    return isinstance(entries, list) and len(entries) == 1 and entries[0] == {}


def _starting_point(old: JSONObject | None, new: JSONObject, subresource: str) -> Managed:
    """The managers before this write: the ones the client sent, unless it sent none,
    sent invalid ones, or wrote through a subresource; then the stored ones."""
    sent = managed_fields_of(new)
    if not subresource:
        if _is_reset_request(sent):
            return Managed()
        if sent:
            try:
                supplied = decode(sent)
            except ValueError:
                supplied = Managed()
            if supplied.sets:
                return supplied
    try:
        return decode(managed_fields_of(old))
    except ValueError:
        return Managed()


def track_update(
    old: JSONObject | None,
    new: JSONObject,
    manager: str,
    *,
    now: str,
    schema: Schema,
    subresource: str = "",
) -> list[ManagedFieldsEntry]:
    """The ``managedFields`` of ``new`` after a non-apply write by ``manager``.

    ``old`` is the stored object (``None`` for a create), ``new`` the object about to be
    stored (after :func:`reset_fields`), ``now`` an RFC 3339 timestamp. What the write
    changed becomes owned by ``manager`` with operation ``Update`` (plus ``subresource``
    when written through one) and is taken away from every other manager; what it removed
    is owned by no one. ``manager`` defaults to ``"unknown"`` when empty. ``new`` may
    carry ``managedFields`` to replace the stored ones (``[{}]`` clears them).
    """
    managed = _starting_point(old, new, subresource)
    before = without_managed_fields(old)
    after = without_managed_fields(new)
    key = manager_key(manager, UPDATE, schema.api_version, subresource)
    record_update(
        before,
        after,
        managed,
        key,
        api_version=schema.api_version,
        ignored=schema.ignored_fields(subresource, before, after),
        node=schema.root,
        now=now,
    )
    cap_update_managers(managed)
    return encode(managed)


def reset_fields(
    old: JSONObject | None, new: JSONObject, schema: Schema, subresource: str = ""
) -> JSONObject:
    """``new`` limited to what a write through ``subresource`` may change.

    Main resource, kind with a status subresource: ``status`` comes from ``old`` (and is
    dropped on create). ``/status``: everything but ``status`` comes from ``old``,
    except ``metadata.managedFields``, which stays as the client sent it. Otherwise
    ``new`` is returned unchanged (copied).
    """
    if subresource == "status" and old is not None:
        out: JSONObject = copy_json(old)
        if "status" in new:
            out["status"] = copy_json(new["status"])
        else:
            out.pop("status", None)
        sent = managed_fields_of(new)
        meta = out.setdefault("metadata", {})
        if sent is not None:
            meta["managedFields"] = copy_json(sent)
        else:
            meta.pop("managedFields", None)
        return out
    out = copy_json(new)
    assert isinstance(out, dict)
    if not subresource and schema.status_subresource:
        if old is not None and "status" in old:
            out["status"] = copy_json(old["status"])
        else:
            out.pop("status", None)
    return out
