"""Turn one sync's input into checked, ordered tasks, or the reasons to refuse it.

Refusals happen before anything touches the cluster: a failed render, an empty render the
app does not allow, an unreadable annotation, two manifests for one object, an object
outside the app's project (fleet.engine.bounds), or a prune the guard does not allow. All
problems are reported at once.
"""

from __future__ import annotations

import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from fleet.engine.annotations import AnnotationError, ObjectSettings, Phase, read_settings
from fleet.engine.bounds import ProjectBounds
from fleet.engine.hooks import hook_source, instance_ref
from fleet.engine.options import SyncOptions
from fleet.engine.ordering import (
    CRD_GROUP,
    SyncTask,
    TaskType,
    group_steps,
    manifest_tasks,
    mirror_prune_waves,
    order_tasks,
)
from fleet.engine.progress import Failure, PlannedPrune, Progress
from fleet.engine.prune import PruneCandidate, guard_refusal, prune_candidates
from fleet.model.manifests import Manifest, Origin
from fleet.model.refs import ObjectRef

Obj = Mapping[str, Any]


class Reason(StrEnum):
    """The reason of a Failure: one word a dashboard can count."""

    RENDER_FAILED = "RenderFailed"
    EMPTY_RENDER = "EmptyRender"
    INVALID_ANNOTATION = "InvalidAnnotation"
    DUPLICATE_OBJECT = "DuplicateObject"
    SHARED_RESOURCE = "SharedResource"
    ADOPTION_REFUSED = "AdoptionRefused"
    OUT_OF_PROJECT = "OutOfProject"
    PRUNE_REFUSED = "PruneRefused"
    DRY_RUN_FAILED = "DryRunFailed"
    APPLY_FAILED = "ApplyFailed"
    PRUNE_FAILED = "PruneFailed"
    HOOK_CREATE_FAILED = "HookCreateFailed"
    HOOK_DELETE_FAILED = "HookDeleteFailed"
    HOOK_FAILED = "HookFailed"
    DEGRADED = "Degraded"
    TIMEOUT = "Timeout"


@dataclass(frozen=True, slots=True)
class SyncInput:
    """Everything one call of the engine may look at.

    ``live`` holds the current state of every object the app has or desires on the
    cluster (the runtime's watch cache, selected by fleet's tracking label plus the desired
    objects), keyed by reference; absent means it does not exist. ``now`` is the current
    time in epoch seconds: the engine never reads a clock.
    """

    app: str
    revision: str
    desired: Sequence[Manifest]
    live: Mapping[ObjectRef, Obj]
    inventory: frozenset[ObjectRef]
    options: SyncOptions
    progress: Progress
    now: float
    #: Set when the render failed or the revision could not be read: nothing is done.
    render_error: str | None = None
    #: The app is being deleted: PreDelete hooks, every owned object deleted in reverse
    #: wave order, PostDelete hooks (fleet.engine.deletion). ``desired`` is the last
    #: render, read for its deletion hooks only.
    deleting: bool = False
    #: Where this sync's ordered plan is kept between calls (see PlanMemo); speed only.
    memo: PlanMemo | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Step:
    phase: Phase
    wave: int
    tasks: tuple[SyncTask, ...]

    @property
    def key(self) -> str:
        return f"{self.phase}/{self.wave}"


@dataclass(frozen=True, slots=True)
class Prepared:
    steps: tuple[Step, ...]
    #: SyncFail hooks, run only after a failure.
    fail_steps: tuple[Step, ...]
    #: Objects fleet creates but does not track (CreateNamespace).
    untracked: frozenset[ObjectRef]
    #: Tracked desired objects (not hooks): the next inventory's core.
    desired_refs: frozenset[ObjectRef]
    candidates: tuple[PruneCandidate, ...]
    #: (hook instance, phase) -> hook source, to find earlier instances.
    hook_sources: Mapping[tuple[ObjectRef, Phase], str] = field(default_factory=dict)
    #: ``group/Kind`` of the custom resources whose CRD comes with this sync -> the CRD.
    crd_kinds: Mapping[str, ObjectRef] = field(default_factory=dict)
    #: Bodies with fleet's tracking stamped on, by task key, made once per sync on demand.
    stamped: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    #: The prunes of this sync and their waves, when this call fixed them (first call).
    new_prune_plan: tuple[PlannedPrune, ...] | None = None
    #: Every object the sync writes (applies and hooks), once each, in sync order.
    writes: tuple[SyncTask, ...] = ()
    #: CreateNamespace: the namespace this sync creates (before its objects' dry-run).
    namespace_task: SyncTask | None = None


