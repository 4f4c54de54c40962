"""The state the daemon's parts share: its lifecycle, its assembly and its API.

``Daemon`` (fleet.runtime.daemon) is built from mixins, one idea each: the lifecycle
(run, signals, stop, upkeep), the assembly that builds and reloads workers, clusters and
pollers (fleet.runtime.assembly), and the HTTP API's answers (fleet.runtime.api). They
all read and write the attributes declared here, so each is type-checked against one
declaration instead of stubs repeated in every part. Recording an event and resolving a
revision live here too: every part needs them.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
from anyio.abc import TaskGroup

from fleet import __version__
from fleet.adapters.git import Revision
from fleet.adapters.store import AsyncHistoryStore
from fleet.adapters.systemd import SystemdNotifier
from fleet.adapters.telemetry.config_metrics import ConfigMetrics
from fleet.adapters.telemetry.context import Telemetry
from fleet.config import FleetConfig, Settings
from fleet.runtime.clusters import ClusterRuntime
from fleet.runtime.config_source import ConfigSourceWatcher, ConfigState
from fleet.runtime.fleet_view import CommitBook
from fleet.runtime.generation import GeneratedApps
from fleet.runtime.high_availability import HighAvailability
from fleet.runtime.holds import HoldBoard
from fleet.runtime.notifications import NotificationDispatcher
from fleet.runtime.plan import FleetPlanner
from fleet.runtime.rendering import renderer_for
from fleet.runtime.rollout_api import RolloutApi
from fleet.runtime.rollouts import RolloutCoordinator
from fleet.runtime.sources import SourcePoller
from fleet.runtime.worker import Worker, WorkerContext

log = logging.getLogger(__name__)


@dataclass
class WorkerSlot:
    """A running worker and the scope that stops it (on reload or removal)."""

    worker: Worker
    scope: anyio.CancelScope


class DaemonState:
    """What the daemon holds; ``Daemon`` adds what it does (see the module docstring)."""

    def __init__(self, settings: Settings, config_path: Path | None) -> None:
        self.settings = settings
        #: The local config file; None when the config comes from ``config_source``.
        self.config_path = config_path
        self.config: FleetConfig | None = None
        self.store: AsyncHistoryStore | None = None
        self.clusters: dict[str, ClusterRuntime] = {}
        self.workers: dict[tuple[str, str], WorkerSlot] = {}
        self.pollers: dict[str, SourcePoller] = {}
        self._poller_scopes: dict[str, anyio.CancelScope] = {}
        self._tasks: TaskGroup | None = None
        self._ctx: WorkerContext | None = None
        self._rollouts: RolloutCoordinator | None = None
        #: Leader election, replication and shards, when the settings ask for them.
        self._ha: HighAvailability | None = None
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
        #: Which fleet config is in force, and the newest refusal (fleet.runtime.config_source).
        self.config_state = ConfigState(
            config_path, settings.config_source, ConfigMetrics(self.telemetry.metrics.registry)
        )
        #: Follows ``config_source`` when the settings name one (set up by the daemon).
        self.config_watcher: ConfigSourceWatcher | None = None
        #: What app generators made, and their holds (fleet.runtime.generation).
        self.generated = GeneratedApps()
        #: Renders in processes bounded by settings.render; its cache outlives reloads.
        self.renderer = renderer_for(settings)
        #: Commit subjects and authors the dashboard shows, looked up once each.
        self.commits = CommitBook(self._resolve_revision)

    async def _event(
        self,
        kind: str,
        message: str,
        app: str | None,
        cluster: str | None,
        details: Mapping[str, Any],
    ) -> None:
        """Count, record and notify an event, then wake the streams waiting for one.

        Never raises: a store or notification failure must not fail the sync or reload
        that reported the event."""
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

    async def _resolve_revision(self, app: str, spec: str) -> Revision:
        """A revision (commit, tag or branch) of the app's source (and its valuesFrom's)."""
        assert self.config is not None
        assert self._ctx is not None
        from fleet.runtime import values_from

        config = self.config
        return await values_from.resolve(self._ctx.builder, config, config.app(app), spec)
