"""Run one sync of one app on one cluster: the engine decides, this module does.

The loop is the engine's protocol (fleet.engine.plan): ask ``decide`` for the next batch,
run its actions concurrently against the cluster, feed every result back, save the
progress, again until a verdict. Waits are served by the cluster's LiveCache: the
executor sleeps until one of the awaited objects changes or the deadline comes, so a
health gate costs no polling requests. Every write's answer is put into the cache at
once, so the next decision sees it without waiting for the watch.

The journal receives what history needs (progress after every batch, one row per
resource action, the moment the last write was made), so a kill -9 at any point leaves a
sync that can be resumed from its saved progress.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import anyio

from fleet.adapters.kube.client import ClusterClient
from fleet.adapters.kube.errors import KindNotServed, KubeError, one_line
from fleet.adapters.telemetry import context as telemetry
from fleet.engine import (
    Action,
    ActionResult,
    ApiError,
    Apply,
    Batch,
    CreateHook,
    DeleteHook,
    DryRun,
    PlanMemo,
    Progress,
    Prune,
    ReleaseHook,
    SyncInput,
    SyncOptions,
    Verdict,
    Wait,
    decide,
)
from fleet.engine.decisions import Running
from fleet.engine.drift import live_matches
from fleet.engine.hooks import hook_state
from fleet.engine.prepare import created_namespace
from fleet.model import annotations as names
from fleet.model.manifests import Manifest
from fleet.model.refs import ObjectRef
from fleet.runtime.health_ready import prepare_health
from fleet.runtime.leadership import Fence, NotLeader
from fleet.runtime.livecache import LiveCache
from fleet.runtime.resource_rows import (
    ResourceRow as ResourceRow,  # re-exported: the journal and tests import it from here
)
from fleet.runtime.resource_rows import (
    failed_row,
    finished_hook_row,
    hook_phase,
    with_duration,
)

Obj = Mapping[str, Any]


class SyncJournal(Protocol):
    """Where a running sync reports; the store implements it."""

    async def progress(self, progress: Progress, status: Running) -> None: ...

    async def resources(self, rows: Sequence[ResourceRow]) -> None: ...


@dataclass(frozen=True, slots=True)
class SyncJob:
    app: str
    cluster: str
    revision: str
    desired: Sequence[Manifest]
    inventory: frozenset[ObjectRef]
    options: SyncOptions
    render_error: str | None = None
    #: The app is being deleted from the cluster: PreDelete hooks, owned objects in
    #: reverse wave order, PostDelete hooks (fleet.engine deletion mode).
    deleting: bool = False


Clock = Callable[[], float]


class SyncExecutor:
    """Runs one sync to its verdict. Create one per sync."""

    def __init__(
        self,
        job: SyncJob,
        client: ClusterClient,
        cache: LiveCache,
        journal: SyncJournal,
        *,
        clock: Clock = time.time,
        max_parallel_writes: int | None = None,
        max_wait_slice: float = 5.0,
        settle: float = 0.1,
        fence: Fence | None = None,
    ) -> None:
        self.job = job
        #: Every write starts inside the leader's term or not at all (NotLeader).
        self.fence = fence if fence is not None else Fence(unbounded=True)
        self.client = client
        self.cache = cache
        self.journal = journal
        self.clock = clock
        # More runners than the client sends requests at once would only queue at its
        # slots, each costing a task and a wake-up per request.
        parallel = client.max_in_flight if max_parallel_writes is None else max_parallel_writes
        self._writes = anyio.CapacityLimiter(max(1, parallel))
        self._max_parallel_writes = max(1, parallel)
        self._max_wait_slice = max_wait_slice
        self._settle = settle
        self._extra_live: dict[ObjectRef, dict[str, Any]] = {}
        #: Dry-runs answered from the live cache (the object already matched).
        self.dry_runs_spared = 0
        self._gone: set[ObjectRef] = set()
        self._spans = telemetry.current().steps(job.app, job.cluster)
        self._memo = PlanMemo()

    # -- the loop --------------------------------------------------------------------

    async def run(self, progress: Progress | None = None) -> Verdict:
        progress = progress or Progress.start(self.clock())
        await self._fetch_unknown_desired()
        reported: tuple[Progress, Running] | None = None
        while True:
            sync_input = self._input(progress)
            await prepare_health(self.job.options.custom_health, sync_input.live.values())
            decision = decide(sync_input)
            if not isinstance(decision, Batch):
                self._spans.end(decision)
                return decision
            self._spans.begin(decision)
            if decision.is_wait:
                await self._wait(decision)
                progress = decision.record([], self.clock())
            else:
                results = await self._run_batch(decision.actions)
                progress = decision.record(results, self.clock())
            if reported != (progress, decision.status):
                # A wait woken by an object that is still not ready changes neither.
                await self.journal.progress(progress, decision.status)
                reported = (progress, decision.status)

    def _input(self, progress: Progress) -> SyncInput:
        return SyncInput(
            app=self.job.app,
            revision=self.job.revision,
            desired=self.job.desired,
            live=self._live(),
            inventory=self.job.inventory,
            options=self.job.options,
            progress=progress,
            now=self.clock(),
            render_error=self.job.render_error,
            deleting=self.job.deleting,
            memo=self._memo,
        )

    def _live(self) -> dict[ObjectRef, Obj]:
        live: dict[ObjectRef, Obj] = dict(self.cache.objects_of(self.job.app))
        for ref in list(self._extra_live):
            cached = self.cache.get(ref)
            if cached is not None:
                self._extra_live[ref] = cached
        for ref, obj in self._extra_live.items():
            live.setdefault(ref, obj)
        for manifest in self.job.desired:
            cached = self.cache.get(manifest.ref)
            if cached is not None:
                live.setdefault(manifest.ref, cached)
        for ref in self._gone:
            live.pop(ref, None)
        return live

    def _live_one(self, ref: ObjectRef) -> Obj | None:
        """``self._live().get(ref)`` without building the whole map (once per action)."""
        if ref in self._gone:
            return None
        cached = self.cache.get(ref)
        if cached is not None:
            if ref in self._extra_live:
                self._extra_live[ref] = cached
            return cached
        return self._extra_live.get(ref)

    async def _fetch_unknown_desired(self) -> None:
        """Desired objects the cache cannot know (not labelled yet, or kind not listed).

        Many of one kind in one namespace are read with one list rather than a get each
        (a first sync of an app would otherwise cost a request per object).
        """
        known = self.cache.objects_of(self.job.app)
        missing = [
            m
            for m in self.job.desired
            if m.ref.name and m.ref not in known and self.cache.get(m.ref) is None
        ]
        groups: dict[tuple[str, str, str], list[Manifest]] = {}
        for manifest in missing:
            key = (manifest.api_version, manifest.ref.kind, manifest.ref.namespace)
            groups.setdefault(key, []).append(manifest)

        async def fetch(manifest: Manifest) -> None:
            try:
                obj = await self.client.get(manifest.api_version, manifest.ref)
            except KubeError:  # KindNotServed included: the dry-run will report it properly
                return
            if obj is not None:
                self._extra_live[manifest.ref] = obj

        async def fetch_all(manifests: list[Manifest]) -> None:
            first = manifests[0]
            try:
                items, _ = await self.client.list_objects(
                    first.api_version, first.ref.kind, namespace=first.ref.namespace
                )
            except KubeError:
                return
            wanted = {m.ref for m in manifests}
            for item in items:
                ref = ObjectRef.of(item)
                if ref in wanted:
                    self._extra_live[ref] = item

        async with anyio.create_task_group() as group:
            namespace = created_namespace(self.job.options)
            if namespace is not None:  # untracked, so no watch holds it: read every sync
                group.start_soon(self._limited, fetch, namespace)
            for manifests in groups.values():
                if len(manifests) >= 3 and manifests[0].ref.namespace:
                    group.start_soon(self._limited_all, fetch_all, manifests)
                else:
                    for manifest in manifests:
                        group.start_soon(self._limited, fetch, manifest)

    async def _limited_all(
        self, fn: Callable[[list[Manifest]], Awaitable[None]], ms: list[Manifest]
    ) -> None:
        async with self._writes:
            await fn(ms)

    async def _limited(self, fn: Callable[[Manifest], Awaitable[None]], m: Manifest) -> None:
        async with self._writes:
            await fn(m)

    # -- waits -----------------------------------------------------------------------

    async def _wait(self, batch: Batch) -> None:
        refs = {ref for action in batch.actions if isinstance(action, Wait) for ref in action.refs}
        changed = anyio.Event()

        def listener(app: str, ref: ObjectRef, event_type: str) -> None:
            if ref in refs:
                if event_type == "DELETED":
                    self._gone.add(ref)
                changed.set()

        unsubscribe = self.cache.subscribe(listener)
        try:
            wake_at = batch.wake_at
            delay = self._max_wait_slice if wake_at is None else wake_at - self.clock()
            with anyio.move_on_after(max(0.0, min(delay, self._max_wait_slice))):
                await changed.wait()
                # Objects rolling out change in bursts (a Deployment's status, then its
                # ReplicaSet's, then its pods'): look once the burst has passed rather
                # than plan again after every event of it.
                await anyio.sleep(self._settle)
        finally:
            unsubscribe()

    # -- actions ---------------------------------------------------------------------

    async def clean_up(self, actions: Sequence[DeleteHook | ReleaseHook]) -> list[ActionResult]:
        """Run hook cleanups outside a sync (hooks a killed sync left behind,
        fleet.runtime.leftover_hooks): the same fence, finalizer release and UID
        precondition as a sync's own cleanup."""
        return await self._run_batch(actions)

    async def _run_batch(self, actions: Sequence[Action]) -> list[ActionResult]:
        results: list[ActionResult] = []
        rows: list[ResourceRow] = []
        if any(not isinstance(action, DryRun | Wait) for action in actions):
            self.fence.check()  # a deposed leader starts no write batch

        # A few runners share the batch (each takes the next action when it is free)
        # rather than a task per action behind a limiter: a task and a limiter slot per
        # request were a twentieth of the daemon's CPU in a 100-cluster update.
        queue = iter(actions)

        async def run_actions() -> None:
            for action in queue:
                started = anyio.current_time()
                result, row = await self._spans.write(action, self._execute)
                if result is not None:
                    results.append(result)
                if row is not None:
                    elapsed = (anyio.current_time() - started) * 1000
                    rows.append(with_duration(row, elapsed))

        try:
            async with anyio.create_task_group() as group:
                for _ in range(min(len(actions), self._max_parallel_writes)):
                    group.start_soon(run_actions, name="sync actions")  # no name to look up
        except ExceptionGroup as failed:
            # The term ended between the batch's check and an action's own: that is the
            # leader stopping (an interrupted sync), not a bug, whatever else failed.
            refused = failed.subgroup(NotLeader)
            if refused is not None:
                raise _first_leaf(refused) from failed
            raise
        if rows:
            await self.journal.resources(rows)
        return results

    async def _execute(self, action: Action) -> tuple[ActionResult | None, ResourceRow | None]:
        if not isinstance(action, DryRun | Wait):
            self.fence.check()  # and no write queued in the batch starts after the term
        try:
            if isinstance(action, DryRun):
                return await self._dry_run(action), None
            if isinstance(action, Apply):
                return await self._apply(action)
            if isinstance(action, Prune):
                return await self._prune(action)
            if isinstance(action, CreateHook):
                return await self._create_hook(action)
            if isinstance(action, DeleteHook):
                return await self._delete_hook(action)
            if isinstance(action, ReleaseHook):
                live = self._live_one(action.ref)
                await self._release(action.ref)
                outcome = self._hook_outcome(live)
                return action.succeeded(), finished_hook_row(action.ref, live, "completed", outcome)
            return None, None  # Wait: handled by the loop
        except KindNotServed as error:
            if isinstance(action, DryRun):
                return action.kind_missing(), None
            return self._failure(action, error)
        except KubeError as error:
            return self._failure(action, error)

    def _failure(
        self, action: Action, error: KubeError
    ) -> tuple[ActionResult | None, ResourceRow | None]:
        if isinstance(action, Wait):
            return None, None
        api_error = ApiError(error.status, error.reason, error.message, error.retry_after)
        row = None
        if not isinstance(action, DryRun):
            # History keeps what the library or server said, after the readable line.
            raw = f" [raw: {one_line(error.raw, 1000)}]" if error.raw else ""
            row = failed_row(action, f"{api_error}{raw}")
        return action.failed(api_error), row

    async def _dry_run(self, action: DryRun) -> ActionResult:
        if action.mode == "create":
            try:
                await self.client.create(action.body, dry_run=True)
            except KubeError as error:
                # An earlier instance of a fixed-name hook: its delete policy decides
                # whether it is removed first; the create itself is what gets checked.
                if error.status != 409 or error.reason != "AlreadyExists":
                    raise
            return action.succeeded()
        if action.mode == "replace":
            result = await self.client.replace(action.body, dry_run=True)
            return action.succeeded_with(result, paths=False)
        live = self._live_one(action.ref)
        if live is not None and live_matches(
            action.ref, action.body, live, self.job.options.ignore_differences
        ):
            # Every field fleet applies already holds live: the server's answer to this
            # apply would be the live object itself. Saying so without asking spares a
            # request per unchanged object, which is most of them in most commits.
            self.dry_runs_spared += 1
            return action.succeeded_with(live, paths=False)
        result = await self.client.apply(action.body, dry_run=True)
        # Which paths changed is for a preview (fleet plan); a sync reads in_sync only.
        return action.succeeded_with(result, paths=False)

    async def _apply(self, action: Apply) -> tuple[ActionResult, ResourceRow]:
        existed = self._live_one(action.ref) is not None
        if action.replace and action.force and existed:
            live = self._live_one(action.ref) or {}
            await self.client.delete(
                _api_version(live, action.body),
                action.ref,
                uid=str((live.get("metadata") or {}).get("uid") or "") or None,
                propagation="Foreground",
            )
            result = await self.client.create(action.body)
        elif action.replace:
            result = await self.client.replace(action.body)
        elif action.create:
            result = await self.client.create(action.body)
        else:
            result = await self.client.apply(action.body)
        self._saw(action.ref, result)
        if action.ref.kind == "CustomResourceDefinition":
            await self.client.refresh_discovery()
        verb = "configured" if existed else "created"
        return action.succeeded(), ResourceRow(action.ref, verb, str(action.phase), action.wave)

    async def _prune(self, action: Prune) -> tuple[ActionResult, ResourceRow]:
        live = self._live_one(action.ref)
        api_version = _api_version(live, None) or _guess_api_version(action.ref)
        await self.client.delete(
            api_version, action.ref, uid=action.uid or None, propagation=action.propagation
        )
        self._forget_copy(action.ref)
        return action.succeeded(), ResourceRow(action.ref, "pruned", "Sync", action.wave)

    async def _create_hook(self, action: CreateHook) -> tuple[ActionResult, ResourceRow]:
        result = await self.client.create(action.body)
        self._saw(action.ref, result)
        return action.succeeded(), ResourceRow(action.ref, "hook", str(action.phase), action.wave)

    async def _delete_hook(self, action: DeleteHook) -> tuple[ActionResult, ResourceRow]:
        live = self._live_one(action.ref)
        await self._release(action.ref)
        api_version = _api_version(live, None) or _guess_api_version(action.ref)
        await self.client.delete(api_version, action.ref, uid=action.uid or None)
        self._forget_copy(action.ref)
        return action.succeeded(), ResourceRow(
            action.ref,
            "deleted",
            hook_phase(live),
            None,
            message=action.reason,
            health=self._hook_outcome(live),
        )

    def _hook_outcome(self, live: Obj | None) -> str | None:
        if live is None:
            return None
        return str(
            hook_state(live, self.job.options.health_rules, self.job.options.custom_health).outcome
        )

    async def _release(self, ref: ObjectRef) -> None:
        """Remove fleet's hook finalizer, guarded by resourceVersion against lost updates."""
        for _attempt in range(5):
            live = self._live_one(ref)
            if live is None:
                live = await self.client.get(_guess_api_version(ref), ref)
                if live is None:
                    return
            meta = live.get("metadata") or {}
            finalizers = list(meta.get("finalizers") or [])
            if names.HOOK_FINALIZER not in finalizers:
                return
            remaining = [f for f in finalizers if f != names.HOOK_FINALIZER]
            patch = {
                "metadata": {
                    "finalizers": remaining or None,
                    "resourceVersion": meta.get("resourceVersion"),
                }
            }
            try:
                result = await self.client.merge_patch(_api_version(live, None), ref, patch)
            except KubeError as error:
                if error.status == 404:
                    return
                if error.status == 409:
                    self._extra_live[ref] = (
                        await self.client.get(_api_version(live, None), ref) or {}
                    )
                    continue
                raise
            self._saw(ref, result)
            return

    def _forget_copy(self, ref: ObjectRef) -> None:
        """After a delete, only the watch knows whether the object is still there (being
        finalized) or gone: a copy kept from an earlier write would outlive it, and the
        sync would wait for it to go forever."""
        self._extra_live.pop(ref, None)

    def _saw(self, ref: ObjectRef, obj: dict[str, Any]) -> None:
        """Put a write's answer into the cache (the watch will confirm it)."""
        if obj.get("metadata"):
            self._gone.discard(ref)
            self.cache.apply_event(ref.group, ref.kind, "MODIFIED", obj)
            self._extra_live[ref] = obj


def _first_leaf(group: BaseExceptionGroup[Exception]) -> Exception:
    first = group.exceptions[0]
    return _first_leaf(first) if isinstance(first, BaseExceptionGroup) else first


def _api_version(live: Obj | None, body: Obj | None) -> str:
    for obj in (live, body):
        if obj and obj.get("apiVersion"):
            return str(obj["apiVersion"])
    return ""


_CORE_VERSIONS = {"": "v1", "apps": "apps/v1", "batch": "batch/v1"}


def _guess_api_version(ref: ObjectRef) -> str:
    """For an object fleet no longer has a body of: its group's usual version."""
    if ref.group in _CORE_VERSIONS:
        return _CORE_VERSIONS[ref.group]
    return f"{ref.group}/v1"
