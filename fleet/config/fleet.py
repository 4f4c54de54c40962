"""The fleet config as a whole, and the questions the daemon asks of it.

The model holds only what was written; what follows from it (which clusters an app
targets, its path and Helm values per cluster, its waves, the order apps depend on each
other) is computed by the methods below, so there is one answer to each question.
Load a config with :func:`fleet.config.loader.load_fleet_config`, which also runs the
cross-reference checks that a single model cannot (unknown sources, cycles, coverage).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, PrivateAttr

from fleet.config.apps import App
from fleet.config.base import ConfigModel
from fleet.config.clusters import Cluster
from fleet.config.generators import Generator
from fleet.config.health_checks import HealthChecks
from fleet.config.issues import ConfigIssue
from fleet.config.notifications import Notifications
from fleet.config.projects import Project
from fleet.config.rollouts import ResolvedWave, Rollout, resolve_waves, rollout_plan
from fleet.config.sources import Source
from fleet.config.windows import SyncWindow
from fleet.engine.rollout import RolloutPlan


class FleetConfig(ConfigModel):
    clusters: list[Cluster] = Field(default_factory=list)
    sources: list[Source] = Field(default_factory=list)
    apps: list[App] = Field(default_factory=list)
    #: The fleet-wide rollout; an app's own ``rollout`` replaces it for that app.
    rollout: Rollout | None = None
    #: Where alerts go and which events (see docs/notifications.md).
    notifications: Notifications | None = None
    #: Bounds apps belong to (``apps[].project``; see fleet.config.projects).
    projects: list[Project] = Field(default_factory=list)
    #: Allow and deny windows for syncs (see docs/config.md, fleet.config.windows).
    sync_windows: list[SyncWindow] = Field(default_factory=list)
    #: Templates that make apps from directories or lists (fleet.config.generators).
    generators: list[Generator] = Field(default_factory=list)
    #: Fleet-wide Lua health checks, as Argo CD writes them (fleet.config.health_checks).
    health: HealthChecks = Field(default_factory=HealthChecks)

    _file: Path | None = PrivateAttr(default=None)
    _warnings: list[ConfigIssue] = PrivateAttr(default_factory=list)
    #: Where its includes may reach, and how issues name the file (fleet.config.loader).
    _root: Path | None = PrivateAttr(default=None)
    _name: str | None = PrivateAttr(default=None)

    @property
    def file(self) -> Path | None:
        """The file this config was loaded from, if any."""
        return self._file

    @property
    def warnings(self) -> list[ConfigIssue]:
        """Problems that did not stop the config from loading."""
        return list(self._warnings)

    def cluster(self, name: str) -> Cluster:
        for cluster in self.clusters:
            if cluster.name == name:
                return cluster
        raise KeyError(name)

    def source(self, name: str) -> Source:
        for source in self.sources:
            if source.name == name:
                return source
        raise KeyError(name)

    def app(self, name: str) -> App:
        for app in self.apps:
            if app.name == name:
                return app
        raise KeyError(name)

    def targets(self, app: App) -> list[Cluster]:
        """The clusters ``app`` is deployed to, in config order."""
        return app.clusters.select(self.clusters)

    def source_of(self, app: App) -> Source:
        return self.source(app.source)

    def project_of(self, app: App) -> Project | None:
        """The app's project, or None when it has none (the loader refuses unknown names)."""
        if app.project is None:
            return None
        for project in self.projects:
            if project.name == app.project:
                return project
        raise KeyError(app.project)

    def rollout_for(self, app: App) -> Rollout | None:
        """The app's own rollout, else the fleet-wide one, else None (one wave of all)."""
        return app.rollout if app.rollout is not None else self.rollout

    def waves_for(self, app: App) -> list[ResolvedWave]:
        """The app's targeted clusters, wave by wave, empty waves included."""
        return resolve_waves(self.rollout_for(app), self.targets(app))

    def rollout_plan(self, app: App) -> RolloutPlan:
        """The engine's rollout plan for the app (non-empty waves only)."""
        return rollout_plan(self.rollout_for(app), self.targets(app))

    def apps_in_dependency_order(self) -> list[App]:
        """Every app after the apps it depends on; ties keep config order.

        The loader refuses cycles, so every app appears exactly once.
        """
        by_name = {app.name: app for app in self.apps}
        ordered: list[App] = []
        done: set[str] = set()

        def visit(app: App, path: tuple[str, ...]) -> None:
            if app.name in done or app.name in path:
                return
            for dependency in app.depends_on:
                if dependency in by_name:
                    visit(by_name[dependency], (*path, app.name))
            done.add(app.name)
            ordered.append(app)

        for app in self.apps:
            visit(app, ())
        return ordered
