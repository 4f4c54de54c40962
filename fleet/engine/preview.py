"""What one sync would do to one cluster, without doing it: the pure half of ``fleet plan``.

A plan must agree with the sync that follows it, object for object, so nothing here
guesses: the very functions a sync runs decide. The runtime renders the revision, reads
the live objects and the inventory, builds the ``SyncInput`` a sync would get, and asks
:func:`dry_runs` for the server-side dry-runs the sync planner (fleet.engine.plan) would
issue first, together with the refusals it would answer with instead (render failed,
empty render, unreadable annotation, duplicate object, prune guard, an object another
app tracks). It runs those dry-runs (and nothing else) and hands the answers to
:func:`preview`, which walks the sync's ordered steps and files every task:

- ``create``: an object that does not exist yet;
- ``change``: one the dry-run shows different from live (its diff says how);
- ``reapply``: one in sync that is applied anyway (ApplyOutOfSyncOnly off): a write that
  changes nothing;
- ``prune``: a tracked object that left Git and passes every prune check;
- ``hook``: a hook object created in its phase and wave; hooks run only when the sync
  runs, and an automated rollout of a revision that changes nothing records it in sync
  without running them;
- ``keep``: an object that left Git but stays (protected, pruning off, needs
  confirmation, not fleet's to delete).

Objects the dry-run shows in sync are counted, not listed. Diffs come from
fleet.engine.diff, so Secret values appear only as digests.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from fleet.engine.actions import ActionResult, DryRun
from fleet.engine.annotations import AnnotationError, DeletePolicy, Phase, read_settings
from fleet.engine.decisions import Batch, Failed
from fleet.engine.diff import compare
from fleet.engine.hooks import generate_name_of, stamp
from fleet.engine.ordering import SyncTask, TaskType
from fleet.engine.plan import decide
from fleet.engine.prepare import Prepared, Reason, SyncInput, keep_out_of_bounds, prepare
from fleet.engine.progress import Failure
from fleet.engine.prune import prune_candidates
from fleet.model.refs import ObjectRef

Obj = Mapping[str, Any]

#: Changed fields named in a ``change`` line, at most.
SHOWN_PATHS = 5
#: The detail of an object the sync dry-runs only once what it needs exists (its
#: namespace, or the CRD of its kind, comes with the sync): a plan cannot check it.
UNCHECKED = "not dry-run: its namespace or CRD comes with this sync"


class PlannedAction(StrEnum):
    CREATE = "create"
    CHANGE = "change"
    REAPPLY = "reapply"
    PRUNE = "prune"
    HOOK = "hook"
    KEEP = "keep"


#: Actions that modify the cluster's objects (the plan's exit code 1).
CHANGES = frozenset({PlannedAction.CREATE, PlannedAction.CHANGE, PlannedAction.PRUNE})
#: Actions that write, whether or not anything changes: a sync would run.
WRITES = CHANGES | {PlannedAction.REAPPLY}

#: The action a sync's history records for each planned action (fleet.runtime.executor).
HISTORY_ACTIONS: Mapping[PlannedAction, str] = {
    PlannedAction.CREATE: "created",
    PlannedAction.CHANGE: "configured",
    PlannedAction.REAPPLY: "configured",
    PlannedAction.PRUNE: "pruned",
    PlannedAction.HOOK: "hook",
}


@dataclass(frozen=True, slots=True)
class PlannedObject:
    """One object a sync would touch (or keep), in the phase and wave it would."""

    ref: ObjectRef
    action: PlannedAction
    phase: str = str(Phase.SYNC)
    wave: int = 0
    detail: str = ""
    #: Unified diff (live to desired), Secret values as digests; empty unless asked for.
    diff: str = ""

    def as_json(self) -> dict[str, Any]:
        ref = self.ref
        return {
            "action": str(self.action),
            "object": str(ref),
            "group": ref.group,
            "kind": ref.kind,
            "namespace": ref.namespace,
            "name": ref.name,
            "phase": self.phase,
            "wave": self.wave,
            "detail": self.detail,
            "diff": self.diff,
        }


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why the sync would refuse to write anything (one of the engine's reasons)."""

    reason: str
    message: str
    ref: ObjectRef | None = None

    @classmethod
    def of(cls, failure: Failure) -> Refusal:
        return cls(failure.reason, failure.message, failure.ref)

    def __str__(self) -> str:
        subject = f"{self.ref}: " if self.ref is not None else ""
        return f"{self.reason}: {subject}{self.message}"

    def as_json(self) -> dict[str, Any]:
        return {
            "reason": self.reason,
            "message": self.message,
            "object": str(self.ref) if self.ref is not None else None,
        }


