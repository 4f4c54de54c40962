"""Checks of app generators: when the config is loaded, and on every expansion.

At load time a list generator is expanded in full (its entries are in the file), and a
Git-directory generator once with a sample directory, so that a template error (an
unknown key, a placeholder a generator does not give, a source that does not exist) is
refused with the config, pointing at the template's field. Generated apps then pass the
same cross-reference checks as written ones (fleet.config.checks), their findings moved
onto the generator's template; at run time an app failing them is not applied (it keeps
what it was, if it was).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fleet.config.apps import App
from fleet.config.checks import Finding, FleetView, check_fleet
from fleet.config.expansion import (
    SAMPLE_DIRECTORY,
    Entry,
    Expanded,
    GeneratorIssue,
    Merged,
    entries_of,
    expand_entries,
    merge,
)
from fleet.config.fleet import FleetConfig
from fleet.config.project_checks import check_projects
from fleet.config.suggest import did_you_mean


def check_generators(config: FleetConfig, context: Mapping[str, Any]) -> list[Finding]:
    """Every problem of the config's generators that can be known without Git."""
    found: list[Finding] = []
    apps = {app.name for app in config.apps}
    sources = {source.name for source in config.sources}
    first: dict[str, int] = {}
    expanded: dict[str, Expanded] = {}
    for index, generator in enumerate(config.generators):
        at = ("generators", index)
        if generator.name in first:
            found.append(
                Finding(
                    (*at, "name"),
                    f"duplicate name '{generator.name}' (also generators[{first[generator.name]}])",
                )
            )
            continue
        first[generator.name] = index
        if generator.name in apps:
            found.append(
                Finding(
                    (*at, "name"),
                    f"an app is named '{generator.name}' too: give the generator its own name "
                    "(fleet sync NAME --confirm-prune must name one thing)",
                )
            )
        charts = {s.name for s in config.sources if getattr(s, "chart", None) is not None}
        if generator.source in charts:
            found.append(
                Finding(
                    (*at, "gitDirectories", "source"),
                    f"source '{generator.source}' is a Helm chart source: gitDirectories "
                    "lists the directories of a Git source",
                )
            )
        elif generator.source is not None and generator.source not in sources:
            found.append(
                Finding(
                    (*at, "gitDirectories", "source"),
                    f"no source named '{generator.source}'"
                    + did_you_mean(generator.source, sources),
                )
            )
        entries = entries_of(generator, None) if generator.elements is not None else [_sample()]
        expanded[generator.name] = expand_entries(generator, index, entries, context)
        if generator.elements is None:  # a list generator's come with the merge below
            found += [Finding(i.path, i.message) for i in expanded[generator.name].issues]
    static = [g for g in config.generators if g.elements is not None and g.name in expanded]
    merged = merge(config.apps, static, {g.name: expanded[g.name] for g in static})
    found += [Finding(i.path, i.message) for i in merged.issues]
    origins = [(g, app) for g in static for app in merged.generated[g.name].values()]
    origins += [
        (g, app)
        for g in config.generators
        if g.elements is None and g.name in expanded
        for app in expanded[g.name].apps.values()
    ]
    for (generator, _), findings in zip(
        origins, _cross_findings(config, [app for _, app in origins]), strict=True
    ):
        index = config.generators.index(generator)
        found += [_moved(index, f) for f in findings]
    return found


def check_generated(
    merged: Merged,
    config: FleetConfig,
    previous: Mapping[str, Mapping[str, App]] | None = None,
) -> None:
    """Refuse generated apps that fail the cross-reference checks (in place).

    A refused app keeps what it was before, if it was; its findings join the issues.
    """
    previous = previous or {}
    pairs = [
        (g, app) for g in config.generators for app in merged.generated.get(g.name, {}).values()
    ]
    results = _cross_findings(config, [app for _, app in pairs])
    changed = False
    for (generator, app), findings in zip(pairs, results, strict=True):
        errors = [f for f in findings if f.severity == "error"]
        if not errors:
            continue
        index = config.generators.index(generator)
        for finding in errors:
            moved = _moved(index, finding)
            merged.issues.append(
                GeneratorIssue(
                    generator.name,
                    moved.path,
                    f"generator {generator.name}, app {app.name}: {moved.message}",
                )
            )
        mine = merged.generated[generator.name]
        before = previous.get(generator.name, {}).get(app.name)
        if before is not None:
            mine[app.name] = before
        else:
            del mine[app.name]
        changed = True
    if changed:
        generated = [
            a for g in config.generators for a in merged.generated.get(g.name, {}).values()
        ]
        merged.apps = [*config.apps, *generated]


def _sample() -> Entry:
    return Entry(
        f"a directory such as {SAMPLE_DIRECTORY}",
        {"path": SAMPLE_DIRECTORY, "path.basename": SAMPLE_DIRECTORY.rsplit("/", 1)[1]},
    )


def _cross_findings(config: FleetConfig, generated: Sequence[App]) -> list[list[Finding]]:
    """The cross-reference findings of each generated app (duplicates are merge's job)."""
    written = list(config.apps)
    all_apps = [*written, *generated]
    view = FleetView(
        clusters=list(enumerate(config.clusters)),
        sources=list(enumerate(config.sources)),
        apps=list(enumerate(all_apps)),
        projects=list(enumerate(config.projects)),
        names={
            "clusters": {c.name for c in config.clusters},
            "sources": {s.name for s in config.sources},
            "apps": {a.name for a in all_apps},
            "projects": {p.name for p in config.projects},
        },
    )
    per_app: list[list[Finding]] = [[] for _ in generated]
    for finding in [*check_fleet(view), *check_projects(view)]:
        path = finding.path
        if len(path) < 2 or path[0] != "apps" or not isinstance(path[1], int):
            continue
        if path[1] < len(written) or finding.message.startswith("duplicate"):
            continue
        per_app[path[1] - len(written)].append(finding)
    if config.rollout is not None:
        waves = config.rollout.waves
        in_waves = {c.name for wave in waves for c in wave.selector.select(config.clusters)}
        for index, app in enumerate(generated):
            outside = [
                c.name
                for c in config.targets(app)
                if app.rollout is None and c.name not in in_waves
            ]
            if outside:
                per_app[index].append(
                    Finding(
                        ("apps", index, "clusters"),
                        f"app {app.name} targets {', '.join(outside)}, in no wave of the "
                        "fleet's rollout; add a wave that selects them",
                    )
                )
    return per_app


def _moved(index: int, finding: Finding) -> Finding:
    """A finding on ``apps[i].x`` moved to ``generators[index].template.x``."""
    return Finding(
        ("generators", index, "template", *finding.path[2:]), finding.message, finding.severity
    )
