"""Sync windows in the fleet config (top-level ``syncWindows``), in Argo CD's shape.

Each window is ``kind`` (allow or deny), a five-field cron ``schedule``, a ``duration``,
a ``timeZone`` (IANA name, default UTC) and ``manualSync`` (may ``fleet sync`` run while
the window blocks automated syncs). Which app x cluster pairs it covers:

- ``applications``: app name globs (``web``, ``team-a-*``);
- ``clusters``: cluster name globs;
- ``clusterSelector``: cluster labels (``matchLabels`` / ``matchExpressions``);
- ``namespaces``: globs of the app's ``namespace``.

Every list given must match (an AND); a list left out matches everything, so a window
with none of them covers the whole fleet. Argo CD ORs ``applications``, ``clusters`` and
``namespaces`` unless ``andOperator`` is set; fleet always ANDs, because a window per
(app, cluster) is what a fleet needs ("no web deploys to prod on Fridays"). The
evaluation itself (given the time) is ``fleet.engine.windows``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from fnmatch import fnmatchcase
from typing import Any, Literal

from pydantic import Field, field_validator
from pydantic_core import PydanticCustomError

from fleet.config.apps import App
from fleet.config.base import ConfigModel
from fleet.config.checks import Finding
from fleet.config.clusters import Cluster
from fleet.config.selectors import ClusterSelector
from fleet.config.suggest import did_you_mean
from fleet.config.types import Name, PositiveDuration
from fleet.engine import windows as engine
from fleet.engine.windows import WindowError

_GLOB = re.compile(r"^[A-Za-z0-9*?\[\]!._-]{1,253}$")


def _globs(values: list[str], what: str) -> list[str]:
    for value in values:
        if not _GLOB.match(value):
            raise PydanticCustomError(
                "glob",
                "invalid {what} pattern {shown}: a name, or a glob with * and ?",
                {"what": what, "shown": repr(value)},
            )
    return values


class SyncWindow(ConfigModel):
    """One allow or deny window; see the module docstring for how it selects."""

    kind: Literal["allow", "deny"]
    schedule: str
    duration: PositiveDuration
    name: Name | None = None
    time_zone: str = "UTC"
    manual_sync: bool = False
    applications: list[str] = Field(default_factory=list)
    clusters: list[str] = Field(default_factory=list)
    namespaces: list[str] = Field(default_factory=list)
    cluster_selector: ClusterSelector | None = None

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, value: str) -> str:
        try:
            engine.check_schedule(value)
        except WindowError as error:
            raise PydanticCustomError("schedule", str(error)) from None
        return value

    @field_validator("time_zone")
    @classmethod
    def _time_zone(cls, value: str) -> str:
        try:
            engine.zone(value)
        except WindowError as error:
            raise PydanticCustomError("time_zone", str(error)) from None
        return value

    @field_validator("applications")
    @classmethod
    def _applications(cls, value: list[str]) -> list[str]:
        return _globs(value, "application")

    @field_validator("clusters")
    @classmethod
    def _clusters(cls, value: list[str]) -> list[str]:
        return _globs(value, "cluster")

    @field_validator("namespaces")
    @classmethod
    def _namespaces(cls, value: list[str]) -> list[str]:
        return _globs(value, "namespace")

    def covers(self, app: App, cluster: Cluster) -> bool:
        """Does this window apply to ``app`` on ``cluster``? (every given list must match)"""
        if self.applications and not _any(self.applications, app.name):
            return False
        if self.clusters and not _any(self.clusters, cluster.name):
            return False
        if self.namespaces and not _any(self.namespaces, app.namespace or ""):
            return False
        return self.cluster_selector is None or self.cluster_selector.matches(cluster)

    def engine_window(self, index: int) -> engine.SyncWindow:
        return engine.SyncWindow(
            name=self.name or f"syncWindows[{index}]",
            kind=self.kind,
            schedule=self.schedule,
            duration=self.duration,
            time_zone=self.time_zone,
            manual_sync=self.manual_sync,
        )


def _any(patterns: Sequence[str], name: str) -> bool:
    return any(fnmatchcase(name, pattern) for pattern in patterns)


def windows_for(
    windows: Sequence[SyncWindow], app: App, cluster: Cluster
) -> list[engine.SyncWindow]:
    """The windows that apply to ``app`` on ``cluster``, ready for the engine."""
    return [w.engine_window(i) for i, w in enumerate(windows) if w.covers(app, cluster)]


def check_windows(entries: Any, names: dict[str, set[str]]) -> list[Finding]:
    """Duplicate window names (errors) and plain names that match nothing (warnings)."""
    if not isinstance(entries, list):
        return []
    found: list[Finding] = []
    seen: dict[str, int] = {}
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            continue
        name = entry.get("name")
        if isinstance(name, str):
            if name in seen:
                found.append(
                    Finding(
                        ("syncWindows", index, "name"),
                        f"duplicate window name '{name}' (also syncWindows[{seen[name]}])",
                    )
                )
            seen.setdefault(name, index)
        for key, section in (("applications", "apps"), ("clusters", "clusters")):
            values = entry.get(key)
            if not isinstance(values, list):
                continue
            known = names.get(section, set())
            for position, value in enumerate(values):
                plain = isinstance(value, str) and bool(_GLOB.match(value))
                if plain and not any(c in value for c in "*?[") and value not in known:
                    found.append(
                        Finding(
                            ("syncWindows", index, key, position),
                            f"no {section[:-1]} named '{value}'{did_you_mean(value, known)}: "
                            "this entry matches nothing",
                            "warning",
                        )
                    )
    return found
