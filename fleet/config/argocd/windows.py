"""An AppProject's sync windows as fleet's top-level ``syncWindows``.

An Argo CD window belongs to a project: it covers that project's apps only, and, unless
``andOperator`` is set, an app matching any one of its ``applications``, ``clusters`` or
``namespaces``. fleet's windows are fleet-wide and AND their selectors. So each window
names the project's apps (the imported ones it matches) in ``applications``, and a window
whose selectors Argo CD ORs becomes one fleet window per selector, all on the same
schedule, which together cover what the one window covered.
"""

from __future__ import annotations

from collections.abc import Mapping
from fnmatch import fnmatchcase
from typing import Any

from fleet.config.argocd.clusters import ClusterRegistry
from fleet.config.argocd.entries import Entry, Origin, fleet_name, mapping, text

_SELECTORS = ("applications", "clusters", "namespaces")


def project_windows(
    project: Entry, windows: Any, project_apps: list[str], clusters: ClusterRegistry
) -> list[Entry]:
    """fleet windows for the ``syncWindows`` of the AppProject ``project`` came from."""
    out: list[Entry] = []
    for index, raw in enumerate(windows or ()):
        window = mapping(raw)
        base = f"{project.data['name']}-{index}"
        origin = Origin(
            project.origin.file,
            project.origin.line,
            "AppProject",
            f"{project.origin.name} syncWindows[{index}]",
        )
        common: dict[str, Any] = {
            "kind": text(window.get("kind")),
            "schedule": text(window.get("schedule")),
            "duration": text(window.get("duration")),
        }
        if window.get("timeZone"):
            common["timeZone"] = text(window.get("timeZone"))
        if window.get("manualSync") is True:
            common["manualSync"] = True
        given = {key: [text(v) for v in window.get(key) or ()] for key in _SELECTORS}
        given = {key: values for key, values in given.items() if values}
        if not given:
            project.note(f"syncWindows[{index}]: not carried (it selects no app)")
            continue
        if window.get("andOperator") or len(given) == 1:
            parts = [given]
        else:
            parts = [{key: values} for key, values in given.items()]
        for part in parts:
            names = _apps(part.get("applications"), project_apps)
            if not names:
                project.note(f"syncWindows[{index}]: no imported app of the project matches it")
                continue
            suffix = "" if len(parts) == 1 else "-" + next(iter(part))
            entry = Entry({"name": fleet_name(base + suffix), **common}, origin)
            entry.data["applications"] = names
            if "clusters" in part:
                entry.data["clusters"] = [_cluster(c, clusters) for c in part["clusters"]]
            if "namespaces" in part:
                entry.data["namespaces"] = part["namespaces"]
            if len(parts) > 1:
                entry.note("one of the fleet windows this Argo CD window ORs together")
            entry.note("applications: the project's apps at import time: add new ones here")
            out.append(entry)
        for key in ("syncOverrun", "description"):
            if key in window:
                project.note(f"syncWindows[{index}].{key}: not carried")
    return out


def _apps(patterns: list[str] | None, project_apps: list[str]) -> list[str]:
    if not patterns:
        return list(project_apps)
    return [name for name in project_apps if any(fnmatchcase(name, p) for p in patterns)]


def _cluster(pattern: str, clusters: ClusterRegistry) -> str:
    """A window's cluster (an Argo CD name or server, or a glob) as a fleet cluster name."""
    for known in (clusters.argo_names(), clusters.servers()):
        if pattern in known:
            return known[pattern]
    return pattern


def windows_by_project(apps: list[Entry]) -> Mapping[str, list[str]]:
    """Fleet project name -> names of the imported apps in it."""
    out: dict[str, list[str]] = {}
    for app in apps:
        project = app.data.get("project")
        if isinstance(project, str):
            out.setdefault(project, []).append(str(app.data["name"]))
    return out
