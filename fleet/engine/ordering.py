"""The order in which a sync touches objects.

One task per (object, phase). Tasks sort by phase, wave, kind rank and name (the same key
as Argo CD, so repositories written for it sync in the same order); fleet adds kind, group
and namespace as final tie-breakers so that the order is total and never depends on the
order the renderer happened to emit. After sorting, a Namespace moves ahead of the first
object in it and a CustomResourceDefinition ahead of the first object of its kind, taking
that object's phase and wave. Prunes run in mirrored wave order (the highest wave's objects
go first), and PruneLast moves a prune after the last Sync wave.

Everything here is O(n log n): one sort, then linear passes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from itertools import groupby

from fleet.engine.annotations import ObjectSettings, Phase, read_settings
from fleet.model.manifests import Manifest
from fleet.model.refs import ObjectRef

#: Kinds in the order they are applied within one wave; unlisted kinds (every custom
#: resource) come after all of them. Only the kind counts, not the group.
KIND_ORDER: tuple[str, ...] = (
    "Namespace",
    "NetworkPolicy",
    "ResourceQuota",
    "LimitRange",
    "PodSecurityPolicy",
    "PodDisruptionBudget",
    "ServiceAccount",
    "Secret",
    "SecretList",
    "ConfigMap",
    "StorageClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleList",
    "ClusterRoleBinding",
    "ClusterRoleBindingList",
    "Role",
    "RoleList",
    "RoleBinding",
    "RoleBindingList",
    "Service",
    "DaemonSet",
    "Pod",
    "ReplicationController",
    "ReplicaSet",
    "Deployment",
    "HorizontalPodAutoscaler",
    "StatefulSet",
    "Job",
    "CronJob",
    "IngressClass",
    "Ingress",
    "APIService",
)
_KIND_RANK = {kind: rank for rank, kind in enumerate(KIND_ORDER)}
_PHASE_RANK = {phase: phase.rank for phase in Phase}
CRD_GROUP = "apiextensions.k8s.io"


def kind_rank(kind: str) -> int:
    """Position of a kind in KIND_ORDER; every unlisted kind shares the last place."""
    return _KIND_RANK.get(kind, len(KIND_ORDER))


class TaskType(StrEnum):
    """What a task does to its object."""

    APPLY = "apply"
    HOOK = "hook"
    PRUNE = "prune"


@dataclass(frozen=True, slots=True)
class SyncTask:
    """One object in one phase. ``manifest`` is None for a prune (the object left Git)."""

    ref: ObjectRef
    phase: Phase
    wave: int
    type: TaskType
    settings: ObjectSettings
    manifest: Manifest | None = None
    #: The name to sort by: the object's name, or for a hook named by ``generateName`` that
    #: prefix, also once the sync has given it a name (so previews and syncs agree).
    sort_name: str = ""
    #: ``group/Kind/namespace/name``: names the object in action ids (a str caches its hash).
    key: str = field(init=False, repr=False, compare=False)
    #: Phase, wave, kind rank, name, then kind, group, namespace, type and the object's own
    #: name (a generated one) to make it total.
    order: tuple[int, int, int, str, str, str, str, str, str] = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        ref = self.ref
        object.__setattr__(self, "key", f"{ref.group}/{ref.kind}/{ref.namespace}/{ref.name}")
        order = (
            _PHASE_RANK[self.phase],
            self.wave,
            _KIND_RANK.get(ref.kind, len(KIND_ORDER)),
            self.sort_name or ref.name,
            ref.kind,
            ref.group,
            ref.namespace,
            str(self.type),
            ref.name,
        )
        object.__setattr__(self, "order", order)

    @property
    def step(self) -> tuple[Phase, int]:
        return self.phase, self.wave

    def sort_key(self) -> tuple[int, int, int, str, str, str, str, str, str]:
        return self.order


def _crd_key(task: SyncTask) -> str | None:
    """``group/Kind`` that a CRD task defines, or None if the task is no CRD."""
    if task.ref.kind != "CustomResourceDefinition" or task.ref.group != CRD_GROUP:
        return None
    spec = (task.manifest.body.get("spec") if task.manifest else None) or {}
    names = spec.get("names") or {}
    return f"{spec.get('group', '')}/{names.get('kind', '')}"


def _hoist(
    tasks: list[SyncTask],
    provided: dict[int, str],
    needed: Callable[[SyncTask], str | None],
) -> list[SyncTask]:
    """Move each dependency (``provided``: index -> what it provides) just ahead of the
    first task that needs it, into that task's phase and wave.

    A dependency already ahead of everything that needs it stays where it is. Several
    dependencies moved ahead of the same task keep their relative order. Linear.
    """
    if not provided:
        return tasks
    wanted = set(provided.values())
    first_user: dict[str, int] = {}
    moves: dict[int, list[int]] = {}
    for index, task in enumerate(tasks):
        dependency = provided.get(index)
        if dependency is not None:
            user = first_user.get(dependency)
            if user is not None:
                moves.setdefault(user, []).append(index)
            continue
        if task.type is TaskType.PRUNE:
            continue
        need = needed(task)
        if need is not None and need in wanted and need not in first_user:
            first_user[need] = index
    if not moves:
        return tasks
    moved = {index for indexes in moves.values() for index in indexes}
    out: list[SyncTask] = []
    for index, task in enumerate(tasks):
        if index in moved:
            continue
        for moved_index in moves.get(index, ()):
            out.append(replace(tasks[moved_index], phase=task.phase, wave=task.wave))
        out.append(task)
    return out


def _hoist_namespaces(tasks: list[SyncTask]) -> list[SyncTask]:
    provided = {
        index: task.ref.name
        for index, task in enumerate(tasks)
        if task.ref.kind == "Namespace" and not task.ref.group and task.type is not TaskType.PRUNE
    }
    return _hoist(tasks, provided, lambda task: task.ref.namespace or None)


def _hoist_crds(tasks: list[SyncTask]) -> list[SyncTask]:
    provided = {
        index: key
        for index, task in enumerate(tasks)
        if task.ref.kind == "CustomResourceDefinition"
        and task.type is not TaskType.PRUNE
        and (key := _crd_key(task)) is not None
    }
    kinds = {key.rpartition("/")[2] for key in provided.values()}

    def needed(task: SyncTask) -> str | None:
        ref = task.ref
        return f"{ref.group}/{ref.kind}" if ref.kind in kinds else None

    return _hoist(tasks, provided, needed)


def mirror_prune_waves(
    tasks: Sequence[SyncTask], prune_last: bool = False, last_sync_wave: int | None = None
) -> list[SyncTask]:
    """Give prunes mirrored waves (highest first); PruneLast ones go after the last wave.

    ``last_sync_wave`` is the last wave of the Sync phase among tasks not passed here.
    """
    prune_waves = sorted({t.wave for t in tasks if t.type is TaskType.PRUNE})
    if not prune_waves:
        return list(tasks)
    mirrored = dict(zip(prune_waves, reversed(prune_waves), strict=True))
    out = [replace(t, wave=mirrored[t.wave]) if t.type is TaskType.PRUNE else t for t in tasks]
    waves = [t.wave for t in out if t.phase is Phase.SYNC]
    if last_sync_wave is not None:
        waves.append(last_sync_wave)
    after_last = max(max(waves, default=0), 0) + 1
    return [
        replace(t, wave=after_last)
        if t.type is TaskType.PRUNE and (prune_last or t.settings.prune_last)
        else t
        for t in out
    ]


def order_tasks(tasks: Iterable[SyncTask], prune_last: bool = False) -> list[SyncTask]:
    """Tasks in execution order: mirrored prunes, sorted, dependencies hoisted."""
    ordered = sorted(mirror_prune_waves(list(tasks), prune_last), key=SyncTask.sort_key)
    return _hoist_crds(_hoist_namespaces(ordered))


def group_steps(tasks: Sequence[SyncTask]) -> list[tuple[tuple[Phase, int], list[SyncTask]]]:
    """Ordered tasks cut into steps of one (phase, wave) each."""
    return [(step, list(group)) for step, group in groupby(tasks, key=lambda t: t.step)]


def manifest_tasks(manifest: Manifest, settings: ObjectSettings | None = None) -> list[SyncTask]:
    """The tasks one desired manifest makes during a sync (none if it is ignored)."""
    settings = settings or read_settings(manifest.annotations, manifest.ref, manifest.origin)
    if settings.ignored:
        return []
    meta = manifest.body.get("metadata") or {}
    sort_name = manifest.ref.name or str(meta.get("generateName") or "")
    if not settings.is_hook:
        return [
            SyncTask(
                manifest.ref,
                Phase.SYNC,
                settings.wave,
                TaskType.APPLY,
                settings,
                manifest,
                sort_name,
            )
        ]
    return [
        SyncTask(manifest.ref, phase, settings.wave, TaskType.HOOK, settings, manifest, sort_name)
        for phase in settings.hook_phases
        if phase not in (Phase.PRE_DELETE, Phase.POST_DELETE)
    ]


def apply_order(manifests: Iterable[Manifest]) -> list[Manifest]:
    """Manifests in the order a sync applies them, each once (a hook at its first phase).

    Objects a sync leaves out (``hook: Skip``, Helm test or delete hooks) are not returned.
    Raises fleet.engine.annotations.AnnotationError for an unreadable sync annotation.
    """
    tasks = [task for manifest in manifests for task in manifest_tasks(manifest)]
    seen: set[int] = set()
    out: list[Manifest] = []
    for task in order_tasks(tasks):
        assert task.manifest is not None
        if id(task.manifest) not in seen:
            seen.add(id(task.manifest))
            out.append(task.manifest)
    return out