@dataclass(frozen=True, slots=True)
class DryRunAnswer:
    """The server's answer to one dry-run: the engine's result and, for an apply or a
    replace, the object the server returned (what the diff is made from)."""

    ref: ObjectRef
    result: ActionResult
    returned: Obj | None = None


@dataclass(frozen=True, slots=True)
class ClusterPreview:
    objects: tuple[PlannedObject, ...] = ()
    refusals: tuple[Refusal, ...] = ()
    #: Desired objects the dry-run shows already in sync (not written).
    unchanged: int = 0
    #: Something differs from Git: a sync would run (hooks included).
    syncs: bool = False

    @property
    def changes(self) -> bool:
        return any(o.action in CHANGES for o in self.objects)

    def counts(self) -> dict[str, int]:
        counts = {str(action): 0 for action in PlannedAction}
        for planned in self.objects:
            counts[str(planned.action)] += 1
        counts["unchanged"] = self.unchanged
        return counts

    def as_json(self) -> dict[str, Any]:
        return {
            "objects": [o.as_json() for o in self.objects],
            "refusals": [r.as_json() for r in self.refusals],
            "unchanged": self.unchanged,
            "syncs": self.syncs,
            "counts": self.counts(),
        }


def dry_runs(inp: SyncInput) -> tuple[list[DryRun], list[Refusal]]:
    """The dry-runs a sync of ``inp`` starts with, or the refusals it answers instead.

    ``inp.progress`` must be a fresh ``Progress.start``: this is the sync's first call.
    """
    decision = decide(inp)
    if isinstance(decision, Failed):
        return [], [Refusal.of(f) for f in decision.failures]
    if isinstance(decision, Batch):
        return [a for a in decision.actions if isinstance(a, DryRun)], []
    return [], []


def preview(
    inp: SyncInput,
    answers: Mapping[str, DryRunAnswer],
    *,
    hooks_without_changes: bool = False,
    with_diff: bool = False,
) -> ClusterPreview:
    """What the sync of ``inp`` would do, given the answers to :func:`dry_runs`.

    ``answers`` maps each dry-run's action id to its answer. ``hooks_without_changes``:
    the hooks run even when nothing differs (a manual sync); an automated rollout of a
    revision that changes nothing records it in sync and runs no hook.
    """
    _, refused = dry_runs(inp)
    if refused:
        # The sync would run, and be recorded as refused.
        prunes = _refused_prunes(inp, refused, with_diff)
        return ClusterPreview(prunes, tuple(refused), syncs=True)
    prepared = prepare(inp)
    assert not isinstance(prepared, list)  # dry_runs found no refusal
    refusals = [
        Refusal(Reason.DRY_RUN_FAILED, str(answer.result.error or "failed"), answer.ref)
        for _, answer in sorted(answers.items())
        if not answer.result.ok
    ]
    classifier = _Classifier(inp, prepared, answers, with_diff)
    planned = [
        found
        for step in (*prepared.steps, *prepared.fail_steps)
        for task in step.tasks
        if (found := classifier.classify(task)) is not None
    ]
    # What makes the worker see the app OutOfSync, and so sync: a write, or a stale
    # object it shows (one kept by its prune annotation does not count).
    stale_shown = any(
        c.owned and not (c.settings is not None and c.settings.prune == "no")
        for c in prepared.candidates
    )
    syncs = any(o.action in WRITES for o in planned) or stale_shown or bool(refusals)
    if not (syncs or hooks_without_changes):
        planned = [o for o in planned if o.action is not PlannedAction.HOOK]
    kept = [classifier.kept(c.ref, c.reason) for c in prepared.candidates if not c.prune]
    return ClusterPreview(tuple(planned + kept), tuple(refusals), classifier.unchanged, syncs)


def _refused_prunes(
    inp: SyncInput, refused: Sequence[Refusal], with_diff: bool
) -> tuple[PlannedObject, ...]:
    """When the prune guard refuses, the objects it refused to delete (so they can be
    checked before confirming); nothing for any other refusal."""
    if not any(r.reason == Reason.PRUNE_REFUSED for r in refused):
        return ()
    candidates = keep_out_of_bounds(
        prune_candidates(inp.app, inp.inventory, _desired_refs(inp), inp.live, inp.options),
        inp.options.bounds,
    )
    prunes = [c for c in candidates if c.prune]
    detail = "refused by the prune guard: confirm the prune to go ahead"
    return tuple(
        PlannedObject(
            c.ref,
            PlannedAction.PRUNE,
            detail=detail,
            diff=_diff(inp, c.ref, None, inp.live.get(c.ref)) if with_diff else "",
        )
        for c in prunes
    )


