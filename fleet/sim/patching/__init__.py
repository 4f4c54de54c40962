"""Patch and server-side apply semantics of a kube-apiserver, as pure functions.

Everything here works on JSON-like values (``dict``/``list``/``str``/``int``/``float``/
``bool``/``None``), does no I/O and reads no clock: the time of a write is passed in
as an RFC 3339 string. Inputs are never modified; every function returns new values.

How the simulated API server uses it, per request:

1. Find the kind's schema: :func:`kind_schema` for built-in kinds, :func:`schema_for_crd`
   (or :func:`schema_from_openapi`) for custom resources.
2. Compute the new object:

   - ``application/json-patch+json``: :func:`json_patch` (RFC 6902);
   - ``application/merge-patch+json``: :func:`json_merge_patch` (RFC 7386; refuse a
     non-object patch with 400 first, as the API server does);
   - ``application/strategic-merge-patch+json``: :func:`strategic_merge_patch`
     (raises :class:`StrategicMergeUnsupported`, 415, for custom resources);
   - ``application/apply-patch+yaml``: :func:`server_side_apply` returns the object
     *with* its ``managedFields`` (skip steps 3 and 4);
   - create (POST) and replace (PUT): the request body.

3. :func:`reset_fields`: a main-resource write keeps the old ``status`` of a kind with a
   status subresource; a ``/status`` write changes nothing but ``status``.
4. :func:`track_update` gives the new ``managedFields`` (operation ``Update``);
   :func:`set_managed_fields` puts them on the object.

Every failure is a :class:`PatchError` carrying the HTTP ``code`` and Status ``reason``
to answer (and ``causes`` for apply conflicts); the input objects are untouched.

Field sets (:class:`FieldSet`) are exposed for tests and tools: :func:`fieldset_from_object`
tells what an object sets, :func:`render_path` prints a path like the API server does.
"""

from __future__ import annotations

from typing import Any

from fleet.sim.patching.apply import ApplyResult, server_side_apply
from fleet.sim.patching.errors import (
    ApplyConflict,
    BadPatch,
    Conflict,
    InvalidApply,
    PatchError,
    StrategicMergeUnsupported,
    UnknownKind,
)
from fleet.sim.patching.fieldsets import FieldSet, Path, render_path
from fleet.sim.patching.managers import ManagedFieldsEntry
from fleet.sim.patching.merge import json_merge_patch, json_patch
from fleet.sim.patching.schema import (
    Schema,
    builtin_kinds,
    generic_schema,
    kind_schema,
    schema_for_crd,
    schema_from_openapi,
)
from fleet.sim.patching.strategic import strategic_merge_patch
from fleet.sim.patching.typed import to_field_set
from fleet.sim.patching.updates import reset_fields, set_managed_fields, track_update


def fieldset_from_object(obj: Any, schema: Schema) -> FieldSet:
    """The fields ``obj`` sets, as server-side apply counts them for its applier."""
    return to_field_set(obj, schema.root)


def fieldset_from_managed_fields(entry: ManagedFieldsEntry) -> FieldSet:
    """The field set of one ``managedFields`` entry (raises ``ValueError`` if malformed)."""
    return FieldSet.from_fields_v1(entry.get("fieldsV1") or {})


__all__ = [
    "ApplyConflict",
    "ApplyResult",
    "BadPatch",
    "Conflict",
    "FieldSet",
    "InvalidApply",
    "ManagedFieldsEntry",
    "PatchError",
    "Path",
    "Schema",
    "StrategicMergeUnsupported",
    "UnknownKind",
    "builtin_kinds",
    "fieldset_from_managed_fields",
    "fieldset_from_object",
    "generic_schema",
    "json_merge_patch",
    "json_patch",
    "kind_schema",
    "render_path",
    "reset_fields",
    "schema_for_crd",
    "schema_from_openapi",
    "server_side_apply",
    "set_managed_fields",
    "strategic_merge_patch",
    "track_update",
]
