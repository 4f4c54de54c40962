"""A tiny in-memory cluster that executes engine actions, for planner tests.

It is no API server (fleet.sim is): it stores bodies, gives uids, answers dry-runs like
server-side apply would for our purposes (the body merged over live metadata), and runs
scripted "controllers" that move status on each tick. Each run of a sync is written down
as readable lines, so golden tests can state the expected sequence of steps.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from fleet.engine import (
    Action,
    ActionResult,
    ApiError,
    Apply,
    Batch,
    CreateHook,
    DeleteHook,
    DryRun,
    Failed,
    PlanMemo,
    Progress,
    Prune,
    ReleaseHook,
    Succeeded,
    SyncInput,
    SyncOptions,
    Wait,
    decide,
)
from fleet.model.annotations import HOOK_FINALIZER
from fleet.model.manifests import Manifest
from fleet.model.refs import ObjectRef

Obj = dict[str, Any]
#: A controller gets the object and the number of ticks since it was written, and returns
#: the new status (or None to leave it).
Controller = Callable[[Obj, int], Obj | None]


def ready_deployment(obj: Obj, ticks: int) -> Obj | None:
    replicas = obj.get("spec", {}).get("replicas", 1)
    generation = obj["metadata"].get("generation", 1)
    if ticks < 1:
        return {"observedGeneration": generation, "replicas": replicas, "updatedReplicas": 0}
    return {
        "observedGeneration": generation,
        "replicas": replicas,
        "updatedReplicas": replicas,
        "availableReplicas": replicas,
        "readyReplicas": replicas,
    }


def never_ready_deployment(obj: Obj, ticks: int) -> Obj | None:
    return {
        "observedGeneration": obj["metadata"].get("generation", 1),
        "replicas": 1,
        "updatedReplicas": 1,
        "availableReplicas": 0,
    }


def deadline_exceeded_deployment(obj: Obj, ticks: int) -> Obj | None:
    status = never_ready_deployment(obj, ticks)
    assert status is not None
    if ticks >= 2:
        status["conditions"] = [
            {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}
        ]
    return status


def completing_job(obj: Obj, ticks: int) -> Obj | None:
    if ticks < 1:
        return {"active": 1}
    return {"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]}


def failing_job(obj: Obj, ticks: int) -> Obj | None:
    if ticks < 1:
        return {"active": 1}
    return {
        "failed": 1,
        "conditions": [{"type": "Failed", "status": "True", "message": "BackoffLimitExceeded"}],
    }


def established_crd(obj: Obj, ticks: int) -> Obj | None:
    return {
        "conditions": [
            {"type": "NamesAccepted", "status": "True"},
            {"type": "Established", "status": "True"},
        ]
    }


def ready_condition(obj: Obj, ticks: int) -> Obj | None:
    generation = obj["metadata"].get("generation", 1)
    ready = "True" if ticks >= 1 else "False"
    return {"observedGeneration": generation, "conditions": [{"type": "Ready", "status": ready}]}


DEFAULT_CONTROLLERS: dict[str, Controller] = {
    "Deployment": ready_deployment,
    "Job": completing_job,
    "CustomResourceDefinition": established_crd,
}


@dataclass
class FakeCluster:
    live: dict[ObjectRef, Obj] = field(default_factory=dict)
    #: By kind, overridden by object name.
    controllers: dict[str, Controller] = field(default_factory=lambda: dict(DEFAULT_CONTROLLERS))
    by_name: dict[str, Controller] = field(default_factory=dict)
    #: Errors to answer, in order, for writes (apply/create/prune) to an object name.
    errors: dict[str, list[ApiError]] = field(default_factory=dict)
    #: Kinds this cluster does not serve (until a CRD for them is applied).
    unserved: set[str] = field(default_factory=set)
    #: Errors to answer, in order, for dry-runs of an object name.
    dry_run_errors: dict[str, list[ApiError]] = field(default_factory=dict)
    #: Names whose deletion is accepted but which stay (a finalizer nobody removes).
    sticky: set[str] = field(default_factory=set)
    #: Names that stay out of the watch cache for this many ticks after each write.
    lagging: dict[str, int] = field(default_factory=dict)
    written_at: dict[ObjectRef, int] = field(default_factory=dict)
    #: Answer 404 for writes and dry-runs in a namespace that does not exist, before
    #: looking at the object, as an API server's NamespaceLifecycle admission does.
    check_namespaces: bool = False
    ticks: int = 0
    uids: int = 0
    writes: list[str] = field(default_factory=list)

    def add(self, body: Obj) -> ObjectRef:
        """Put an object on the cluster as if something else had created it."""
        ref = ObjectRef.of(body)
        self._store(ref, copy.deepcopy(body))
        return ref

    def _store(self, ref: ObjectRef, body: Obj) -> None:
        meta = body.setdefault("metadata", {})
        previous = self.live.get(ref)
        if previous is None:
            self.uids += 1
            meta["uid"] = f"uid-{self.uids}"
            meta["generation"] = 1
        else:
            meta["uid"] = previous["metadata"]["uid"]
            changed = previous.get("spec") != body.get("spec")
            meta["generation"] = previous["metadata"]["generation"] + (1 if changed else 0)
            body["status"] = previous.get("status", {})
        meta["resourceVersion"] = str(self.ticks * 1000 + self.uids)
        self.live[ref] = body
        self.written_at[ref] = self.ticks
        self._control(ref)

    def _control(self, ref: ObjectRef) -> None:
        obj = self.live[ref]
        controller = self.by_name.get(ref.name) or self.controllers.get(ref.kind)
        if controller is not None:
            status = controller(obj, self.ticks - self.written_at[ref])
            if status is not None:
                obj["status"] = status

    def tick(self) -> None:
        self.ticks += 1
        for ref in list(self.live):
            self._control(ref)

    def _error_for(
        self, ref: ObjectRef, errors: dict[str, list[ApiError]] | None = None
    ) -> ApiError | None:
        queue = (self.errors if errors is None else errors).get(ref.name)
        return queue.pop(0) if queue else None

    def visible(self) -> dict[ObjectRef, Obj]:
        """What a watch cache would show now: a deep copy, without lagging objects."""
        return {
            ref: copy.deepcopy(obj)
            for ref, obj in self.live.items()
            if self.ticks - self.written_at.get(ref, -100) >= self.lagging.get(ref.name, 0)
        }

    def execute(self, action: Action) -> ActionResult | None:
        if isinstance(action, Wait):
            return None
        ref = action.ref
        if (
            self.check_namespaces
            and isinstance(action, DryRun | Apply | CreateHook)
            and ref.namespace
            and ObjectRef("", "Namespace", "", ref.namespace) not in self.live
        ):
            return action.failed(ApiError(404, "NotFound", f'namespaces "{ref.namespace}"'))
        if isinstance(action, DryRun):
            error = self._error_for(ref, self.dry_run_errors)
            if error is not None:
                return action.failed(error)
            if ref.kind in self.unserved:
                return action.kind_missing()
            if action.mode == "create":
                return action.succeeded()
            merged = copy.deepcopy(dict(action.body))
            live = self.live.get(ref)
            if live is not None:
                merged["metadata"] = {**live["metadata"], **merged["metadata"]}
                merged["status"] = live.get("status", {})
            return action.succeeded_with(merged)
        error = self._error_for(ref)
        if error is not None:
            return action.failed(error)
        if isinstance(action, Apply):
            if action.create and ref in self.live:
                return action.failed(ApiError(409, "AlreadyExists", f"{ref.name} exists"))
            self.writes.append(f"apply {ref.kind}/{ref.name}")
            self._store(ref, copy.deepcopy(dict(action.body)))
            if ref.kind == "CustomResourceDefinition":
                self.unserved.discard(action.body["spec"]["names"]["kind"])
            return action.succeeded()
        if isinstance(action, CreateHook):
            if ref in self.live:
                return action.failed(ApiError(409, "AlreadyExists", f"{ref.name} exists"))
            self.writes.append(f"create {ref.kind}/{ref.name}")
            self._store(ref, copy.deepcopy(dict(action.body)))
            return action.succeeded()
        if isinstance(action, Prune | DeleteHook):
            live = self.live.get(ref)
            if live is not None and live["metadata"]["uid"] == action.uid:
                self.writes.append(f"delete {ref.kind}/{ref.name}")
                if ref.name in self.sticky:
                    live["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
                else:
                    del self.live[ref]
            return action.succeeded()
        if isinstance(action, ReleaseHook):
            live = self.live.get(ref)
            if live is not None:
                finalizers = live["metadata"].get("finalizers", [])
                live["metadata"]["finalizers"] = [f for f in finalizers if f != HOOK_FINALIZER]
            return action.succeeded()
        raise AssertionError(action)  # pragma: no cover


def describe(batch: Batch) -> str:
    """One line per batch: where the sync stands and what it does."""
    status = batch.status
    where = status.phase if status.wave is None else f"{status.phase}/{status.wave}"
    parts = []
    for action in batch.actions:
        verb = type(action).__name__
        if isinstance(action, Wait):
            names = ", ".join(f"{r.kind}/{r.name}" for r in action.refs)
            parts.append(f"Wait[{action.id.split(' ')[0]}] {names}")
        else:
            parts.append(f"{verb} {action.ref.kind}/{action.ref.name}")
    return f"{where}: " + "; ".join(parts)


@dataclass
class Trace:
    lines: list[str]
    verdict: Succeeded | Failed
    progress: Progress
    decisions: int


def run_sync(
    desired: Sequence[Manifest],
    cluster: FakeCluster,
    options: SyncOptions | None = None,
    inventory: frozenset[ObjectRef] = frozenset(),
    app: str = "web",
    revision: str = "abc1234def",
    start: float = 1_000.0,
    tick_seconds: float = 10.0,
    limit: int = 500,
    render_error: str | None = None,
    deleting: bool = False,
    on_decide: Callable[[SyncInput, Any], None] | None = None,
    memo: PlanMemo | None = None,
) -> Trace:
    """Drive a whole sync against the fake cluster; waits advance time by ticks."""
    options = options or SyncOptions()
    now = start
    progress = Progress.start(now)
    lines: list[str] = []
    for count in range(1, limit + 1):
        inp = SyncInput(
            app,
            revision,
            desired,
            cluster.visible(),
            inventory,
            options,
            progress,
            now,
            render_error,
            deleting,
            memo,
        )
        decision = decide(inp)
        if on_decide is not None:
            on_decide(inp, decision)
        if not isinstance(decision, Batch):
            return Trace(lines, decision, progress, count)
        lines.append(describe(decision))
        if decision.is_wait:
            cluster.tick()
            wake = decision.wake_at
            assert wake is not None
            now = min(max(wake, now), now + tick_seconds)
            progress = decision.record([], now)
            continue
        results = [r for a in decision.actions if (r := cluster.execute(a)) is not None]
        now += 1.0
        progress = decision.record(results, now)
    raise AssertionError(f"no verdict after {limit} decisions:\n" + "\n".join(lines[-20:]))


def body(
    kind: str,
    name: str,
    namespace: str | None = "web",
    api_version: str | None = None,
    annotations: Mapping[str, str] | None = None,
    **fields: Any,
) -> Obj:
    versions = {
        "Deployment": "apps/v1",
        "StatefulSet": "apps/v1",
        "DaemonSet": "apps/v1",
        "Job": "batch/v1",
        "CronJob": "batch/v1",
        "Ingress": "networking.k8s.io/v1",
        "CustomResourceDefinition": "apiextensions.k8s.io/v1",
        "ClusterRole": "rbac.authorization.k8s.io/v1",
        "HorizontalPodAutoscaler": "autoscaling/v2",
    }
    meta: Obj = {"name": name} if name else {}
    if namespace:
        meta["namespace"] = namespace
    if annotations:
        meta["annotations"] = dict(annotations)
    out: Obj = {
        "apiVersion": api_version or versions.get(kind, "v1"),
        "kind": kind,
        "metadata": meta,
    }
    out.update(fields)
    return out


def manifests(*bodies: Obj) -> list[Manifest]:
    return [Manifest.from_body(b) for b in bodies]
