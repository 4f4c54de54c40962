"""Hooks that no sync will ever finish with: left behind by a killed sync or daemon.

Every hook fleet creates holds fleet's finalizer until the sync that created it has read
its result. When that sync never ends (kill -9, a takeover, an interrupted sync whose
revision then turned out to need nothing), nobody releases the finalizer, and the hook
(and its namespace, when someone deletes it) can never be deleted.

A leftover is a live object of the app that fleet created as a hook (it carries the
``fleet.dev/hook-source`` annotation and a tracking annotation naming the app and
itself), still holds fleet's finalizer, and was not created by the sync now running.
It is cleaned up as its delete policy says, as Argo CD does at the end of a sync:
deleted when it succeeded under HookSucceeded or failed under HookFailed, otherwise
released and kept (a BeforeHookCreation hook stays until the next instance replaces it;
a hook still running is left to finish). Leftovers are never part of the inventory
(fleet.engine.prune skips hooks), so they never make a sync wait or get pruned.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from fleet.engine.actions import DeleteHook, ReleaseHook
from fleet.engine.annotations import AnnotationError, DeletePolicy, read_settings
from fleet.engine.health import CustomHealth
from fleet.engine.hooks import HookOutcome, hook_state
from fleet.engine.planner_state import key
from fleet.engine.prune import ownership_problem
from fleet.model import annotations as names
from fleet.model.health_rules import HealthRuleSet
from fleet.model.refs import ObjectRef

Obj = Mapping[str, Any]

#: Action ids of leftover cleanups start with this (history and warnings quote them).
LEFTOVER_PREFIX = "cleanup-leftover "


@dataclass(frozen=True, slots=True)
class LeftoverHook:
    """A hook object no running sync created, and what to do with it."""

    ref: ObjectRef
    uid: str
    outcome: HookOutcome
    #: Its delete policy matches its outcome: delete it; otherwise release and keep it.
    delete: bool

    def action(self) -> DeleteHook | ReleaseHook:
        action_id = f"{LEFTOVER_PREFIX}{key(self.ref)}"
        if self.delete:
            reason = f"left over by an earlier sync, hook {self.outcome.lower()}"
            return DeleteHook(action_id, self.ref, self.uid, reason)
        return ReleaseHook(action_id, self.ref)


def _delete_policies(ref: ObjectRef, annotations: Mapping[str, str]) -> frozenset[DeletePolicy]:
    try:
        settings = read_settings(annotations, ref)
    except AnnotationError:
        return frozenset()  # unreadable now: release only, never delete on a guess
    if not settings.is_hook:
        return frozenset()
    return settings.delete_policies or frozenset({DeletePolicy.BEFORE_HOOK_CREATION})


def leftover_hooks(
    app: str,
    live: Iterable[tuple[ObjectRef, Obj]],
    created: Collection[ObjectRef] = (),
    rule_sets: tuple[HealthRuleSet, ...] = (),
    custom: CustomHealth | None = None,
) -> list[LeftoverHook]:
    """The app's live hooks still held by fleet's finalizer that the running sync did not
    create (``created``: the hooks it did, which its own cleanup handles), sorted."""
    found: list[LeftoverHook] = []
    for ref, obj in live:
        meta = obj.get("metadata") or {}
        annotations = meta.get("annotations") or {}
        if ref in created or names.HOOK_SOURCE not in annotations:
            continue
        if names.HOOK_FINALIZER not in (meta.get("finalizers") or ()):
            continue
        if ownership_problem(app, ref, obj) is not None:
            continue  # another app's, or a copy: not ours to touch
        outcome = hook_state(obj, rule_sets, custom).outcome
        policies = _delete_policies(ref, annotations)
        delete = (outcome is HookOutcome.SUCCEEDED and DeletePolicy.HOOK_SUCCEEDED in policies) or (
            outcome is HookOutcome.FAILED and DeletePolicy.HOOK_FAILED in policies
        )
        found.append(LeftoverHook(ref, str(meta.get("uid") or ""), outcome, delete))
    return sorted(found, key=lambda leftover: leftover.ref)
