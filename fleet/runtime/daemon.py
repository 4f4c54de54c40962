"""``fleet run``: the daemon that keeps every cluster matching Git.

Wiring only: settings and config in, then one anyio task group holding the HTTP API,
a watch set per cluster, a worker per (app, cluster), a poller per source and the
rollout coordinator. Signals: SIGTERM/SIGINT stop gracefully (syncs in flight get up to
``shutdown_timeout`` to finish, then are recorded Interrupted); SIGHUP reloads the fleet
config, replacing only the workers whose app, cluster or source changed, and keeps the
old config when the new one is invalid (with ``config_source``, the config comes from Git
and SIGHUP fetches it now: fleet.runtime.config_source).

This module holds the lifecycle (run, signals, stop, retention, memory); building and
reloading live in fleet.runtime.assembly, the HTTP API's answers in fleet.runtime.api,
and the state they share in fleet.runtime.daemon_state.
"""

from __future__ import annotations

import gc
import logging
import os
import secrets
import signal
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio

from fleet.adapters.health.validation import refuse_uncompilable_lua
from fleet.adapters.http.address import ApiAddress
from fleet.adapters.http.dashboard import DashboardOptions
from fleet.adapters.http.routes import ApiAccess
from fleet.adapters.http.server import build_app, serve
from fleet.adapters.store import DEFAULT_FILE_NAME, AsyncHistoryStore
from fleet.adapters.store.files import private_directory
from fleet.config import ConfigError, FleetConfig, Settings, load_fleet_config
from fleet.runtime.api import DaemonApiAnswers
from fleet.runtime.assembly import FleetAssembly
from fleet.runtime.config_source import config_watcher_for
from fleet.runtime.desired import DesiredStateBuilder, git_timeouts
from fleet.runtime.high_availability import HighAvailability
from fleet.runtime.holds import HoldBoard
from fleet.runtime.host_watch import watch_host_files
from fleet.runtime.rollout_api import RolloutApi
from fleet.runtime.rollouts import RolloutCoordinator
from fleet.runtime.worker import WorkerContext

log = logging.getLogger(__name__)


