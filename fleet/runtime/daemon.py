"""``fleet run``: the daemon that keeps every cluster matching Git.

Wiring only: settings and config in, then one anyio task group holding the HTTP API,
a watch set per cluster, a worker per (app, cluster), a poller per source and the
rollout coordinator. Signals: SIGTERM/SIGINT stop gracefully (syncs in flight get up to
``shutdown_timeout`` to finish, then are recorded Interrupted); SIGHUP reloads the fleet
config, replacing only the workers whose app, cluster or source changed, and keeps the
old config when the new one is invalid.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import secrets
import signal
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
from anyio.abc import TaskGroup

from fleet import __version__
from fleet.adapters.git import Revision
from fleet.adapters.http.address import ApiAddress
from fleet.adapters.http.routes import ApiAccess
from fleet.adapters.http.server import ApiError, build_app, serve
from fleet.adapters.http.webhooks import Push, repository_key
from fleet.adapters.kube.client import ClusterClient, Limits
from fleet.adapters.kube.connection import ClusterEndpoint
from fleet.adapters.store import DEFAULT_FILE_NAME, AsyncHistoryStore
from fleet.adapters.store.files import private_directory
from fleet.adapters.systemd import SystemdNotifier
from fleet.adapters.telemetry.context import Telemetry
from fleet.adapters.telemetry.metrics import AppClusterState, FleetState
from fleet.config import Cluster, ConfigError, FleetConfig, Settings, load_fleet_config
from fleet.engine import compare
from fleet.engine.hooks import stamp
from fleet.runtime.clusters import ClusterRuntime
from fleet.runtime.desired import DesiredStateBuilder, git_timeouts
from fleet.runtime.holds import HoldBoard, HoldRefused
from fleet.runtime.mailbox import Trigger
from fleet.runtime.notifications import NotificationDispatcher
from fleet.runtime.plan import FleetPlanner, PlanScope
from fleet.runtime.rendering import renderer_for
from fleet.runtime.rollout_api import RolloutApi
from fleet.runtime.rollouts import RolloutCoordinator
from fleet.runtime.sources import SourcePoller
from fleet.runtime.worker import SyncOutcome, Worker, WorkerContext

log = logging.getLogger(__name__)

JSON = dict[str, Any]

#: How long a manual sync request waits for its syncs to start, to answer with their ids.
MANUAL_START_WAIT = 2.0


def endpoint_of(cluster: Cluster) -> ClusterEndpoint:
    return ClusterEndpoint(
        name=cluster.name,
        kubeconfig=cluster.kubeconfig,
        context=cluster.context,
        server=cluster.server,
        ca_file=cluster.ca_file,
        token_file=cluster.token_file,
    )


@dataclass
class _WorkerSlot:
    worker: Worker
    scope: anyio.CancelScope


class Daemon:
    """Runs until stopped; also answers the HTTP API (it implements ``DaemonApi``)."""

    def __init__(self, settings: Settings, config_path: Path) -> None:
        self.settings = settings
        self.config_path = config_path
        self.config: FleetConfig | None = None
        self.store: AsyncHistoryStore | None = None
        self.clusters: dict[str, ClusterRuntime] = {}
        self.workers: dict[tuple[str, str], _WorkerSlot] = {}
        self.pollers: dict[str, SourcePoller] = {}
        self._poller_scopes: dict[str, anyio.CancelScope] = {}
        self._tasks: TaskGroup | None = None
        self._ctx: WorkerContext | None = None
        self._rollouts: RolloutCoordinator | None = None
        self._rollout_api: RolloutApi | None = None
        #: Suspensions, sync windows and dependsOn: why automated syncs wait.
        self._holds: HoldBoard | None = None
        self._events_changed = anyio.Event()
        self._stopping = False
        self._started = False
        self.notifier = SystemdNotifier.from_environment()
        self._secret_key = b""
        #: Syncs the last run left running: (app, cluster) -> (revision, sync id).
        self._resume: dict[tuple[str, str], tuple[str, int, Any]] = {}
        #: Sends events to the config's notification destinations (stats for metrics).
        self.notifications = NotificationDispatcher()
        #: Answers ``fleet plan`` (dry-runs only; one plan at a time).
        self.planner = FleetPlanner()
        self.telemetry = Telemetry(version=__version__)
        self.telemetry.metrics.watch_state(self._metric_state)
        #: Renders in processes bounded by settings.render; its cache outlives reloads.
        self.renderer = renderer_for(settings)

    # -- lifecycle ---------------------------------------------------------------------

    async def run(self) -> None:
        async with self.telemetry.running(self.settings.otel):
            await self._run()

    async def _run(self) -> None:
        settings = self.settings
        self.config = load_fleet_config(self.config_path)
        # Everything loaded so far lives as long as the daemon: keep the collector off it.
        gc.freeze()
        state_dir = settings.state_dir
        access = ApiAccess.from_settings(settings)  # unreadable or empty token files stop here
        private_directory(state_dir)  # 0700 whatever the umask
        self._secret_key = _secret_digest_key(state_dir)
        async with await AsyncHistoryStore.open(state_dir / DEFAULT_FILE_NAME) as store:
            self.store = store
            interrupted = await store.interrupted_at_startup()
            for record in interrupted:
                # The store recorded a sync_interrupted event for each of them.
                log.warning(
                    "sync %s of %s on %s was interrupted; it will run again",
                    record.id,
                    record.app,
                    record.cluster,
                )
            builder = DesiredStateBuilder(
                self.config,
                state_dir,
                renderer=self.renderer,
                timeouts=git_timeouts(settings),
                recent_trees=settings.kept_trees,
            )
            async with builder, anyio.create_task_group() as tasks:
                self._tasks = tasks
                self.notifications.configure(self.config)
                await tasks.start(self.notifications.run)
                self._rollouts = RolloutCoordinator(
                    tasks, self._event, store=store, resolve=self._resolve_revision
                )
                await self._rollouts.load()  # halts, aborts, pins and holds survive restarts
                self._rollout_api = RolloutApi(
                    self._rollouts, store, self._resolve_revision, self._event
                )
                self._holds = HoldBoard(store, self._event, tasks)
                await self._holds.load()
                # A closed sync window pauses a rollout before it releases a cluster.
                self._rollouts.start_gate = self._holds.window_closed
                self._ctx = WorkerContext(
                    store=store,
                    builder=builder,
                    sync_slots=anyio.CapacityLimiter(settings.max_concurrent_syncs),
                    report=self._report,
                    event=self._event,
                    secret_digest_key=self._secret_key,
                    holds=self._holds,
                )
                runner = await serve(
                    build_app(self, access, store),
                    ApiAddress.parse(settings.api_address),
                )
                try:
                    self._resume = {
                        (r.app, r.cluster): (r.revision, r.id, r.progress) for r in interrupted
                    }
                    await self._build(self.config)
                    tasks.start_soon(self._signals)
                    tasks.start_soon(self._retention)
                    tasks.start_soon(self._release_memory)
                    if self.notifier.watchdog_interval is not None:
                        tasks.start_soon(self.notifier.feed_watchdog)
                    self._started = True
                    self.notifier.ready(f"managing {len(self.workers)} app x cluster pairs")
                    log.info(
                        "fleet is running: %d clusters, %d apps, API on %s",
                        len(self.clusters),
                        len(self.config.apps),
                        settings.api_address,
                    )
                    await anyio.sleep_forever()
                finally:
                    with anyio.CancelScope(shield=True):
                        await runner.cleanup()
                        for runtime in self.clusters.values():
                            await runtime.client.close()

    async def _signals(self) -> None:
        with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT, signal.SIGHUP) as signals:
            async for signum in signals:
                if signum == signal.SIGHUP:
                    await self.reload()
                else:
                    await self.stop()
                    return

    async def stop(self) -> None:
        """Stop taking work; let syncs in flight finish (up to the shutdown timeout)."""
        if self._stopping:
            return
        self._stopping = True
        self.notifier.stopping("finishing syncs in flight")
        log.info(
            "stopping: waiting up to %ss for syncs in flight",
            self.settings.shutdown_timeout.total_seconds(),
        )
        for scope in self._poller_scopes.values():
            scope.cancel()
        assert self._ctx is not None
        assert self._tasks is not None
        self._ctx.accepting = False
        with anyio.move_on_after(self.settings.shutdown_timeout.total_seconds()):
            await self._ctx.wait_idle()
        with anyio.move_on_after(5.0):  # what is still queued is logged and counted
            await self.notifications.drain()
        self._tasks.cancel_scope.cancel()

    async def _release_memory(self, every: float = 30.0) -> None:
        """Once a burst of syncs is over, give the C heap's free pages back (see heap)."""
        from fleet.adapters.heap import release_free_heap

        assert self._ctx is not None
        released_after = -1
        while True:
            await anyio.sleep(every)
            if self._ctx.running == 0 and self._ctx.ended != released_after:
                released_after = self._ctx.ended
                await anyio.to_thread.run_sync(release_free_heap)

    async def _retention(self) -> None:
        from fleet.adapters.store import RetentionPolicy

        assert self.store is not None
        days = self.settings.history_retention.total_seconds() / 86400
        policy = RetentionPolicy(max_age_days=days, event_max_age_days=days)
        while True:
            try:
                report = await self.store.apply_retention(policy)
                if not report.empty:
                    log.info("history retention: %s", report)
                await self.store.prune_audit(datetime.now(UTC) - self.settings.history_retention)
            except Exception:
                log.exception("history retention failed")
            await anyio.sleep(3600)

    # -- building and reloading ---------------------------------------------------------

    async def _build(self, config: FleetConfig) -> None:
        assert self._tasks is not None
        assert self._ctx is not None
        assert self._rollouts is not None
        settings = self.settings
        old_config = self.config if self._started else None
        # Workers: one per (app, targeted cluster); those no longer wanted go first, while
        # their cluster connection still exists (deletionPolicy: delete needs it).
        wanted: dict[tuple[str, str], tuple[Any, Cluster]] = {}
        for app in config.apps:
            for cluster in config.targets(app):
                wanted[(app.name, cluster.name)] = (app, cluster)
        for key in [k for k in self.workers if k not in wanted]:
            slot = self.workers.pop(key)
            slot.scope.cancel()
            slot.worker.unsubscribe()
            await self._app_left(slot.worker, config)
        # Clusters: keep those whose definition did not change. A manager newly named by
        # ignoreDifferences needs the managedFields the caches dropped: list them again.
        managers = _managers_named(config)
        for cluster in config.clusters:
            runtime = self.clusters.get(cluster.name)
            unchanged = (
                old_config is not None
                and _same(old_config, config, "cluster", cluster.name)
                and runtime is not None
                and managers <= runtime.cache.kept_managers
            )
            if runtime is not None and unchanged:
                continue
            if runtime is not None:
                runtime.stop()
                await runtime.client.close()
            client = await ClusterClient.connect(
                endpoint_of(cluster),
                limits=Limits(
                    qps=settings.cluster_qps,
                    burst=settings.cluster_burst,
                    connections=settings.cluster_connections,
                ),
                observer=self.telemetry.observe_request,
            )
            runtime = ClusterRuntime(client, self._tasks, kept_managers=managers)
            runtime.on_reachability(self._reachability)
            self.clusters[cluster.name] = runtime
        for name in [n for n in self.clusters if n not in {c.name for c in config.clusters}]:
            runtime = self.clusters.pop(name)
            runtime.stop()
            await runtime.client.close()
        for key, (app, cluster) in wanted.items():
            current = self.workers.get(key)
            if (
                current is not None
                and old_config is not None
                and _same(old_config, config, "app", app.name)
                and _same(old_config, config, "cluster", cluster.name)
                and _same(old_config, config, "source", app.source)
                and current.worker.runtime is self.clusters[cluster.name]
            ):
                current.worker.config = config
                continue
            previous = current.worker if current is not None else None
            if current is not None:
                current.scope.cancel()
                current.worker.unsubscribe()
            worker = Worker(self._ctx, config, app, cluster, self.clusters[cluster.name])
            resume = self._resume.pop(key, None)
            if resume is not None:
                # In the mailbox before anything else can be: the re-run is recorded as
                # such, not as the poll that found the same revision.
                revision_sha, sync_id, saved = resume
                worker.mailbox.post(
                    Trigger(
                        "startup",
                        revision=revision_sha,
                        resumed_from=sync_id,
                        progress=json.dumps(saved) if saved else None,
                    )
                )
            if previous is not None:
                worker.status = previous.status
                worker.target = previous.target
                # Its app, cluster or source changed: sync what differs now, not at the
                # next commit (fleet.runtime.retries.ConfigResync).
                worker.resync.config_changed(worker.mailbox)
            scope = anyio.CancelScope()
            self.workers[key] = _WorkerSlot(worker, scope)
            self._tasks.start_soon(self._run_worker, scope, worker)
        if self._holds is not None:  # before the rollouts: they consult its windows
            self._holds.configure(config, {k: s.worker for k, s in self.workers.items()})
        # Rollouts and sources.
        for app in config.apps:
            workers = [s.worker for k, s in self.workers.items() if k[0] == app.name]
            self._rollouts.register(
                app.name, config.rollout_plan(app), workers, app.sync_policy.automated
            )
        for name in [n for n in self._rollouts.rollouts if n not in {a.name for a in config.apps}]:
            self._rollouts.forget(name)
        for scope in self._poller_scopes.values():
            scope.cancel()
        self._poller_scopes.clear()
        old_pollers, self.pollers = self.pollers, {}
        for source in config.sources:
            interval = (source.interval or settings.poll_interval).total_seconds()
            poller = SourcePoller(
                source, self._ctx.builder, interval, self._new_revision, self._event
            )
            previous_poller = old_pollers.get(source.name)
            if previous_poller is not None and previous_poller.source == source:
                poller.revision = previous_poller.revision
            self.pollers[source.name] = poller
            scope = anyio.CancelScope()
            self._poller_scopes[source.name] = scope
            self._tasks.start_soon(self._run_poller, scope, poller)
        self.config = config
        # An app this reload added starts from the commit its source is at now, without
        # waiting for the next one (a rollout ignores a commit it already has).
        for app in config.apps:
            poller_now = self.pollers.get(app.source)
            if poller_now is not None and poller_now.revision is not None:
                self._rollouts.new_revision(app.name, poller_now.revision, "config")

    async def _run_worker(self, scope: anyio.CancelScope, worker: Worker) -> None:
        with scope:
            await worker.run()

    async def _run_poller(self, scope: anyio.CancelScope, poller: SourcePoller) -> None:
        with scope:
            await poller.run()

    async def reload(self) -> bool:
        """Load the fleet config again; keep the running one if the new one is invalid."""
        self.notifier.reloading("reloading the fleet config")
        try:
            config = await anyio.to_thread.run_sync(load_fleet_config, self.config_path)
        except ConfigError as error:
            lines = [str(issue) for issue in error.errors]
            log.error(
                "config reload refused, keeping the running config:\n  %s", "\n  ".join(lines)
            )
            await self._event(
                "config_rejected",
                "; ".join(lines)[:4000],
                None,
                None,
                {"file": str(self.config_path)},
            )
            self.notifier.ready("config reload refused; running the previous config")
            return False
        assert self._ctx is not None
        builder = DesiredStateBuilder(
            config,
            self.settings.state_dir,
            renderer=self.renderer,
            timeouts=git_timeouts(self.settings),
            recent_trees=self.settings.kept_trees,
        )
        builder.remember_wanted_trees(self._ctx.builder)
        old_builder, self._ctx.builder = self._ctx.builder, builder
        await self._build(config)
        if self._rollouts is not None:
            self._rollouts.poke()  # sync windows may have changed
        self.notifications.configure(config)
        await old_builder.aclose()
        log.info("config reloaded: %d clusters, %d apps", len(config.clusters), len(config.apps))
        await self._event(
            "config_reloaded", "fleet config reloaded", None, None, {"file": str(self.config_path)}
        )
        self.notifier.ready(f"managing {len(self.workers)} app x cluster pairs")
        return True

    async def _app_left(self, worker: Worker, new: FleetConfig) -> None:
        """An app left a cluster: keep its objects, or delete them if its policy says so."""
        app, cluster = worker.app.name, worker.cluster.name
        policy = worker.app.deletion_policy
        reachable = cluster in {c.name for c in new.clusters}
        if policy == "delete" and not reachable:
            message = (
                f"app {app} left {cluster}, which is no longer in the config: its "
                "objects are kept (fleet cannot reach the cluster to delete them)"
            )
        elif policy == "delete":
            message = f"app {app} no longer targets {cluster}: deleting its objects"
        else:
            message = f"app {app} no longer targets {cluster}: its objects are kept"
        log.info(message)
        await self._event("app_removed", message, app, cluster, {"deletionPolicy": policy})
        if policy == "delete" and reachable:
            assert self._tasks is not None
            self._tasks.start_soon(self._delete_objects, worker)

    async def _delete_objects(self, worker: Worker) -> None:
        ok = await worker.delete_objects()
        state = "deleted" if ok else "could not all be deleted (see its history)"
        await self._event(
            "app_removed",
            f"objects of app {worker.app.name} {state}",
            worker.app.name,
            worker.cluster.name,
            {"deleted": ok},
        )

    # -- callbacks ---------------------------------------------------------------------

    def _new_revision(self, source: str, revision: Revision, reason: str) -> None:
        assert self.config is not None
        assert self._rollouts is not None
        for app in self.config.apps:
            if app.source == source:
                self._rollouts.new_revision(app.name, revision, reason)

    def _report(self, outcome: SyncOutcome) -> None:
        if self._rollouts is not None:
            self._rollouts.report(outcome)

    def _reachability(self, cluster: str, reachable: bool, message: str) -> None:
        assert self._tasks is not None
        kind = "cluster_reachable" if reachable else "cluster_unreachable"
        self._tasks.start_soon(
            self._event, kind, message or kind.replace("_", " "), None, cluster, {}
        )
        for (_, name), slot in self.workers.items():
            if name != cluster:
                continue
            if reachable:
                slot.worker.mailbox.post(Trigger("poll", detail="cluster reachable again"))
            else:
                # At once, not at the worker's next wake-up: nothing else may happen.
                runtime = self.clusters.get(cluster)
                since = runtime.reachability.since if runtime is not None else None
                slot.worker.status.mark_unreachable(since, message)

    async def _event(
        self,
        kind: str,
        message: str,
        app: str | None,
        cluster: str | None,
        details: Mapping[str, Any],
    ) -> None:
        self.telemetry.event(kind, app, cluster)
        if self.store is None:
            return
        event_id: int | None = None
        try:
            sync_id = details.get("sync_id")
            event_id = await self.store.add_event(
                kind,
                message,
                app=app,
                cluster=cluster,
                sync_id=sync_id if isinstance(sync_id, int) else None,
                details=dict(details),
            )
        except Exception:
            log.exception("could not record event %s", kind)
        try:
            self.notifications.submit(kind, message, app, cluster, details, event_id=event_id)
        except Exception:
            log.exception("could not queue notifications for event %s", kind)
        self._events_changed.set()
        self._events_changed = anyio.Event()

    # -- DaemonApi ---------------------------------------------------------------------

    def ready(self) -> tuple[bool, list[str]]:
        reasons = []
        if not self._started:
            reasons.append("starting")
        reasons += [
            f"source {n} not fetched yet"
            for n, p in self.pollers.items()
            if not p.fetched_once.is_set()
        ]
        if self._stopping:
            reasons.append("stopping")
        return not reasons, reasons

    async def status(self) -> list[JSON]:
        return [slot.worker.status.as_json() for _, slot in sorted(self.workers.items())]

    def _worker(self, app: str, cluster: str) -> Worker:
        slot = self.workers.get((app, cluster))
        if slot is None:
            raise ApiError(404, f"app {app} does not run on cluster {cluster}")
        return slot.worker

    def _workers_of(self, app: str, cluster: str | None) -> list[Worker]:
        if self.config is None or app not in {a.name for a in self.config.apps}:
            raise ApiError(404, f"no app named {app}")
        if cluster is not None:
            return [self._worker(app, cluster)]
        return [s.worker for k, s in sorted(self.workers.items()) if k[0] == app]

    async def diff(self, app: str, cluster: str | None) -> list[JSON]:
        out = []
        for worker in self._workers_of(app, cluster):
            out.append(await _diff_of(worker, self._secret_key))
        return out

    async def plan(self, app: str | None, revision: str | None, with_diff: bool) -> JSON:
        if self.config is None or self._ctx is None:
            raise ApiError(503, "the daemon is still starting")
        scope = PlanScope(
            config=self.config,
            workers={key: slot.worker for key, slot in self.workers.items()},
            fetched={name: poller.revision for name, poller in self.pollers.items()},
            builder=self._ctx.builder,
        )
        return await self.planner.plan(scope, app, revision, with_diff)

    async def history(
        self, app: str | None, cluster: str | None, limit: int, before: int | None
    ) -> list[JSON]:
        assert self.store is not None
        records = await self.store.history(app=app, cluster=cluster, limit=limit, before_id=before)
        return [r.as_json() for r in records]

    async def sync_detail(self, sync_id: int) -> JSON:
        assert self.store is not None
        try:
            detail = await self.store.sync_detail(sync_id)
        except KeyError:
            raise ApiError(404, f"no sync with id {sync_id}") from None
        return detail.as_json()

    async def events(
        self, since: int, app: str | None, cluster: str | None, limit: int
    ) -> list[JSON]:
        assert self.store is not None
        records = await self.store.events_after(since, limit=limit, app=app, cluster=cluster)
        return [r.as_json() for r in records]

    async def wait_for_events(self, since: int) -> None:
        changed = self._events_changed
        assert self.store is not None
        if await self.store.last_event_id() > since:
            return  # recorded between the caller's query and now
        await changed.wait()

    async def trigger_sync(
        self,
        app: str,
        cluster: str | None,
        revision: str | None,
        clear_pin: bool,
        dry_run: bool,
        confirm_prune: bool = False,
        force: bool = False,
        now: bool = False,
    ) -> JSON:
        assert self.store is not None
        assert self.config is not None
        workers = self._workers_of(app, cluster)
        if self._holds is not None and not dry_run:
            # Suspended, a closed window, a dependency not ready: refused, not queued.
            refusals = self._holds.manual_refusals(workers, force)
            if refusals:
                raise ApiError(409, "sync refused: " + "; ".join(refusals))
        if clear_pin or revision:
            # A pin or unpin moves the clusters in waves, like a commit (fleet.runtime.
            # rollout_api); with ``now`` every cluster syncs at once, as below.
            assert self._rollout_api is not None
            moved = await self._rollout_api.change_pins(
                app, cluster, workers, revision, clear_pin, dry_run=dry_run, now=now
            )
            if moved is not None and not now:
                return moved
        posted = []
        for worker in workers:
            trigger = Trigger("manual", dry_run=dry_run, confirm_prune=confirm_prune)
            posted.append((worker.cluster.name, worker.mailbox.post(trigger)))
        # Answer with each sync's id once it has started, so that a client can follow
        # it; a sync still waiting for its worker or a sync slot is answered without
        # one (the client finds it in history later).
        with anyio.move_on_after(MANUAL_START_WAIT):
            for _, trigger in posted:
                await trigger.reply.wait()
        queued = [
            {"cluster": name, "sync_id": trigger.reply[0] if trigger.reply else None}
            for name, trigger in posted
        ]
        return {"app": app, "queued": queued}

    async def suspend(self, app: str | None, cluster: str | None, reason: str) -> JSON:
        """``fleet suspend`` / ``fleet cluster suspend`` (fleet.runtime.holds)."""
        holds = self._scoped_holds(app, cluster)
        try:
            return await holds.suspend(app, cluster, reason)
        except HoldRefused as error:
            raise ApiError(409, str(error)) from None

    async def resume(self, app: str | None, cluster: str | None) -> JSON:
        holds = self._scoped_holds(app, cluster)
        try:
            return await holds.resume(app, cluster)
        except HoldRefused as error:
            raise ApiError(409, str(error)) from None

    def _scoped_holds(self, app: str | None, cluster: str | None) -> HoldBoard:
        if self._holds is None or self.config is None:
            raise ApiError(503, "the daemon is still starting")
        if app is not None:
            self._workers_of(app, cluster)  # 404 for an unknown app or cluster
        elif cluster not in {c.name for c in self.config.clusters}:
            raise ApiError(404, f"no cluster named {cluster}")
        return self._holds

    async def _resolve_revision(self, app: str, spec: str) -> Revision:
        """A revision (commit, tag or branch) of the app's source."""
        assert self.config is not None
        assert self._ctx is not None
        return await self._ctx.builder.resolve(self.config.source_of(self.config.app(app)), spec)

    async def rollout_status(self, app: str) -> JSON:
        assert self._rollout_api is not None
        return self._rollout_api.status(app)

    async def rollout_action(self, app: str, action: str) -> JSON:
        assert self._rollout_api is not None
        return await self._rollout_api.act(app, action)

    async def rollback(
        self,
        app: str,
        cluster: str | None,
        to_sync_id: int | None,
        revision: str | None,
        now: bool,
    ) -> JSON:
        """``fleet rollback`` (fleet.runtime.rollout_api)."""
        assert self._rollout_api is not None
        workers = self._workers_of(app, cluster)
        return await self._rollout_api.rollback(app, workers, to_sync_id, revision, now=now)

    def webhook_secrets(self, forge: str) -> list[bytes]:
        path = self.settings.webhook_secret_file
        if path is None:
            return []
        try:
            return [path.read_bytes().strip()]
        except OSError:
            log.error("cannot read the webhook secret file %s", path)
            return []

    async def push(self, push: Push) -> JSON:
        assert self.config is not None
        keys = {repository_key(url) for url in push.repository_urls}
        poked = []
        for name, poller in self.pollers.items():
            if not keys or repository_key(poller.source.url) in keys:
                poller.poke()
                poked.append(name)
        return {"sources": poked}

    def metrics(self) -> tuple[bytes, str]:
        return self.telemetry.metrics.exposition()

    def _metric_state(self) -> FleetState:
        """What the state gauges of /metrics show, read at scrape time."""
        statuses = [slot.worker.status for slot in self.workers.values()]
        slots = self._ctx.sync_slots.statistics() if self._ctx is not None else None
        return FleetState(
            apps=[
                AppClusterState(
                    s.app,
                    s.cluster,
                    s.sync,
                    s.health,
                    suspended=s.suspended,
                    held=str(s.hold["kind"]) if s.hold else "",
                )
                for s in statuses
            ],
            clusters={name: runtime.reachable for name, runtime in self.clusters.items()},
            reconciles_queued=sum(1 for s in self.workers.values() if s.worker.mailbox.pending()),
            syncs_waiting=slots.tasks_waiting if slots is not None else 0,
            syncs_running=self._ctx.running if self._ctx is not None else 0,
            notifications={n: asdict(s) for n, s in self.notifications.stats.items()},
        )


