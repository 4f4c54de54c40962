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
from fleet.adapters.kube.client import ClusterClient, Limits
from fleet.adapters.kube.connection import ClusterEndpoint
from fleet.config import Cluster, ConfigError, FleetConfig, load_fleet_config
from fleet.runtime.clusters import ClusterRuntime
from fleet.runtime.daemon_state import DaemonState, WorkerSlot
from fleet.runtime.desired import DesiredStateBuilder, git_timeouts
from fleet.runtime.mailbox import Trigger
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
