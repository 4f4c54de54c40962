"""The fleet config (clusters, sources, apps, rollouts) and the daemon settings.

``load_fleet_config(path)`` gives a :class:`FleetConfig` or raises :class:`ConfigError`
listing every problem with its file, line and column; ``load_settings(path)`` does the
same for the daemon settings (file plus ``FLEET_*`` environment). See docs/config.md.
"""

from __future__ import annotations

from fleet.config.apps import App, HelmInputs, HelmSettings, SyncPolicy
from fleet.config.clusters import Cluster
from fleet.config.fleet import FleetConfig
from fleet.config.issues import ConfigError, ConfigIssue
from fleet.config.loader import check_fleet_config, load_fleet_config
from fleet.config.options import sync_options
from fleet.config.rollouts import ResolvedWave, Rollout, Wave
from fleet.config.selectors import ClusterSelector
from fleet.config.settings import ListenAddress, Settings, load_settings
from fleet.config.sources import Source, SourceAuth, SourceVerify
from fleet.config.templates import TemplateError

__all__ = [
    "App",
    "Cluster",
    "ClusterSelector",
    "ConfigError",
    "ConfigIssue",
    "FleetConfig",
    "HelmInputs",
    "HelmSettings",
    "ListenAddress",
    "ResolvedWave",
    "Rollout",
    "Settings",
    "Source",
    "SourceAuth",
    "SourceVerify",
    "SyncPolicy",
    "TemplateError",
    "Wave",
    "check_fleet_config",
    "load_fleet_config",
    "load_settings",
    "sync_options",
]
