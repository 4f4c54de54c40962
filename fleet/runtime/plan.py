"""``fleet plan``: what a revision would do to every cluster it targets, before it rolls out.

The daemon answers ``GET /api/v1/plan`` with this module. For each app (or the one
asked for) and each cluster it targets, it does what a sync would do up to its first
write and stops there: render the revision for the cluster, read the live objects (the
watch cache, plus a GET for desired objects the cache does not hold) and the inventory,
build the very ``SyncInput`` the sync would get, and run the server-side dry-runs the
engine asks for. fleet.engine.preview turns the answers into create / change / prune /
hook lines and refusals; fleet.engine.plan_report adds the rollout's waves and soaks.

It writes nothing: no apply, no create, no delete reaches a cluster (every request is a
GET or carries ``dryRun=All``), and nothing reaches history, events or the worker's
state. The revision is the one given (any branch, tag or commit the source's mirror
holds) or, by default, the latest one fleet fetched for the app's source, which is what
the next rollout carries. One plan runs at a time, and each cluster gets at most
``max_requests`` requests in flight, so asking for plans cannot crowd out syncs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import anyio

from fleet.adapters.git import Revision
from fleet.adapters.http.server import ApiError
from fleet.adapters.kube.client import ClusterClient
from fleet.adapters.kube.errors import KindNotServed, KubeError
from fleet.config import App, FleetConfig
from fleet.engine import ApiError as EngineApiError
from fleet.engine import DryRun, PlanMemo, Progress, SyncInput, SyncOptions
from fleet.engine.drift import live_matches
from fleet.engine.plan_report import AppPlan, ClusterPlan, report, wave_of
from fleet.engine.prepare import created_namespace
from fleet.engine.preview import DryRunAnswer, dry_runs, preview
from fleet.model.manifests import Manifest
from fleet.model.refs import ObjectRef
from fleet.runtime import values_from
from fleet.runtime.desired import DesiredStateBuilder, DesiredStateError
from fleet.runtime.livecache import LiveCache
from fleet.runtime.worker import Worker

log = logging.getLogger(__name__)

JSON = dict[str, Any]
Obj = Mapping[str, Any]

#: The longest revision a plan request may name (a ref name or a commit id).
MAX_REV_SPEC = 256


@dataclass(frozen=True, slots=True)
class PlanScope:
    """What the daemon knows that a plan reads, handed in for one request."""

    config: FleetConfig
    workers: Mapping[tuple[str, str], Worker]
    #: Each source's latest fetched revision (None: not fetched yet).
    fetched: Mapping[str, Revision | None]
    builder: DesiredStateBuilder


class FleetPlanner:
    """Computes plans; one at a time (see the module docstring)."""

    def __init__(self, max_requests: int = 8, clock: Callable[[], float] = time.time) -> None:
        self.max_requests = max_requests
        self.clock = clock
        self._one_at_a_time = anyio.Lock()

    async def plan(
        self, scope: PlanScope, app: str | None, revision: str | None, with_diff: bool
    ) -> JSON:
        """The plan of ``app`` (every app when None) at ``revision`` (default: latest)."""
        config = scope.config
        if app is not None and app not in {a.name for a in config.apps}:
            raise ApiError(404, f"no app named {app}")
        apps = [a for a in config.apps if app is None or a.name == app]
        async with self._one_at_a_time:
            plans = [await self._plan_app(scope, a, revision, with_diff) for a in apps]
        answer = report(plans)
        summary = answer["summary"]
        log.info(
            "plan of %s at %s: %d to create, %d to change, %d to prune on %d of %d clusters",
            app or "every app",
            (revision or "the latest revisions")[:80],
            summary["create"],
            summary["change"],
            summary["prune"],
            summary["clusters_changing"],
            summary["clusters"],
        )
        return answer

    async def _plan_app(
        self, scope: PlanScope, app: App, rev_spec: str | None, with_diff: bool
    ) -> AppPlan:
        config = scope.config
        source = config.source_of(app)
        plan = AppPlan(
            app=app.name,
            source=source.name,
            revision=None,
            automated=app.sync_policy.automated,
            rollout=config.rollout_plan(app),
        )
        try:
            revision = await _revision(scope, app, rev_spec)
        except LookupError as error:
            return replace(plan, error=str(error))
        clusters = config.targets(app)
        found: dict[str, ClusterPlan] = {}

        async def one(name: str) -> None:
            try:
                found[name] = await self._plan_cluster(scope, app, name, revision, with_diff)
            except Exception as error:  # one cluster's surprise must not lose the others
                log.exception("plan of %s on %s failed", app.name, name)
                found[name] = ClusterPlan(name, error=f"internal error: {error}")

        async with anyio.create_task_group() as group:
            for cluster in clusters:
                group.start_soon(one, cluster.name)
        return replace(
            plan,
            revision=revision.sha,
            summary=revision.summary,
            clusters=tuple(
                replace(found[c.name], wave=wave_of(plan.rollout, c.name)) for c in clusters
            ),
        )

    async def _plan_cluster(
        self, scope: PlanScope, app: App, cluster: str, revision: Revision, with_diff: bool
    ) -> ClusterPlan:
        worker = scope.workers.get((app.name, cluster))
        if worker is None:
            return ClusterPlan(cluster, error="the daemon runs no worker for it yet")
        status = worker.status
        # Suspensions and holds belong to other parts of the daemon: read from the status
        # it shows, so that the plan says what ``fleet status`` says.
        shown = status.as_json()
        hold = shown.get("hold")
        base = ClusterPlan(
            cluster,
            current_revision=status.revision,
            pinned_revision=status.pinned_revision,
            suspended=bool(shown.get("suspended")),
            held=str(hold.get("reason") or "") if isinstance(hold, dict) else "",
        )
        runtime = worker.runtime
        if runtime.reachable is False:
            reason = runtime.reachability.message.removeprefix("unreachable: ") or "no answer"
            return replace(base, error=f"cluster unreachable: {reason}")
        try:
            state = await scope.builder.render(worker.app, worker.cluster, revision)
        except DesiredStateError as error:
            desired: list[Manifest] = []
            render_error: str | None = str(error)
        else:
            desired, render_error = list(state.manifests), None
        limit = anyio.CapacityLimiter(self.max_requests)
        try:
            inventory = await worker.inventory()
            options = worker.options()
            live = await live_objects(
                runtime.cache, runtime.client, app.name, options, desired, limit
            )
            now = self.clock()
            inp = SyncInput(
                app=app.name,
                revision=revision.sha,
                desired=desired,
                live=live,
                inventory=inventory,
                options=options,
                progress=Progress.start(now),
                now=now,
                render_error=render_error,
                memo=PlanMemo(),
            )
            actions, _ = dry_runs(inp)
            answers = await dry_run_all(runtime.client, actions, inp, limit)
        except KubeError as error:
            return replace(base, error=f"cannot read the cluster: {error.sentence}")
        found = preview(
            inp,
            answers,
            hooks_without_changes=not worker.app.sync_policy.automated,
            with_diff=with_diff,
        )
        return replace(base, preview=found)


async def _revision(scope: PlanScope, app: App, rev_spec: str | None) -> Revision:
    source = scope.config.source_of(app)
    if rev_spec and (len(rev_spec) > MAX_REV_SPEC or not rev_spec.isprintable()):
        raise LookupError(f"revision {rev_spec[:40]!r}... is not a branch, tag or commit")
    if rev_spec:
        try:
            return await values_from.resolve(scope.builder, scope.config, app, rev_spec)
        except Exception as error:
            raise LookupError(
                f"revision {rev_spec!r} is not in the mirror of source {source.name}: {error}"
            ) from None
    fetched = values_from.latest(app, scope.fetched)  # paired with helm.valuesFrom's sources
    if fetched is None:
        raise LookupError(f"source {source.name} has not been fetched yet; try again shortly")
    return fetched


async def live_objects(
    cache: LiveCache,
    client: ClusterClient,
    app: str,
    options: SyncOptions,
    desired: Sequence[Manifest],
    limit: anyio.CapacityLimiter,
) -> dict[ObjectRef, Obj]:
    """What a sync would see live: the app's cached objects and every desired object.

    The cache holds only objects carrying fleet's label; a desired object it does not
    hold (new, or not labelled yet), and the namespace createNamespace makes (untracked),
    are read with a GET, as the sync's executor reads them. A cluster that does not
    answer raises KubeError.
    """
    live: dict[ObjectRef, Obj] = dict(cache.objects_of(app))
    namespace = created_namespace(options)

    unreachable: list[KubeError] = []

    async def fetch(manifest: Manifest) -> None:
        async with limit:
            try:
                obj = await client.get(manifest.api_version, manifest.ref)
            except KubeError as error:  # KindNotServed included: the dry-run reports it
                if error.unreachable:
                    unreachable.append(error)
                return
        if obj is not None:
            live[manifest.ref] = obj

    async with anyio.create_task_group() as group:
        for manifest in (*desired, *([namespace] if namespace else [])):
            ref = manifest.ref
            if not ref.name or ref in live:
                continue
            cached = cache.get(ref)
            if cached is not None:
                live[ref] = cached
            else:
                group.start_soon(fetch, manifest)
    if unreachable:
        raise unreachable[0]
    return live


async def dry_run_all(
    client: ClusterClient,
    actions: Sequence[DryRun],
    inp: SyncInput,
    limit: anyio.CapacityLimiter,
) -> dict[str, DryRunAnswer]:
    answers: dict[str, DryRunAnswer] = {}
    unreachable: list[KubeError] = []

    async def one(action: DryRun) -> None:
        async with limit:
            try:
                answers[action.id] = await _dry_run(client, action, inp)
            except KubeError as error:  # only an unreachable cluster gets here
                unreachable.append(error)

    async with anyio.create_task_group() as group:
        for action in actions:
            group.start_soon(one, action)
    if unreachable:
        raise unreachable[0]
    return answers


async def _dry_run(client: ClusterClient, action: DryRun, inp: SyncInput) -> DryRunAnswer:
    """One dry-run, made exactly as the sync's executor makes it (fleet.runtime.executor)."""
    ref = action.ref
    try:
        if action.mode == "create":
            try:
                await client.create(action.body, dry_run=True)
            except KubeError as error:
                if error.status != 409 or error.reason != "AlreadyExists":
                    raise
            return DryRunAnswer(ref, action.succeeded())
        if action.mode == "replace":
            result = await client.replace(action.body, dry_run=True)
            return DryRunAnswer(ref, action.succeeded_with(result), result)
        live = action.live
        ignored = inp.options.ignore_differences
        if live is not None and live_matches(ref, action.body, live, ignored):
            # Every field fleet applies already holds live: the sync skips this request too.
            return DryRunAnswer(ref, action.succeeded_with(live), live)
        result = await client.apply(action.body, dry_run=True)
        return DryRunAnswer(ref, action.succeeded_with(result), result)
    except KindNotServed:
        return DryRunAnswer(ref, action.kind_missing())
    except KubeError as error:
        if error.unreachable:
            raise
        failure = EngineApiError(error.status, error.reason, error.message, error.retry_after)
        return DryRunAnswer(ref, action.failed(failure))
