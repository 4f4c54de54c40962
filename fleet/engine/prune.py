"""Which objects a sync may delete, and when it must refuse to delete anything.

An object is pruned only if all of these hold: it is in the app's previous inventory and
no longer rendered; it still exists; its tracking annotation names this app and this very
object (a copied label proves nothing, so the label is not consulted); it is not a hook;
no protection annotation keeps it. Nothing is pruned when the render failed or came out
empty (unless the app allows an empty render) - the engine refuses such a sync before
this module is asked - and the prune guard refuses a sync that would delete more than a
configured share of the app's objects without an explicit confirmation.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from fleet.engine.annotations import AnnotationError, ObjectSettings, read_settings
from fleet.engine.options import SyncOptions
from fleet.model import annotations as names
from fleet.model.refs import ObjectRef
from fleet.model.tracking import TRACKING_ANNOTATION, parse_tracking_id

Obj = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class PruneCandidate:
    """A stale object and what the sync does with it."""

    ref: ObjectRef
    prune: bool
    #: Why it is kept (empty when pruned).
    reason: str = ""
    settings: ObjectSettings | None = None
    uid: str = ""
    #: Its tracking annotation names this app and object: it stays in the inventory
    #: until it is gone.
    owned: bool = False


def _annotations(obj: Obj) -> Mapping[str, str]:
    return (obj.get("metadata") or {}).get("annotations") or {}


def ownership_problem(app: str, ref: ObjectRef, obj: Obj) -> str | None:
    """Why ``obj`` is not this app's to delete, or None when it is."""
    value = _annotations(obj).get(TRACKING_ANNOTATION)
    if value is None:
        return "no tracking annotation: not created by fleet"
    owner = parse_tracking_id(str(value))
    if owner is None:
        return f"unreadable tracking annotation {value!r}"
    if owner.app != app:
        return f"tracked by app {owner.app!r}"
    if owner.ref != ref:
        return f"tracking annotation names {owner.ref}, a copy of another object"
    return None


def candidate(app: str, ref: ObjectRef, obj: Obj, options: SyncOptions) -> PruneCandidate:
    """Decide for one stale object that exists."""
    uid = str((obj.get("metadata") or {}).get("uid") or "")
    problem = ownership_problem(app, ref, obj)
    if problem is not None:
        return PruneCandidate(ref, False, problem, uid=uid)
    annotations = _annotations(obj)
    if names.HOOK_SOURCE in annotations:
        return PruneCandidate(ref, False, "a hook: hooks are never pruned", uid=uid)
    try:
        settings = read_settings(annotations, ref)
    except AnnotationError as error:
        return PruneCandidate(ref, False, f"kept: {error}", uid=uid, owned=True)
    keep = ""
    if settings.is_hook:
        keep = "a hook: hooks are never pruned"
    elif settings.prune == "no":
        keep = "protected by a prune annotation"
    elif settings.prune == "confirm" and not options.confirm_prune:
        keep = "Prune=confirm: needs confirmation"
    elif not options.prune:
        keep = "pruning is off for this app"
    return PruneCandidate(ref, not keep, keep, settings, uid, owned=True)


def prune_candidates(
    app: str,
    inventory: Iterable[ObjectRef],
    desired: set[ObjectRef] | frozenset[ObjectRef],
    live: Mapping[ObjectRef, Obj],
    options: SyncOptions,
) -> list[PruneCandidate]:
    """Every stale object of the inventory that still exists, in a stable order."""
    return [
        candidate(app, ref, live[ref], options)
        for ref in sorted(set(inventory) - set(desired))
        if ref in live
    ]


def guard_refusal(to_prune: int, owned: int, options: SyncOptions) -> str | None:
    """The prune guard's refusal message, or None when the prunes may go ahead."""
    share = options.prune_guard_share
    if share is None or options.confirm_prune or to_prune == 0:
        return None
    limit = max(math.floor(share * owned), options.prune_guard_min_objects - 1)
    if to_prune <= limit:
        return None
    return (
        f"prune guard: this sync would delete {to_prune} of the app's {owned} objects"
        f" (more than {share:.0%}); nothing was changed. Check the render, then confirm"
        " the prune for this sync to go ahead"
    )


def rebuild_inventory(app: str, live: Iterable[Obj]) -> frozenset[ObjectRef]:
    """The app's inventory read back from the cluster (when the database is lost).

    Only objects whose tracking annotation names this app and themselves count; hooks do
    not belong to the inventory.
    """
    found: set[ObjectRef] = set()
    for obj in live:
        ref = ObjectRef.of(dict(obj))
        if ownership_problem(app, ref, obj) is None and names.HOOK_SOURCE not in _annotations(obj):
            found.add(ref)
    return frozenset(found)


def extraneous(
    app: str, desired: set[ObjectRef] | frozenset[ObjectRef], live: Mapping[ObjectRef, Obj]
) -> list[ObjectRef]:
    """Live objects this app tracks but no longer renders: what makes it OutOfSync
    ("requires pruning"). Hooks, and objects annotated ``IgnoreExtraneous`` (compare
    option), do not count."""
    out = []
    for ref, obj in live.items():
        if ref in desired or ownership_problem(app, ref, obj) is not None:
            continue
        annotations = _annotations(obj)
        if names.HOOK_SOURCE in annotations:
            continue
        try:
            settings = read_settings(annotations, ref)
        except AnnotationError:
            settings = None
        if settings is not None and (settings.ignore_extraneous or settings.is_hook):
            continue
        out.append(ref)
    return sorted(out)