def _settings(desired: Sequence[Manifest]) -> tuple[list[ObjectSettings], list[Failure]]:
    settings: list[ObjectSettings] = []
    failures: list[Failure] = []
    for manifest in desired:
        try:
            settings.append(read_settings(manifest.annotations, manifest.ref, manifest.origin))
        except AnnotationError as error:
            failures.append(Failure(Reason.INVALID_ANNOTATION, str(error), manifest.ref))
            settings.append(ObjectSettings())
    return settings, failures


def _duplicates(desired: Sequence[Manifest]) -> list[Failure]:
    seen: dict[ObjectRef, Origin] = {}
    failures = []
    for manifest in desired:
        if not manifest.ref.name:
            continue  # generateName hooks get their names per sync
        first = seen.setdefault(manifest.ref, manifest.origin)
        if first is not manifest.origin:
            failures.append(
                Failure(
                    Reason.DUPLICATE_OBJECT,
                    f"rendered twice: {first} and {manifest.origin}",
                    manifest.ref,
                )
            )
    return failures


def out_of_bounds(
    options: SyncOptions, manifests: Sequence[Manifest], namespace_task: SyncTask | None = None
) -> list[Failure]:
    """One failure per object outside the app's project (hooks included), naming the rule."""
    bounds = options.bounds
    if bounds is None:
        return []
    failures = []
    refs = [(m.ref, str(m.origin)) for m in manifests]
    if namespace_task is not None:
        refs.append((namespace_task.ref, "syncPolicy.createNamespace"))
    for ref, origin in refs:
        rule = bounds.refusal(ref)
        if rule is not None:
            failures.append(Failure(Reason.OUT_OF_PROJECT, f"{origin}: {rule}", ref))
    return failures


def keep_out_of_bounds(
    candidates: list[PruneCandidate], bounds: ProjectBounds | None
) -> list[PruneCandidate]:
    """Stale objects outside the project are kept, not deleted: a prune is a write too
    (an object left from before the app joined a project, or before it was narrowed)."""
    if bounds is None:
        return candidates
    out = []
    for candidate in candidates:
        rule = bounds.refusal(candidate.ref) if candidate.prune else None
        if rule is None:
            out.append(candidate)
        else:
            out.append(replace(candidate, prune=False, reason=f"kept: {rule}"))
    return out


def _namespace_task(inp: SyncInput, desired: Sequence[Manifest]) -> SyncTask | None:
    """CreateNamespace: the app's namespace, when it is not rendered and either does not
    exist or was created by this very sync (so the plan stays the same once it exists,
    and a resumed sync still waits for it and can remove it again; fleet.engine.namespaces)."""
    manifest = created_namespace(inp.options)
    if manifest is None:
        return None
    ref = manifest.ref
    if any(other.ref == ref for other in desired):
        return None
    task = SyncTask(ref, Phase.SYNC, 0, TaskType.APPLY, ObjectSettings(), manifest, ref.name)
    if ref in inp.live and not namespace_created(inp.progress, task):
        return None
    if namespace_made_by_another(inp.progress, task):
        return None  # as if it had existed when the sync looked: nothing of ours to do
    return task


def created_namespace(options: SyncOptions) -> Manifest | None:
    """The namespace ``syncPolicy.createNamespace`` makes, when the app asks for one.

    It is untracked, so no watch keeps it current: whoever builds a sync's input (the
    executor, ``fleet plan``) reads it with a GET, since whether it exists decides
    whether the sync creates it.
    """
    namespace = options.namespace
    if not options.create_namespace or not namespace:
        return None
    ref = ObjectRef("", "Namespace", "", namespace)
    body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
    return Manifest(ref, body, Origin("<CreateNamespace>", 1, "fleet"))


def namespace_created(progress: Progress, task: SyncTask) -> bool:
    """Whether this sync created the namespace of a CreateNamespace ``task``."""
    record = progress.records.get(f"apply {task.key}")
    return record is not None and record.ok


def namespace_made_by_another(progress: Progress, task: SyncTask) -> bool:
    """Whether this sync's create of its namespace found one made since it looked (two
    apps sharing a namespace, syncing at once): it exists, and it is not this sync's."""
    record = progress.records.get(f"apply {task.key}")
    return (
        record is not None and record.error is not None and record.error.reason == "AlreadyExists"
    )


def _crd_kinds(desired: Sequence[Manifest]) -> dict[str, ObjectRef]:
    kinds = {}
    for manifest in desired:
        if manifest.ref.kind == "CustomResourceDefinition" and manifest.ref.group == CRD_GROUP:
            spec = manifest.body.get("spec") or {}
            kind = f"{spec.get('group', '')}/{(spec.get('names') or {}).get('kind', '')}"
            kinds[kind] = manifest.ref
    return kinds


