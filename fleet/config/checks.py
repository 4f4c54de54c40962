"""Cross-reference checks: what no single entry can tell about itself.

Unknown or duplicate names, dependency cycles, path templates using a label that a
targeted cluster lacks, and rollouts that leave a cluster out or place it twice. The
checks run on whatever entries passed the schema, keyed by their index in the file, so
that one broken entry does not hide the mistakes in the others; names of entries that
failed the schema still count as known, so a typo in a cluster's labels does not also
produce "no cluster named ..." everywhere it is referenced.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from fleet.config.apps import App, repository_path
from fleet.config.clusters import Cluster
from fleet.config.issues import DocPath, Severity
from fleet.config.projects import Project
from fleet.config.rollouts import Rollout
from fleet.config.selectors import ClusterSelector, Operator
from fleet.config.sources import Source
from fleet.config.suggest import did_you_mean
from fleet.config.templates import TemplateError, expand, labels_used


@dataclass(frozen=True, slots=True)
class Finding:
    path: DocPath
    message: str
    severity: Severity = "error"


@dataclass(slots=True)
class FleetView:
    """The entries that passed the schema, with their index in the file."""

    clusters: list[tuple[int, Cluster]] = field(default_factory=list)
    sources: list[tuple[int, Source]] = field(default_factory=list)
    apps: list[tuple[int, App]] = field(default_factory=list)
    projects: list[tuple[int, Project]] = field(default_factory=list)
    rollout: Rollout | None = None
    #: Names written in each section, valid entries or not.
    names: dict[str, set[str]] = field(default_factory=dict)
    #: Every cluster entry passed the schema: coverage questions can be answered.
    clusters_complete: bool = True
    #: Apps that passed only after broken optional keys were dropped: names only.
    partial_apps: set[int] = field(default_factory=set)


def check_fleet(view: FleetView) -> list[Finding]:
    findings: list[Finding] = []
    for section, entries in (
        ("clusters", view.clusters),
        ("sources", view.sources),
        ("apps", view.apps),
    ):
        findings += _duplicates(section, [(i, e.name) for i, e in entries])
    clusters = [c for _, c in view.clusters]
    for index, app in view.apps:
        findings += _app_references(index, app, view)
        if view.clusters_complete and index not in view.partial_apps:
            findings += _app_targets(index, app, clusters)
    findings += _cycles(view.apps)
    if view.clusters_complete:
        findings += _fleet_rollout(view, clusters)
    return findings


def _duplicates(section: str, names: Iterable[tuple[int, str]]) -> list[Finding]:
    first: dict[str, int] = {}
    found: list[Finding] = []
    for index, name in names:
        if name in first:
            found.append(
                Finding(
                    (section, index, "name"),
                    f"duplicate name '{name}' (also {section}[{first[name]}])",
                )
            )
        else:
            first[name] = index
    return found


def _app_references(index: int, app: App, view: FleetView) -> list[Finding]:
    at: DocPath = ("apps", index)
    found: list[Finding] = []
    sources = view.names.get("sources", set())
    if app.source not in sources:
        found.append(
            Finding(
                (*at, "source"),
                f"no source named '{app.source}'{did_you_mean(app.source, sources)}",
            )
        )
    apps = view.names.get("apps", set())
    for position, dependency in enumerate(app.depends_on):
        if dependency == app.name:
            found.append(Finding((*at, "dependsOn", position), "an app cannot depend on itself"))
        elif dependency not in apps:
            found.append(
                Finding(
                    (*at, "dependsOn", position),
                    f"no app named '{dependency}'{did_you_mean(dependency, apps)}",
                )
            )
    clusters = view.names.get("clusters", set())
    found += _unknown_names(app.clusters, (*at, "clusters"), clusters)
    if app.rollout is not None:
        for w, wave in enumerate(app.rollout.waves):
            found += _unknown_names(
                wave.selector, (*at, "rollout", "waves", w, "selector"), clusters
            )
    found += _chart_references(at, app, view)
    if app.helm is not None:
        for name in app.helm.values_by_cluster:
            if name not in clusters:
                found.append(
                    Finding(
                        (*at, "helm", "valuesByCluster", name),
                        f"no cluster named '{name}'{did_you_mean(name, clusters)}",
                    )
                )
    return found


def _chart_references(at: DocPath, app: App, view: FleetView) -> list[Finding]:
    """A chart source's app renders the chart (``path: .``); each helm.valuesFrom names a
    known Git source (a chart source holds no values files)."""
    known = view.names.get("sources", set())
    charts = {source.name for _, source in view.sources if source.is_chart}
    found: list[Finding] = []
    if app.source in charts and app.path not in (".", ""):
        found.append(Finding((*at, "path"), "an app of a chart source renders the chart: path: ."))
    for i, item in enumerate(app.helm.values_from if app.helm else []):
        where: DocPath = (*at, "helm", "valuesFrom", i, "source")
        if item.source not in known:
            message = f"no source named '{item.source}'{did_you_mean(item.source, known)}"
            found.append(Finding(where, message))
        elif item.source in charts:
            found.append(Finding(where, f"'{item.source}' is a chart source; values come from Git"))
    return found


def _unknown_names(selector: ClusterSelector, at: DocPath, known: set[str]) -> list[Finding]:
    return [
        Finding((*at, "names", i), f"no cluster named '{name}'{did_you_mean(name, known)}")
        for i, name in enumerate(selector.names or [])
        if name not in known
    ]


def _app_targets(index: int, app: App, clusters: Sequence[Cluster]) -> list[Finding]:
    """Templates that need labels, and the app's own rollout, against its targets."""
    at: DocPath = ("apps", index)
    targets = app.clusters.select(clusters)
    found: list[Finding] = []
    if not targets and clusters and app.clusters.names is None:
        found.append(
            Finding(
                (*at, "clusters"),
                "selects no cluster, so the app is deployed nowhere"
                + _why_empty(app.clusters, clusters),
                "warning",
            )
        )
    templates: list[tuple[DocPath, str]] = [((*at, "path"), app.path)]
    if app.helm is not None:
        templates += [
            ((*at, "helm", "valuesFiles", i), item) for i, item in enumerate(app.helm.values_files)
        ]
        templates += [
            ((*at, "helm", "valuesFrom", i, "path"), item.path)
            for i, item in enumerate(app.helm.values_from)
        ]
    template_findings = [f for p, t in templates for f in _template_labels(p, t, targets)]
    found += template_findings
    if app.helm is not None and not template_findings:
        for i, item in enumerate(app.helm.values_files):
            for cluster in targets:
                try:
                    repository_path(
                        app.path_for(cluster), expand(item, cluster.name, cluster.labels)
                    )
                except TemplateError as exc:
                    found.append(Finding((*at, "helm", "valuesFiles", i), str(exc)))
                    break
    if app.rollout is not None:
        found += _coverage(
            app.rollout, (*at, "rollout"), targets, {c.name: [app.name] for c in targets}
        )
    return found


