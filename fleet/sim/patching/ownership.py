"""How a write moves field ownership between managers.

The rules, as a kube-apiserver applies them (structured-merge-diff's ``Updater``):

- Whatever a write *changes* (adds or modifies) is taken from every other manager. An
  Update takes it silently; an Apply takes it only with ``force``, and otherwise fails
  with a conflict listing each (manager, field).
- Whatever a write *removes* is no longer owned by anyone else either.
- A manager left owning nothing disappears from ``managedFields``.
- An Update's manager owns what it changed, in addition to what it owned before.
- An Apply's manager owns exactly what its configuration sets. A field it applied last
  time and no longer applies is removed from the object, unless another manager (apply
  or update) still owns it, or it is not the applier's to remove.
"""

from __future__ import annotations

from typing import Any

from fleet.sim.patching.errors import ApplyConflict, Conflict
from fleet.sim.patching.fieldsets import FieldSet, render_path
from fleet.sim.patching.managers import (
    STRIPPED_FIELDS,
    UPDATE,
    Managed,
    VersionedSet,
    describe_manager,
    manager_key,
)
from fleet.sim.patching.typed import ensure_named_fields, remove_items, to_field_set
from fleet.sim.patching.typedmerge import Comparison, compare
from fleet.sim.patching.types import Type


class ConflictsFound(Exception):
    """Internal: an Apply would take fields from other managers (by manager key)."""

    def __init__(self, conflicts: dict[str, FieldSet]):
        super().__init__("conflicts")
        self.conflicts = conflicts

    def error(self, allowed: FieldSet | None = None) -> ApplyConflict | None:
        """The API error for these conflicts, leaving out paths in ``allowed``; ``None``
        when nothing is left."""
        listed = [
            Conflict(describe_manager(key), render_path(path), key)
            for key in sorted(self.conflicts)
            for path in self.conflicts[key].paths()
            if allowed is None or not allowed.has(path)
        ]
        return ApplyConflict(listed) if listed else None


CURRENT_OPERATION = manager_key("\x00current-operation", UPDATE, "")
"""A manager identity no client can use, standing for the write being recorded."""


def take_ownership(
    old: Any,
    new: Any,
    managed: Managed,
    workflow: str,
    *,
    force: bool,
    ignored: FieldSet,
    node: Type,
) -> Comparison:
    """Take what changed from ``old`` to ``new`` away from every manager but
    ``workflow`` (in place), raising :class:`ConflictsFound` unless ``force``.

    Returns the comparison (ignored fields left out: they are not even walked)."""
    seen = compare(old, new, node, ignored)
    changed = seen.changed()
    conflicts: dict[str, FieldSet] = {}
    for key, versioned in managed.sets.items():
        if key == workflow:
            continue
        clash = versioned.fields.intersection(changed)
        if not clash.empty():
            conflicts[key] = clash
    if conflicts and not force:
        raise ConflictsFound(conflicts)
    for key, versioned in list(managed.sets.items()):
        if key == workflow:
            continue
        remaining = versioned.fields
        if key in conflicts:
            remaining = remaining.difference(conflicts[key])
        if not seen.removed.empty():
            remaining = remaining.difference(seen.removed)
        managed.sets[key] = VersionedSet(remaining, versioned.api_version, versioned.applied)
    managed.drop_empty()
    return seen


def record_update(
    old: Any,
    new: Any,
    managed: Managed,
    key: str,
    *,
    api_version: str,
    ignored: FieldSet,
    node: Type,
    now: str,
) -> None:
    """Record a non-apply write by manager ``key`` (in place).

    What the write changed is taken from every manager, ``key`` included, then given to
    ``key``: its set becomes ``(P - C - R) | W`` (``P`` its set before, ``C`` and ``R``
    what the write changed and removed, ``W = C - R - STRIPPED`` what it wrote). That is
    computed here as ``(P - R - (C & STRIPPED)) | W``, the same paths, because in this
    form a write that owns nothing new keeps ``P`` itself (see :class:`FieldSet`'s
    algebra), so its ``fieldsV1`` is not encoded again: a status write rewrites the same
    fields each time.
    """
    before = managed.sets.get(key)
    seen = take_ownership(
        old, new, managed, CURRENT_OPERATION, force=True, ignored=ignored, node=node
    )
    changed = seen.changed()
    written = changed.difference(seen.removed).difference(STRIPPED_FIELDS)
    if written.empty():
        return
    if before is not None:
        kept = before.fields.difference(seen.removed)
        kept = kept.difference(changed.intersection(STRIPPED_FIELDS))
        written = kept.union(written)
    managed.sets[key] = VersionedSet(written, api_version, applied=False)
    managed.times[key] = now


def prune(merged: Any, managed: Managed, key: str, last: VersionedSet | None, node: Type) -> Any:
    """Remove from ``merged`` what manager ``key`` applied last time (``last``) and does
    not apply now, unless another manager still owns it."""
    if last is None or last.fields.empty():
        return merged
    mine = managed.sets.get(key)
    if mine is not None and last.fields.difference(mine.fields).empty():
        # Everything applied last time is applied again: nothing can be pruned (the
        # algebra below would then remove nothing), so skip its cost.
        return merged
    last_fields = ensure_named_fields(last.fields, node)
    pruned = remove_items(merged, last_fields, node) or {}
    owned = FieldSet()
    for versioned in managed.sets.values():
        owned = owned.union(versioned.fields)
    merged_set = ensure_named_fields(to_field_set(merged, node), node)
    pruned_set = ensure_named_fields(to_field_set(pruned, node), node)
    owned = ensure_named_fields(owned, node)
    pruned = remove_items(merged, merged_set.difference(pruned_set.union(owned)), node) or {}
    pruned_set = ensure_named_fields(to_field_set(pruned, node), node)
    dangling = merged_set.difference(pruned_set).intersection(last_fields)
    return remove_items(merged, dangling, node) or {}