@dataclass(frozen=True, slots=True)
class _DesiredPlan:
    """The part of a plan that depends only on the desired objects (and the sync's
    identity): the costly part for a large app, memoised across calls."""

    manifests: tuple[Manifest, ...]
    identity: tuple[str, str, float, ObjectRef | None]
    failures: tuple[Failure, ...]
    #: Ordered steps of apply and hook tasks (namespaces and CRDs hoisted).
    steps: tuple[tuple[Phase, int, tuple[SyncTask, ...]], ...] = ()
    last_sync_wave: int | None = None
    desired_refs: frozenset[ObjectRef] = frozenset()
    crd_kinds: Mapping[str, ObjectRef] = field(default_factory=dict)
    hook_sources: Mapping[tuple[ObjectRef, Phase], str] = field(default_factory=dict)
    stamped: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    writes: tuple[SyncTask, ...] = ()


class PlanMemo:
    """The last few desired plans (parsed, checked and ordered manifests).

    Manifests are immutable, so a plan found for the very same manifest objects
    (compared by identity) is the plan that would be computed again: the memo changes how
    fast the engine answers, never what it answers. A caller running many syncs at once
    gives each its own memo (``SyncInput.memo``); one shared memo would be thrashed.
    """

    def __init__(self, size: int = 2) -> None:
        self._size = size
        self._plans: list[_DesiredPlan] = []

    def find(self, identity: tuple[Any, ...], desired: Sequence[Manifest]) -> _DesiredPlan | None:
        for plan in self._plans:
            if (
                plan.identity == identity
                and len(plan.manifests) == len(desired)
                and all(map(operator.is_, plan.manifests, desired))
            ):
                return plan
        return None

    def keep(self, plan: _DesiredPlan) -> None:
        self._plans.insert(0, plan)
        del self._plans[self._size :]


#: For callers that pass no memo of their own (tests, one-off plans).
_SHARED_MEMO = PlanMemo(size=4)


def _desired_plan(inp: SyncInput, namespace_task: SyncTask | None) -> _DesiredPlan:
    identity = (
        inp.app,
        inp.revision,
        inp.progress.started_at,
        namespace_task.ref if namespace_task else None,
    )
    memo = inp.memo if inp.memo is not None else _SHARED_MEMO
    plan = memo.find(identity, inp.desired)
    if plan is None:
        plan = _plan_desired(inp, namespace_task, identity)
        memo.keep(plan)
    return plan


def _plan_desired(
    inp: SyncInput,
    namespace_task: SyncTask | None,
    identity: tuple[str, str, float, ObjectRef | None],
) -> _DesiredPlan:
    manifests = tuple(inp.desired)
    all_settings, failures = _settings(manifests)
    failures += _duplicates(manifests)
    failures += out_of_bounds(inp.options, manifests, namespace_task)
    if failures:
        return _DesiredPlan(manifests, identity, tuple(failures))
    tasks: list[SyncTask] = []
    hook_sources: dict[tuple[ObjectRef, Phase], str] = {}
    desired_refs: set[ObjectRef] = set()
    for manifest, settings in zip(manifests, all_settings, strict=True):
        for task in manifest_tasks(manifest, settings):
            if task.type is TaskType.HOOK:
                ref = instance_ref(manifest, inp.revision, task.phase, inp.progress.started_at)
                hook_sources[ref, task.phase] = hook_source(inp.app, manifest, task.phase)
                # Sorted by its generateName, not the generated name: the same key
                # `fleet render` and `fleet plan` use (apply_order), and one that does not
                # change with the revision or the sync's start time.
                task = replace(task, ref=ref)
            else:
                desired_refs.add(task.ref)
            tasks.append(task)
    if namespace_task is not None:
        tasks.append(namespace_task)
    ordered = order_tasks(tasks)
    # PruneLast's wave counts the waves as written, before Namespaces and CRDs move ahead
    # of their first object (as Argo CD does), so both report the same wave.
    sync_waves = [t.wave for t in tasks if t.phase is Phase.SYNC]
    first_task: dict[str, SyncTask] = {}
    for task in ordered:
        first_task.setdefault(task.key, task)  # a hook in several phases is one object
    return _DesiredPlan(
        manifests,
        identity,
        (),
        steps=tuple((phase, wave, tuple(group)) for (phase, wave), group in group_steps(ordered)),
        last_sync_wave=max(sync_waves) if sync_waves else None,
        desired_refs=frozenset(desired_refs),
        crd_kinds=_crd_kinds(manifests),
        hook_sources=hook_sources,
        writes=tuple(first_task.values()),
    )