def _template_labels(path: DocPath, template: str, targets: Sequence[Cluster]) -> list[Finding]:
    found: list[Finding] = []
    for key in labels_used(template):
        lacking = [c.name for c in targets if not c.labels.get(key)]
        if lacking:
            names = ", ".join(f"'{name}'" for name in lacking)
            noun = "cluster" if len(lacking) == 1 else "clusters"
            known = {k for c in targets for k in c.labels}
            found.append(
                Finding(
                    path,
                    f"{noun} {names} targeted by this app {'has' if len(lacking) == 1 else 'have'} "
                    f"no label '{key}' (used by {{cluster.labels.{key}}})"
                    + did_you_mean(key, known),
                )
            )
    return found


def _fleet_rollout(view: FleetView, clusters: Sequence[Cluster]) -> list[Finding]:
    rollout = view.rollout
    if rollout is None:
        return []
    found: list[Finding] = []
    known = view.names.get("clusters", set())
    for w, wave in enumerate(rollout.waves):
        found += _unknown_names(wave.selector, ("rollout", "waves", w, "selector"), known)
    # Which apps follow the fleet rollout, per cluster they target.
    users: dict[str, list[str]] = defaultdict(list)
    for index, app in view.apps:
        if app.rollout is None and index not in view.partial_apps:
            for cluster in app.clusters.select(clusters):
                users[cluster.name].append(app.name)
    return found + _coverage(rollout, ("rollout",), list(clusters), users)