async def _diff_of(worker: Worker, key: bytes) -> JSON:
    cache = worker.runtime.cache
    items: list[JSON] = []
    for manifest in worker._tracked():
        live = cache.get(manifest.ref)
        applied = stamp(manifest.body, worker.app.name, manifest.ref)
        try:
            result = await worker.runtime.client.apply(applied, dry_run=True)
        except Exception as error:
            items.append({"object": str(manifest.ref), "error": str(error)})
            continue
        diff = compare(manifest.ref, result, live, worker._options().ignore_differences, key)
        if not diff.in_sync:
            items.append(
                {"object": str(manifest.ref), "text": diff.text, "patch": list(diff.patch)}
            )
    return {
        "app": worker.app.name,
        "cluster": worker.cluster.name,
        "revision": worker.status.target_revision,
        "objects": items,
    }


def _managers_named(config: FleetConfig) -> frozenset[str]:
    """Field managers whose fields some app's ignoreDifferences leaves alone."""
    return frozenset(
        manager
        for app in config.apps
        for rule in app.ignore_differences
        for manager in rule.managed_fields_managers
    )


def _same(old: FleetConfig, new: FleetConfig, what: str, name: str) -> bool:
    getter = {"cluster": FleetConfig.cluster, "app": FleetConfig.app, "source": FleetConfig.source}[
        what
    ]
    try:
        return bool(getter(old, name) == getter(new, name))
    except KeyError:
        return False


def _secret_digest_key(state_dir: Path) -> bytes:
    """A per-installation key for the digests that stand in for Secret values."""
    path = state_dir / "secret-digest.key"
    try:
        return path.read_bytes()
    except FileNotFoundError:
        key = secrets.token_bytes(32)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(key)
        return key


def monotonic() -> float:
    return time.monotonic()
