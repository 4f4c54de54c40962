"""Building and reloading the daemon's workers, cluster connections and pollers.

``_build`` turns a fleet config into running parts and, on a reload (SIGHUP or
``reload``), changes only what the new config changed: a worker whose app, cluster and
source are the same keeps running (and its status); a cluster connection whose
definition is the same is kept (its watch caches are costly to fill again). An app that
leaves a cluster keeps its objects or, with ``deletionPolicy: delete``, has them
deleted while the connection still exists. The callbacks wire workers, clusters and
pollers to the rollouts and the event log.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import anyio

from fleet.adapters.git import Revision
from fleet.adapters.health.validation import refuse_uncompilable_lua
from fleet.adapters.kube.client import ClusterClient, Limits
from fleet.adapters.kube.connection import ClusterEndpoint
from fleet.config import Cluster, ConfigError, ConfigIssue, FleetConfig, load_fleet_config
from fleet.engine.shards import ShardError
from fleet.runtime import values_from
from fleet.runtime.clusters import ClusterRuntime
from fleet.runtime.daemon_state import DaemonState, WorkerSlot
from fleet.runtime.desired import DesiredStateBuilder, git_timeouts
from fleet.runtime.health_checks import configure_health_checks, health_source_moved
from fleet.runtime.leadership import HaError
from fleet.runtime.mailbox import Trigger
from fleet.runtime.shards import owned_clusters
from fleet.runtime.sources import SourcePoller
from fleet.runtime.worker import SyncOutcome, Worker

log = logging.getLogger(__name__)


def endpoint_of(cluster: Cluster) -> ClusterEndpoint:
    return ClusterEndpoint(
        name=cluster.name,
        kubeconfig=cluster.kubeconfig,
        context=cluster.context,
        server=cluster.server,
        ca_file=cluster.ca_file,
        token_file=cluster.token_file,
    )


class FleetAssembly(DaemonState):
    """Builds the running parts from a config, and rebuilds what a reload changed."""

    #: This shard's clusters (None: no shards, every cluster).
    owned: frozenset[str] | None = None

    async def _build(self, config: FleetConfig) -> None:
        async with self.generated.lock:  # not while generators rebuild (_regenerate)
            await self._build_now(config)

    async def _build_now(self, config: FleetConfig) -> None:
        assert self._tasks is not None
        assert self._ctx is not None
        assert self._rollouts is not None
        settings = self.settings
        old_config = self.config if self._started else None
        # Workers: one per (app, targeted cluster); those no longer wanted go first, while
        # their cluster connection still exists (deletionPolicy: delete needs it).
        # With shards, only this shard's clusters (fleet.runtime.shards).
        self.owned = self._owned_clusters(config)
        owned = self.owned
        wanted: dict[tuple[str, str], tuple[Any, Cluster]] = {}
        for app in config.apps:
            for cluster in config.targets(app):
                if owned is None or cluster.name in owned:
                    wanted[(app.name, cluster.name)] = (app, cluster)
        for key in [k for k in self.workers if k not in wanted]:
            slot = self.workers.pop(key)
            slot.scope.cancel()
            slot.worker.unsubscribe()
            if owned is not None and _still_targeted(config, *key):
                log.info("%s on %s: the cluster is now another shard's", *key)
                continue  # its objects stay: the other shard's leader manages them now
            await self._app_left(slot.worker, config)
        # Clusters: keep those whose definition did not change. A manager newly named by
        # ignoreDifferences needs the managedFields the caches dropped: list them again.
        managers = _managers_named(config)
        for cluster in config.clusters:
            if owned is not None and cluster.name not in owned:
                continue
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
        kept = {c.name for c in config.clusters if owned is None or c.name in owned}
        for name in [n for n in self.clusters if n not in kept]:
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
            self.workers[key] = WorkerSlot(worker, scope)
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
        await configure_health_checks(self._ctx, config, self.pollers, self._tasks)
        # An app this reload added starts from the commit its source is at now, without
        # waiting for the next one (a rollout ignores a commit it already has).
        for app in config.apps:
            now = values_from.latest(app, {n: p.revision for n, p in self.pollers.items()})
            if now is not None:
                self._rollouts.new_revision(app.name, now, "config")

    def _owned_clusters(self, config: FleetConfig) -> frozenset[str] | None:
        """This shard's clusters (None without shards); HaError when the shards do not
        split the config's clusters exactly (every instance refuses alike)."""
        try:
            return owned_clusters(self.settings.ha, config)
        except ShardError as error:
            raise HaError(str(error)) from None

    def _shard_check(self, config: FleetConfig, where: str) -> None:
        """A reloaded config the shards do not split exactly is refused like bad YAML."""
        try:
            owned_clusters(self.settings.ha, config)
        except ShardError as error:
            raise ConfigError([ConfigIssue(where, 0, 0, (), str(error))]) from None

    async def _run_worker(self, scope: anyio.CancelScope, worker: Worker) -> None:
        with scope:
            await worker.run()

    async def _run_poller(self, scope: anyio.CancelScope, poller: SourcePoller) -> None:
        with scope:
            await poller.run()

    async def reload(self) -> bool:
        """Load the fleet config again; keep the running one if the new one is invalid.

        With a config source (fleet.runtime.config_source), fetch and check it now."""
        if self.config_watcher is not None:
            self.config_watcher.poke(revalidate=True)
            return True
        assert self.config_path is not None
        self.notifier.reloading("reloading the fleet config")
        try:
            config = await anyio.to_thread.run_sync(load_fleet_config, self.config_path)
            await anyio.to_thread.run_sync(refuse_uncompilable_lua, config)
            self._shard_check(config, str(self.config_path))
        except ConfigError as error:
            lines = [str(issue) for issue in error.errors]
            log.error(
                "config reload refused, keeping the running config:\n  %s", "\n  ".join(lines)
            )
            self.config_state.refused(None, error.errors)
            await self._event(
                "config_rejected",
                "; ".join(lines)[:4000],
                None,
                None,
                {"file": str(self.config_path)},
            )
            self.notifier.ready("config reload refused; running the previous config")
            return False
        await self._apply_config(config, {"file": str(self.config_path)})
        self.config_state.accepted(None)
        return True

    async def _apply_config(self, config: FleetConfig, origin: dict[str, Any]) -> None:
        """Put a checked config in force, rebuilding only what it changed (SIGHUP and
        the config source share this); ``origin`` goes into the config_reloaded event."""
        assert self._ctx is not None
        config = await self._with_generated(config)  # generated apps are apps
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
        await self._event("config_reloaded", "fleet config reloaded", None, None, origin)
        self.notifier.ready(f"managing {len(self.workers)} app x cluster pairs")

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

    # -- app generators (fleet.runtime.generation) -------------------------------------

    async def _with_generated(self, written: FleetConfig) -> FleetConfig:
        """``written`` with its generators' apps, listed at the sources' fetched revisions."""
        assert self._ctx is not None
        self.generated.written = written
        revisions = {
            name: poller.revision
            for name, poller in self.pollers.items()
            if poller.revision is not None and poller.source in written.sources
        }
        config, issues = await self.generated.expand(written, self._ctx.builder, revisions)
        await self.generated.report(config, issues, self._event)
        if self._holds is not None:  # a held removal's apps wait instead of failing
            self._holds.hold_generated(self.generated.hold_reasons())
        return config

    async def _first_generated(self, written: FleetConfig) -> FleetConfig:
        """At start: the apps the generators made before the last stop (SQLite), so that
        the expansion that follows (``_regenerate``) removes what vanished meanwhile by
        its deletion policy, as a running daemon would."""
        assert self.store is not None
        await self.generated.load(self.store, written)
        config = self.generated.restored(written)
        if self._holds is not None:
            self._holds.hold_generated(self.generated.hold_reasons())
        return config

    async def _regenerate(self) -> None:
        """A generator's source moved (or a held removal was confirmed): rebuild what the
        generated apps changed, as a reload would."""
        async with self.generated.lock:
            written = self.generated.written
            if written is None or self.config is None or self._stopping or self._ctx is None:
                return
            config = await self._with_generated(written)
            if config.apps == self.config.apps:
                return
            self._ctx.builder.config = config
            before = {app.name for app in self.config.apps}
            await self._build_now(config)
            now = {app.name for app in config.apps}
            log.info(
                "generated apps changed: %s added, %s removed",
                ", ".join(sorted(now - before)) or "none",
                ", ".join(sorted(before - now)) or "none",
            )

    # -- callbacks ---------------------------------------------------------------------

    def _new_revision(self, source: str, revision: Revision, reason: str) -> None:
        assert self.config is not None
        assert self._rollouts is not None
        if self._ctx is not None and self._tasks is not None:
            health_source_moved(self._ctx, source, revision, self._tasks)
        written = self.generated.written
        if written is not None and self.generated.uses(written, source):
            # Expand first: an app whose folder the commit removed must not try to sync it.
            assert self._tasks is not None
            self._tasks.start_soon(self._regenerate_then_release, source, reason)
            return
        self._release(source, reason)

    async def _regenerate_then_release(self, source: str, reason: str) -> None:
        await self._regenerate()
        if self.config is not None and self._rollouts is not None and not self._stopping:
            self._release(source, reason)

    def _release(self, source: str, reason: str) -> None:
        assert self.config is not None
        assert self._rollouts is not None
        fetched = {name: poller.revision for name, poller in self.pollers.items()}
        for app in self.config.apps:
            if app.source == source or source in app.values_sources():
                # With helm.valuesFrom, the app's revision pairs its sources' (values_from).
                composed = values_from.latest(app, fetched)
                if composed is not None:
                    self._rollouts.new_revision(app.name, composed, reason)

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


def _still_targeted(config: FleetConfig, app: str, cluster: str) -> bool:
    """The app still targets the cluster (which left this shard, not the app)."""
    try:
        return cluster in {c.name for c in config.targets(config.app(app))}
    except KeyError:
        return False


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