def _coverage(
    rollout: Rollout, at: DocPath, clusters: Sequence[Cluster], users: dict[str, list[str]]
) -> list[Finding]:
    """Every cluster in ``users`` in exactly one wave; no wave empty; no cluster twice."""
    found: list[Finding] = []
    holder: dict[str, str] = {}
    for w, wave in enumerate(rollout.waves):
        selected = wave.selector.select(clusters)
        where = (*at, "waves", w, "selector")
        if not selected and wave.selector.names is None:
            found.append(
                Finding(
                    where,
                    f"wave '{wave.name}' selects no cluster{_why_empty(wave.selector, clusters)}",
                )
            )
        for cluster in selected:
            if cluster.name in holder:
                found.append(
                    Finding(
                        where,
                        f"cluster '{cluster.name}' is in wave '{holder[cluster.name]}' and in "
                        f"wave '{wave.name}'; a cluster belongs to exactly one wave",
                    )
                )
            else:
                holder[cluster.name] = wave.name
    for cluster in clusters:
        apps = users.get(cluster.name)
        if apps and cluster.name not in holder:
            found.append(
                Finding(
                    (*at, "waves"),
                    f"cluster '{cluster.name}' (targeted by {', '.join(apps)}) is in no wave; "
                    "add a wave that selects it",
                )
            )
    return found


def _why_empty(selector: ClusterSelector, clusters: Sequence[Cluster]) -> str:
    """Why a label selector matches nothing, with the nearest label or value that exists."""
    label_values: dict[str, set[str]] = defaultdict(set)
    for cluster in clusters:
        for key, value in cluster.labels.items():
            label_values[key].add(value)
    wanted = [(k, [v]) for k, v in selector.match_labels.items()]
    wanted += [
        (r.key, list(r.values)) for r in selector.match_expressions if r.operator is Operator.IN
    ]
    wanted += [(r.key, []) for r in selector.match_expressions if r.operator is Operator.EXISTS]
    for key, values in wanted:
        if key not in label_values:
            return f": no cluster has a label '{key}'{did_you_mean(key, label_values)}"
        missing = [v for v in values if v not in label_values[key]]
        if missing and len(missing) == len(values):
            value = missing[0]
            return f": no cluster has {key}={value}{did_you_mean(value, label_values[key])}"
    return ""


def _cycles(apps: Sequence[tuple[int, App]]) -> list[Finding]:
    by_name = {app.name: (index, app) for index, app in apps}
    state: dict[str, int] = {}  # 1: on the current path, 2: finished
    found: list[Finding] = []

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        index, app = by_name[name]
        for position, dependency in enumerate(app.depends_on):
            if dependency not in by_name or dependency == name:
                continue
            if state.get(dependency) == 1:
                cycle = [*path[path.index(dependency) :], name, dependency]
                found.append(
                    Finding(
                        ("apps", index, "dependsOn", position),
                        f"dependency cycle: {' -> '.join(cycle)}",
                    )
                )
            elif dependency not in state:
                visit(dependency, [*path, name])
        state[name] = 2

    for _, app in apps:
        if app.name not in state:
            visit(app.name, [])
    return found