class Daemon(FleetAssembly, DaemonApiAnswers):
    """Runs until stopped; also answers the HTTP API (it implements ``DaemonApi``)."""

    def __init__(self, settings: Settings, config_path: Path | None) -> None:
        super().__init__(settings, config_path)
        self.telemetry.metrics.watch_state(self._metric_state)
        self.config_watcher = config_watcher_for(settings, self.config_state, self._event)
        if self.config_watcher is not None:
            self.config_watcher.apply = self._apply_config_commit

    # -- lifecycle ---------------------------------------------------------------------

    async def run(self) -> None:
        async with self.telemetry.running(self.settings.otel):
            await self._run()

    async def _run(self) -> None:
        settings = self.settings
        if self.config_path is not None:
            self.config = refuse_uncompilable_lua(load_fleet_config(self.config_path))
        # Everything loaded so far lives as long as the daemon: keep the collector off it.
        gc.freeze()
        state_dir = settings.state_dir
        access = ApiAccess.from_settings(settings)  # unreadable or empty token files stop here
        private_directory(state_dir)  # 0700 whatever the umask
        self._secret_key = _secret_digest_key(state_dir)
        if settings.ha is None:
            await self._run_active(access)
            return
        # One of several instances: stand by until this one leads (high_availability.py).
        if self.config is not None:  # shards that do not split the clusters: no start
            self._owned_clusters(self.config)
        db_path = state_dir / DEFAULT_FILE_NAME
        async with HighAvailability.open(settings, self.config, db_path) as ha:
            self._ha = ha
            waited = await ha.stand_by(ApiAddress.parse(settings.api_address))
            log.info("leading as %s after %.1fs on standby", settings.ha.identity, waited)
            await ha.lead(lambda: self._run_active(access))

    async def _run_active(self, access: ApiAccess) -> None:
        """The daemon proper: the only instance, or the leader."""
        settings = self.settings
        state_dir = settings.state_dir
        ha = self._ha
        replicated = ha is not None and ha.litestream is not None
        async with await AsyncHistoryStore.open(
            state_dir / DEFAULT_FILE_NAME, autocheckpoint=not replicated
        ) as store:
            self.store = store
            if self.config_watcher is not None:  # the first fetch, before anything is built
                self.config = await self.config_watcher.first_config()
                store.config_revision = self.config_state.revision_sha
            assert self.config is not None
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
                if ha is not None:  # every write inside the leader's term; a takeover
                    self._ctx.fence = ha.fence  # checks each restored inventory first
                    self._ctx.takeover = True
                runner = await serve(
                    build_app(
                        self,
                        access,
                        store,
                        DashboardOptions(trace_url=settings.dashboard_trace_url),
                    ),
                    ApiAddress.parse(settings.api_address),
                )
                try:
                    self._resume = {
                        (r.app, r.cluster): (r.revision, r.id, r.progress) for r in interrupted
                    }
                    self.generated.wake = lambda: tasks.start_soon(self._regenerate)
                    if settings.config_source is not None:  # generated apps' host files too
                        dirs = settings.config_source.allowed_dirs(settings.state_dir)
                        self.generated.credential_dirs = dirs
                    self.config = await self._first_generated(self.config)
                    await self._build(self.config)
                    tasks.start_soon(self._regenerate)  # expand again, from the restored state
                    tasks.start_soon(self._signals)
                    tasks.start_soon(self._retention)
                    if ha is not None and ha.link is not None:  # rollouts across shards
                        tasks.start_soon(
                            ha.link.run,
                            self._rollouts.rollouts,
                            lambda: self.owned or frozenset(),
                            self._rollouts.remote_progress,
                        )
                    tasks.start_soon(self._release_memory)
                    every = settings.poll_interval.total_seconds()
                    tasks.start_soon(watch_host_files, self.workers, every)
                    if self.config_watcher is not None:
                        tasks.start_soon(self.config_watcher.run)
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
                        if self.config_watcher is not None:
                            await self.config_watcher.aclose()

    async def _apply_config_commit(self, config: FleetConfig, origin: dict[str, Any]) -> None:
        """A config source commit passed its checks: syncs from now on record it."""
        if self._stopping:
            return
        try:
            self._shard_check(config, f"config commit {origin.get('revision')}")
        except ConfigError as error:  # every instance refuses it alike; keep the old one
            message = "; ".join(str(issue) for issue in error.errors)
            log.error("config commit refused, keeping the running config: %s", message)
            await self._event("config_rejected", message[:4000], None, None, origin)
            return
        if self.store is not None:
            self.store.config_revision = origin.get("revision")
        await self._apply_config(config, origin)

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

    async def _release_memory(self, every: float = 30.0, again_after: float | None = None) -> None:
        """Once a burst of syncs is over, give the C heap's free pages back (see heap); once
        more ``again_after`` s later, when the burst's idle connections have closed (by
        default, their keep-alive and a period later).

        No full garbage collection here: closed connections are freed as they close (the
        HTTP pool leaves no reference cycle behind), and at 1,000 clusters a full
        collection held the event loop still for 1.45 s after each burst.
        """
        from fleet.adapters.heap import release_free_heap
        from fleet.adapters.kube.transport import KEEPALIVE

        assert self._ctx is not None
        again_after = KEEPALIVE + every if again_after is None else again_after
        released_after = -1
        again_at: float | None = None
        while True:
            await anyio.sleep(every)
            if self._ctx.running:
                continue
            if self._ctx.ended != released_after:
                released_after = self._ctx.ended
                again_at = anyio.current_time() + again_after
            elif again_at is not None and anyio.current_time() >= again_at:
                again_at = None
            else:
                continue
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
