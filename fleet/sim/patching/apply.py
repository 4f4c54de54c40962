"""Server-side apply: merge an apply configuration into an object and record ownership.

The steps follow a kube-apiserver's field manager, in its order:

1. An existing object with no ``managedFields`` is first given an Update manager
   ``before-first-apply`` owning all its fields, so that an apply cannot silently
   overwrite what was written before ownership was tracked.
2. The configuration is merged into the object (:mod:`typedmerge`).
3. The applier's field set becomes exactly the fields of the configuration.
4. Fields the applier applied last time and no longer applies are removed, unless
   another manager owns them (:func:`ownership.prune`).
5. Changed fields owned by other managers conflict (409) unless ``force``, which moves
   them to the applier; equal values are shared, never a conflict.
6. The object's identity and server-set metadata are never owned; a main-resource
   apply cannot set ``status`` of a kind with a status subresource, and an apply to
   ``/status`` sets only ``status``.

Two rules exist only for the manager named ``kubectl`` (kubectl's default for
``apply --server-side``): conflicts on fields whose live value still equals the
``kubectl.kubernetes.io/last-applied-configuration`` annotation are not conflicts (so
moving from client-side to server-side apply does not need ``--force-conflicts``), and
that annotation, when present, is rewritten to the new configuration.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from fleet.sim.patching.errors import BadPatch, InvalidApply, PatchError
from fleet.sim.patching.fieldsets import FieldSet
from fleet.sim.patching.managers import (
    APPLY,
    STRIPPED_FIELDS,
    UPDATE,
    Managed,
    ManagedFieldsEntry,
    VersionedSet,
    decode,
    encode,
    manager_key,
)
from fleet.sim.patching.ownership import ConflictsFound, prune, record_update, take_ownership
from fleet.sim.patching.schema import Schema
from fleet.sim.patching.typed import to_field_set
from fleet.sim.patching.typedmerge import compare, merge
from fleet.sim.patching.updates import (
    managed_fields_of,
    reset_fields,
    set_managed_fields,
    without_managed_fields,
)
from fleet.sim.patching.values import JSONObject, canonical_json, copy_json, json_equal

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
BEFORE_FIRST_APPLY = "before-first-apply"
KUBECTL = "kubectl"


@dataclass(frozen=True, slots=True)
class ApplyResult:
    """The outcome of :func:`server_side_apply`.

    ``object`` is the object to store, with ``metadata.managedFields`` set (absent when
    no manager is left); ``managed_fields`` is that list. ``created`` tells that there
    was no live object; ``changed`` that anything but ``managedFields`` differs from the
    live object (a store keeps the resourceVersion when neither changed).
    """

    object: JSONObject
    managed_fields: list[ManagedFieldsEntry]
    created: bool
    changed: bool


def server_side_apply(
    live: JSONObject | None,
    applied: JSONObject,
    manager: str,
    *,
    force: bool,
    schema: Schema,
    now: str,
    subresource: str = "",
) -> ApplyResult:
    """Apply ``applied`` (a parsed apply configuration) as field manager ``manager``.

    ``live`` is the stored object, or ``None`` to create it. ``now`` is an RFC 3339
    timestamp recorded for the applier when the object changes. Raises
    :class:`~fleet.sim.patching.errors.ApplyConflict` (409),
    :class:`~fleet.sim.patching.errors.BadPatch` (400) or
    :class:`~fleet.sim.patching.errors.InvalidApply` (422); the inputs are not modified.
    The caller still validates the result and sets server-owned metadata (uid,
    resourceVersion, generation, creationTimestamp), as for any write.
    """
    _check_request(live, applied, manager, schema, subresource)
    try:
        return _apply(live, applied, manager, force, schema, now, subresource)
    except ConflictsFound as found:
        error = found.error()
        if manager == KUBECTL and live is not None:
            allowed = _unchanged_since_last_applied(live, schema)
            if allowed is not None:
                error = found.error(allowed)
                if error is None:
                    return _apply(live, applied, manager, True, schema, now, subresource)
        assert error is not None
        raise error from None


def _check_request(
    live: JSONObject | None, applied: Any, manager: str, schema: Schema, subresource: str
) -> None:
    if not isinstance(applied, dict):
        raise BadPatch("an apply configuration must be an object")
    if not manager:
        raise InvalidApply("fieldManager: Required value: is required for apply patch")
    if managed_fields_of(applied) is not None:
        raise BadPatch("metadata.managedFields must be nil")
    version = applied.get("apiVersion")
    if version != schema.api_version:
        raise BadPatch(
            "Incorrect version specified in apply patch. "
            f"Specified patch version: {version}, expected: {schema.api_version}"
        )
    if subresource and live is None:
        name = (applied.get("metadata") or {}).get("name", "")
        raise PatchError(f'{schema.kind} "{name}" not found', code=404, reason="NotFound")


def _apply(
    live: JSONObject | None,
    applied: JSONObject,
    manager: str,
    force: bool,
    schema: Schema,
    now: str,
    subresource: str,
) -> ApplyResult:
    node, api_version = schema.root, schema.api_version
    try:
        managed = decode(managed_fields_of(live)) if live is not None else Managed()
    except ValueError as err:
        raise PatchError(f"failed to decode managed fields: {err}", code=500, reason="") from None
    before = without_managed_fields(live)
    ignored = schema.ignored_fields(subresource, before, applied)
    if live is not None and not managed.sets:
        first = manager_key(BEFORE_FIRST_APPLY, UPDATE, api_version)
        record_update(
            {}, before, managed, first, api_version=api_version, ignored=ignored, node=node, now=now
        )

    key = manager_key(manager, APPLY, api_version, subresource)
    merged = merge(before, applied, node)
    applies = to_field_set(applied, node, strict=True).recursive_difference(ignored)
    last = managed.sets.get(key)
    managed.sets[key] = VersionedSet(applies, api_version, applied=True)
    merged = prune(merged, managed, key, last, node)
    take_ownership(before, merged, managed, key, force=force, ignored=ignored, node=node)
    mine = managed.sets.get(key)
    if mine is not None:
        mine.fields = mine.fields.difference(STRIPPED_FIELDS)
    managed.drop_empty()

    result = reset_fields(live, merged, schema, subresource)
    changed = live is None or not json_equal(without_managed_fields(result), before)
    if changed and key in managed.sets:
        managed.times[key] = now
    if manager == KUBECTL:
        result = _with_last_applied(result, applied)
        changed = changed or not json_equal(without_managed_fields(result), before)
    entries = encode(managed)
    result = set_managed_fields(copy_json(without_managed_fields(result)), entries)
    return ApplyResult(result, entries, live is None, changed)


def _unchanged_since_last_applied(live: JSONObject, schema: Schema) -> FieldSet | None:
    """Fields of the last-applied annotation whose live value still matches it."""
    annotations = (live.get("metadata") or {}).get("annotations") or {}
    text = annotations.get(LAST_APPLIED)
    if not isinstance(text, str) or not text:
        return None
    try:
        last = json.loads(text)
    except ValueError:
        return None
    if not isinstance(last, dict):
        return None
    node = schema.root
    fields = to_field_set(last, node)
    diff = compare(last, without_managed_fields(live), node)
    return fields.difference(diff.modified).difference(diff.added).difference(diff.removed)


def _with_last_applied(obj: JSONObject, applied: JSONObject) -> JSONObject:
    meta = obj.get("metadata") or {}
    annotations = meta.get("annotations") or {}
    if LAST_APPLIED not in annotations:
        return obj
    config = copy_json(applied)
    config_meta = config.get("metadata")
    if isinstance(config_meta, dict) and isinstance(config_meta.get("annotations"), dict):
        config_meta["annotations"].pop(LAST_APPLIED, None)
    out = dict(obj)
    out["metadata"] = {
        **meta,
        "annotations": {**annotations, LAST_APPLIED: canonical_json(config) + "\n"},
    }
    return out