def _desired_refs(inp: SyncInput) -> frozenset[ObjectRef]:
    """The desired objects a sync tracks (hooks and skipped objects are not)."""
    refs = set()
    for manifest in inp.desired:
        try:
            settings = read_settings(manifest.annotations, manifest.ref, manifest.origin)
        except AnnotationError:
            continue
        if manifest.ref.name and not settings.is_hook and not settings.ignored:
            refs.add(manifest.ref)
    return frozenset(refs)


def _diff(inp: SyncInput, ref: ObjectRef, desired: Obj | None, live: Obj | None) -> str:
    options = inp.options
    return compare(ref, desired, live, options.ignore_differences, options.secret_digest_key).text


@dataclass
class _Classifier:
    inp: SyncInput
    prepared: Prepared
    answers: Mapping[str, DryRunAnswer]
    with_diff: bool
    unchanged: int = 0

    def classify(self, task: SyncTask) -> PlannedObject | None:
        phase = str(task.phase)
        if task.type is TaskType.PRUNE:
            planned = PlannedObject(
                task.ref,
                PlannedAction.PRUNE,
                phase,
                task.wave,
                diff=self._diff(task.ref, None, self.inp.live.get(task.ref)),
            )
        elif task.type is TaskType.HOOK:
            planned = self._hook(task)
        else:
            found = self._apply(task)
            if found is None:
                return None
            planned = found
        return planned

    def kept(self, ref: ObjectRef, reason: str) -> PlannedObject:
        return PlannedObject(
            ref, PlannedAction.KEEP, detail=f"left Git: {reason.removeprefix('kept: ')}"
        )

    def _diff(self, ref: ObjectRef, desired: Obj | None, live: Obj | None) -> str:
        return _diff(self.inp, ref, desired, live) if self.with_diff else ""

    def _hook(self, task: SyncTask) -> PlannedObject:
        assert task.manifest is not None
        manifest = task.manifest
        ref, notes = task.ref, []
        if not manifest.ref.name:
            ref = ObjectRef(ref.group, ref.kind, ref.namespace, generate_name_of(manifest))
            notes.append("generateName: a new name each sync")
        policies = task.settings.delete_policies
        if DeletePolicy.BEFORE_HOOK_CREATION in policies and task.ref in self.inp.live:
            notes.append("deletes its previous run first")
        if policies:
            notes.append("delete policy " + ", ".join(sorted(str(p) for p in policies)))
        if task.phase is Phase.SYNC_FAIL:
            notes.insert(0, "runs only if the sync fails")
        return PlannedObject(ref, PlannedAction.HOOK, str(task.phase), task.wave, "; ".join(notes))

    def _apply(self, task: SyncTask) -> PlannedObject | None:
        ref, phase, wave = task.ref, str(task.phase), task.wave
        live = self.inp.live.get(ref)
        answer = self.answers.get(f"dry-run {task.key}")
        returned = answer.returned if answer is not None else None
        if ref in self.prepared.untracked:
            detail = "CreateNamespace: created for the app, not tracked, never pruned"
            return PlannedObject(ref, PlannedAction.CREATE, phase, wave, detail)
        if live is None:
            body = returned if returned is not None else self._body(task)
            diff = self._diff(ref, body, None)
            detail = "" if answer is not None else UNCHECKED
            return PlannedObject(ref, PlannedAction.CREATE, phase, wave, detail, diff)
        if answer is None:
            return PlannedObject(ref, PlannedAction.CHANGE, phase, wave, UNCHECKED)
        result = answer.result
        if not result.ok:
            detail = f"dry-run failed: {result.error}"
            return PlannedObject(ref, PlannedAction.CHANGE, phase, wave, detail)
        if result.in_sync:
            only_out_of_sync = task.settings.apply_out_of_sync_only
            if only_out_of_sync is None:
                only_out_of_sync = self.inp.options.apply_out_of_sync_only
            if only_out_of_sync:
                self.unchanged += 1
                return None
            detail = "in sync, applied anyway (ApplyOutOfSyncOnly=false)"
            return PlannedObject(ref, PlannedAction.REAPPLY, phase, wave, detail)
        paths = list(result.changed[:SHOWN_PATHS])
        more = len(result.changed) - len(paths)
        detail = ", ".join(paths) + (f" and {more} more" if more > 0 else "")
        diff = self._diff(ref, returned, live) if returned is not None else ""
        return PlannedObject(ref, PlannedAction.CHANGE, phase, wave, detail, diff)

    def _body(self, task: SyncTask) -> Obj | None:
        if task.manifest is None:
            return None
        return stamp(task.manifest.body, self.inp.app, task.ref)
