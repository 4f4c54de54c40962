"""Cross-reference checks of projects: what each app asks against the project it joins.

An app that names an unknown project, renders from a source its project does not allow,
targets a cluster outside its project's clusters, or has a namespace outside its
project's namespaces is refused at load time, each with the line of the app's key. The
objects it renders are checked later, at every sync (fleet.engine.bounds).
"""

from __future__ import annotations

from collections.abc import Sequence

from fleet.config.apps import App
from fleet.config.checks import Finding, FleetView
from fleet.config.clusters import Cluster
from fleet.config.issues import DocPath
from fleet.config.projects import Project, is_glob
from fleet.config.suggest import did_you_mean

_DOCS = "see docs/config.md, Projects"


def check_projects(view: FleetView, *, warn_unbounded: bool = False) -> list[Finding]:
    """Findings for the projects and for each app's project; warnings for apps with none
    when ``warn_unbounded`` (``fleet validate``)."""
    found: list[Finding] = []
    first: dict[str, int] = {}
    for index, project in view.projects:
        if project.name in first:
            found.append(
                Finding(
                    ("projects", index, "name"),
                    f"duplicate name '{project.name}' (also projects[{first[project.name]}])",
                )
            )
        first.setdefault(project.name, index)
        found += _project_references(index, project, view)
    projects = {project.name: project for _, project in reversed(view.projects)}
    known = view.names.get("projects", set())
    clusters = [c for _, c in view.clusters]
    for index, app in view.apps:
        at: DocPath = ("apps", index)
        if app.project is None:
            if warn_unbounded:
                found.append(
                    Finding(
                        (*at, "name"),
                        f"app '{app.name}' belongs to no project: it may write any object into "
                        f"any namespace of its clusters (give it a project; {_DOCS})",
                        "warning",
                    )
                )
            continue
        if app.project not in known:
            found.append(
                Finding(
                    (*at, "project"),
                    f"no project named '{app.project}'{did_you_mean(app.project, known)}",
                )
            )
            continue
        joined = projects.get(app.project)
        if joined is None:
            continue  # the project entry itself is broken; its own errors say why
        found += _app_in_project(index, app, joined, view, clusters)
    return found


def _project_references(index: int, project: Project, view: FleetView) -> list[Finding]:
    at: DocPath = ("projects", index)
    found: list[Finding] = []
    sources = view.names.get("sources", set())
    for i, name in enumerate(project.sources):
        if not is_glob(name) and name not in sources:
            found.append(
                Finding(
                    (*at, "sources", i), f"no source named '{name}'{did_you_mean(name, sources)}"
                )
            )
    clusters = view.names.get("clusters", set())
    for i, name in enumerate(project.clusters.names or []):
        if name not in clusters:
            found.append(
                Finding(
                    (*at, "clusters", "names", i),
                    f"no cluster named '{name}'{did_you_mean(name, clusters)}",
                )
            )
    return found


def _app_in_project(
    index: int, app: App, project: Project, view: FleetView, clusters: Sequence[Cluster]
) -> list[Finding]:
    at: DocPath = ("apps", index)
    name = f"project '{project.name}'"
    found: list[Finding] = []
    if not project.allows_source(app.source):
        found.append(
            Finding(
                (*at, "source"),
                f"source '{app.source}' is not allowed by {name} "
                f"(sources: {', '.join(project.sources) or 'none'})",
            )
        )
    if app.namespace is not None and not project.allows_namespace(app.namespace):
        found.append(
            Finding(
                (*at, "namespace"),
                f"namespace '{app.namespace}' is outside the namespaces of {name} "
                f"({', '.join(project.namespaces) or 'none'})",
            )
        )
    if view.clusters_complete and index not in view.partial_apps:
        outside = [c.name for c in app.clusters.select(clusters) if not project.clusters.matches(c)]
        if outside:
            noun = "cluster" if len(outside) == 1 else "clusters"
            found.append(
                Finding(
                    (*at, "clusters"),
                    f"{noun} {', '.join(repr(n) for n in outside)} targeted by this app "
                    f"{'is' if len(outside) == 1 else 'are'} outside {name} "
                    f"(clusters: {project.clusters.describe()})",
                )
            )
    return found