def _merge_prunes(plan: _DesiredPlan, prunes: list[SyncTask]) -> list[Step]:
    """The desired plan's steps with the prune tasks added to theirs."""
    by_step: dict[tuple[Phase, int], list[SyncTask]] = {}
    for task in prunes:
        by_step.setdefault(task.step, []).append(task)
    steps = [
        Step(phase, wave, tuple(by_step.pop((phase, wave), [])) + tasks)
        for phase, wave, tasks in plan.steps
    ]
    steps += [Step(phase, wave, tuple(tasks)) for (phase, wave), tasks in by_step.items()]
    steps.sort(key=lambda step: (step.phase.rank, step.wave))
    return steps


def _prune_tasks(
    inp: SyncInput, plan: _DesiredPlan, candidates: list[PruneCandidate]
) -> tuple[list[SyncTask], tuple[PlannedPrune, ...] | None] | Failure:
    """This sync's prune tasks, and the prune plan when this call fixes it.

    The first call fixes which objects are pruned and in which (mirrored) wave, after the
    prune guard agreed: waves must not shift as pruned objects disappear. Later calls
    prune a planned object only if it still passes every check.
    """
    allowed = {c.ref: c.settings for c in candidates if c.prune and c.settings is not None}
    if inp.progress.prune_plan is not None:
        return [
            SyncTask(planned.ref, Phase.SYNC, planned.wave, TaskType.PRUNE, settings)
            for planned in inp.progress.prune_plan
            if (settings := allowed.get(planned.ref)) is not None
        ], None
    refusal = guard_refusal(len(allowed), len(inp.inventory), inp.options)
    if refusal is not None:
        return Failure(Reason.PRUNE_REFUSED, refusal)
    tasks = mirror_prune_waves(
        [SyncTask(ref, Phase.SYNC, s.wave, TaskType.PRUNE, s) for ref, s in allowed.items()],
        inp.options.prune_last,
        plan.last_sync_wave,
    )
    return tasks, tuple(PlannedPrune(t.ref, t.wave) for t in tasks)


def prepare(inp: SyncInput) -> Prepared | list[Failure]:
    """Checked, ordered tasks for a sync, or every reason to refuse it."""
    if inp.render_error is not None:
        return [Failure(Reason.RENDER_FAILED, f"nothing applied or pruned: {inp.render_error}")]
    if not inp.desired and not inp.options.allow_empty:
        return [
            Failure(
                Reason.EMPTY_RENDER,
                "the render came out empty; nothing applied or pruned"
                " (allow empty renders for this app to remove everything it owns)",
            )
        ]
    namespace_task = _namespace_task(inp, inp.desired)
    plan = _desired_plan(inp, namespace_task)
    if plan.failures:
        return list(plan.failures)

    candidates = keep_out_of_bounds(
        prune_candidates(inp.app, inp.inventory, plan.desired_refs, inp.live, inp.options),
        inp.options.bounds,
    )
    fixed = _prune_tasks(inp, plan, candidates)
    if isinstance(fixed, Failure):
        return [fixed]
    prunes, new_prune_plan = fixed
    steps = _merge_prunes(plan, prunes)
    untracked = frozenset([namespace_task.ref] if namespace_task else [])
    return Prepared(
        steps=tuple(s for s in steps if s.phase is not Phase.SYNC_FAIL),
        fail_steps=tuple(s for s in steps if s.phase is Phase.SYNC_FAIL),
        untracked=untracked,
        desired_refs=plan.desired_refs,
        candidates=tuple(candidates),
        hook_sources=plan.hook_sources,
        crd_kinds=plan.crd_kinds,
        stamped=plan.stamped,
        new_prune_plan=new_prune_plan,
        writes=plan.writes,
        namespace_task=namespace_task,
    )


def dry_run_tasks(inp: SyncInput, prepared: Prepared) -> list[SyncTask]:
    """One task per object to dry-run, in sync order.

    Skipped: custom resources whose CRD comes with this sync, and objects in a namespace
    that does not exist yet (an API server answers 404 before it looks at them). The
    namespace CreateNamespace makes is dry-run itself, and created before the rest is
    written, so that its objects are dry-run too (fleet.engine.namespaces); only those of
    a rendered Namespace are left to its step.
    """
    ns_task = prepared.namespace_task
    new_namespaces = {
        task.ref.name
        for task in prepared.writes
        if task.ref.kind == "Namespace"
        and not task.ref.group
        and task.ref not in inp.live
        and not (
            ns_task is not None
            and task.ref == ns_task.ref
            and namespace_created(inp.progress, task)
        )
    }
    crd_kinds = prepared.crd_kinds
    crd_kind_names = {kind.rpartition("/")[2] for kind in crd_kinds}
    return [
        task
        for task in prepared.writes
        if task.ref.namespace not in new_namespaces
        and not (
            task.ref.kind in crd_kind_names and f"{task.ref.group}/{task.ref.kind}" in crd_kinds
        )
    ]
