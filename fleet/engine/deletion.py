"""Deleting a whole app: PreDelete hooks, then everything it owns in reverse wave order
(the highest wave first, each wave gone before the next), then PostDelete hooks.

The same ownership rules as prune hold (tracking annotation naming this app and object;
never a hook); ``Delete=false`` keeps an object, ``Delete=confirm`` keeps it unless the
deletion is confirmed. Prune protection does not apply: deleting the app is explicit.
The planner runs these steps like a sync's (fleet.engine.plan), with the same waits and
deadlines; there is no dry-run of deletions and no prune guard. Project bounds hold: a
deletion hook outside the app's project refuses the deletion, and an owned object outside
it is kept.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fleet.engine.annotations import AnnotationError, Phase, read_settings
from fleet.engine.hooks import hook_source, instance_ref
from fleet.engine.options import SyncOptions
from fleet.engine.ordering import SyncTask, TaskType, group_steps, mirror_prune_waves, order_tasks
from fleet.engine.prepare import (
    Prepared,
    Reason,
    Step,
    SyncInput,
    keep_out_of_bounds,
    out_of_bounds,
)
from fleet.engine.progress import Failure, PlannedPrune
from fleet.engine.prune import PruneCandidate, ownership_problem
from fleet.model import annotations as names
from fleet.model.refs import ObjectRef

Obj = Mapping[str, Any]
DELETE_PHASES = (Phase.PRE_DELETE, Phase.POST_DELETE)


def deletion_candidate(app: str, ref: ObjectRef, obj: Obj, options: SyncOptions) -> PruneCandidate:
    """Whether deleting the app deletes this object (``prune``), and if not, why."""
    uid = str((obj.get("metadata") or {}).get("uid") or "")
    problem = ownership_problem(app, ref, obj)
    if problem is not None:
        return PruneCandidate(ref, False, problem, uid=uid)
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    if names.HOOK_SOURCE in annotations:
        return PruneCandidate(ref, False, "a hook: hooks are never deleted with the app", uid=uid)
    try:
        settings = read_settings(annotations, ref)
    except AnnotationError as error:
        return PruneCandidate(ref, False, f"kept: {error}", uid=uid, owned=True)
    keep = ""
    if settings.delete == "no":
        keep = "Delete=false: kept when the app is deleted"
    elif settings.delete == "confirm" and not options.confirm_prune:
        keep = "Delete=confirm: needs confirmation"
    return PruneCandidate(ref, not keep, keep, settings, uid, owned=True)


def _hook_tasks(inp: SyncInput) -> tuple[list[SyncTask], dict[tuple[ObjectRef, Phase], str]]:
    tasks: list[SyncTask] = []
    sources: dict[tuple[ObjectRef, Phase], str] = {}
    for manifest in inp.desired:
        settings = read_settings(manifest.annotations, manifest.ref, manifest.origin)
        for phase in settings.hook_phases:
            if phase not in DELETE_PHASES:
                continue
            ref = instance_ref(manifest, inp.revision, phase, inp.progress.started_at)
            sources[ref, phase] = hook_source(inp.app, manifest, phase)
            tasks.append(
                SyncTask(ref, phase, settings.wave, TaskType.HOOK, settings, manifest, ref.name)
            )
    return tasks, sources


def prepare_deletion(inp: SyncInput) -> Prepared | list[Failure]:
    """The steps that delete an app, or the reasons it cannot be done."""
    try:
        hooks, sources = _hook_tasks(inp)
    except AnnotationError as error:
        return [Failure(Reason.INVALID_ANNOTATION, str(error), error.ref)]
    refused = out_of_bounds(inp.options, [t.manifest for t in hooks if t.manifest is not None])
    if refused:
        return refused
    candidates = keep_out_of_bounds(
        [
            deletion_candidate(inp.app, ref, inp.live[ref], inp.options)
            for ref in sorted(inp.inventory)
            if ref in inp.live
        ],
        inp.options.bounds,
    )
    allowed = {c.ref: c.settings for c in candidates if c.prune and c.settings is not None}
    new_plan: tuple[PlannedPrune, ...] | None = None
    if inp.progress.prune_plan is None:
        deletions = mirror_prune_waves(
            [SyncTask(ref, Phase.SYNC, s.wave, TaskType.PRUNE, s) for ref, s in allowed.items()]
        )
        new_plan = tuple(PlannedPrune(t.ref, t.wave) for t in deletions)
    else:
        deletions = [
            SyncTask(planned.ref, Phase.SYNC, planned.wave, TaskType.PRUNE, settings)
            for planned in inp.progress.prune_plan
            if (settings := allowed.get(planned.ref)) is not None
        ]
    before = [t for t in hooks if t.phase is Phase.PRE_DELETE]
    after = [t for t in hooks if t.phase is Phase.POST_DELETE]
    steps: list[Step] = []
    for group in (
        order_tasks(before),
        sorted(deletions, key=SyncTask.sort_key),
        order_tasks(after),
    ):
        steps += [Step(phase, wave, tuple(tasks)) for (phase, wave), tasks in group_steps(group)]
    first_task: dict[str, SyncTask] = {}
    for task in hooks:
        first_task.setdefault(task.key, task)
    return Prepared(
        steps=tuple(steps),
        fail_steps=(),
        untracked=frozenset(),
        desired_refs=frozenset(),
        candidates=tuple(candidates),
        hook_sources=sources,
        new_prune_plan=new_plan,
        writes=tuple(first_task.values()),
    )
