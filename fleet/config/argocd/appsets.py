"""Argo CD ApplicationSets as fleet apps and generators.

- ``list``: the elements are known, so each becomes the fleet app its element makes.
- ``clusters``: one fleet app whose ``clusters`` is the generator's label selector (fleet
  deploys one app to many clusters where Argo CD made one Application per cluster);
  ``{{name}}`` and ``{{metadata.labels.K}}`` become ``{cluster.name}`` and
  ``{cluster.labels.K}`` in paths, and Helm values that use them become
  ``valuesByCluster`` for the imported clusters the selector picks.
- ``git`` directories: a fleet generator (``generators[].gitDirectories``) whose template
  sees ``{path}`` and ``{path.basename}``.

Other generators (matrix, merge, SCM provider, pull request, Git files, ...) are noted,
not imported. Placeholders may be written ``{{key}}`` or, with ``goTemplate``, ``{{.key}}``;
a Go template with functions or pipes is not evaluated.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

from fleet.config.argocd.applications import ImportContext, Placement, convert_application
from fleet.config.argocd.entries import Entry, Origin, fleet_name, mapping, text
from fleet.config.argocd.sources import RevisionError
from fleet.config.selectors import ClusterSelector

_PLACEHOLDER = re.compile(r"\{\{-?\s*\.?([A-Za-z0-9_.\[\]-]+)\s*-?\}\}")
_ANY_TEMPLATE = re.compile(r"\{\{.*?\}\}")
_LABEL_USE = re.compile(r"\{cluster\.labels\.([^{}]+)\}")
Resolver = Callable[[str], Any]


def substitute(template: Any, resolve: Resolver, unresolved: set[str]) -> Any:
    """``template`` with each ``{{key}}`` that ``resolve`` knows replaced; the rest kept
    and collected in ``unresolved``."""
    if isinstance(template, Mapping):
        return {key: substitute(value, resolve, unresolved) for key, value in template.items()}
    if isinstance(template, list):
        return [substitute(item, resolve, unresolved) for item in template]
    if not isinstance(template, str) or "{{" not in template:
        return template

    def one(match: re.Match[str]) -> str:
        value = resolve(match.group(1))
        if value is None:
            unresolved.add(match.group(0))
            return match.group(0)
        return text(value)

    result = _PLACEHOLDER.sub(one, template)
    unresolved.update(m.group(0) for m in _ANY_TEMPLATE.finditer(result) if "{{" in m.group(0))
    return result


def _lookup(values: Mapping[str, Any], key: str) -> Any:
    """``a.b.c`` in nested ``values`` (a flat key with dots first, as Argo CD does)."""
    if key in values and not isinstance(values[key], Mapping):
        return values[key]
    node: Any = values
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return None if isinstance(node, Mapping | list) else node


def convert_application_set(
    body: Mapping[str, Any], origin: Origin, ctx: ImportContext
) -> tuple[list[Entry], list[Entry]]:
    """(fleet apps, fleet generators) for one ApplicationSet."""
    spec = mapping(body.get("spec"))
    template = {
        "metadata": mapping(mapping(spec.get("template")).get("metadata")),
        "spec": mapping(mapping(spec.get("template")).get("spec")),
    }
    apps: list[Entry] = []
    generators: list[Entry] = []
    for key in ("syncPolicy", "strategy", "templatePatch", "ignoreApplicationDifferences"):
        if key in spec:
            ctx.skipped.append(
                f"{origin}: spec.{key}: not carried (fleet rolls out by its own rollout "
                "waves and keeps generated apps with its generator's prune guard)"
            )
    for index, generator in enumerate(spec.get("generators") or ()):
        generator = mapping(generator)
        where = Origin(origin.file, origin.line, origin.kind, f"{origin.name} generators[{index}]")
        if "list" in generator:
            apps += _list(mapping(generator["list"]), template, where, ctx)
        elif "clusters" in generator:
            app = _clusters(mapping(generator["clusters"]), template, where, ctx)
            if app is not None:
                apps.append(app)
        elif "git" in generator and mapping(generator["git"]).get("directories"):
            found = _git_directories(mapping(generator["git"]), template, where, ctx, origin.name)
            if found is not None:
                generators.append(found)
        else:
            kinds = ", ".join(sorted(generator)) or "empty"
            ctx.skipped.append(
                f"{where}: not imported: generator {kinds} (fleet imports list, clusters and "
                "Git directory generators)"
            )
    return apps, generators


def _list(
    generator: Mapping[str, Any], template: dict[str, Any], where: Origin, ctx: ImportContext
) -> list[Entry]:
    out = []
    for number, element in enumerate(generator.get("elements") or ()):
        element = mapping(element)
        unresolved: set[str] = set()
        body = substitute(template, partial(_lookup, element), unresolved)
        origin = Origin(where.file, where.line, where.kind, f"{where.name} elements[{number}]")
        if unresolved:
            ctx.skipped.append(
                f"{origin}: not imported: {', '.join(sorted(unresolved))} not given by the element"
            )
            continue
        app = convert_application(body, origin, ctx)
        if app is not None:
            out.append(app)
    if generator.get("template") or generator.get("elementsYaml"):
        ctx.skipped.append(f"{where}: list template/elementsYaml: not carried")
    return out


def _clusters(
    generator: Mapping[str, Any], template: dict[str, Any], where: Origin, ctx: ImportContext
) -> Entry | None:
    values = mapping(generator.get("values"))

    def resolve(key: str) -> Any:
        if key in ("name", "nameNormalized"):
            return "{cluster.name}"
        if key.startswith("metadata.labels."):
            return "{cluster.labels." + key.removeprefix("metadata.labels.") + "}"
        if key.startswith("values."):
            return _lookup(values, key.removeprefix("values."))
        return None

    written_name = text(mapping(template["metadata"]).get("name"))
    body = copy.deepcopy(template)
    destination = mapping(body["spec"].get("destination"))
    body["spec"]["destination"] = {"namespace": destination.get("namespace", "")}
    unresolved: set[str] = set()
    body = substitute(body, resolve, unresolved)
    if unresolved:
        ctx.skipped.append(
            f"{where}: not imported: {', '.join(sorted(unresolved))} has no fleet equivalent"
        )
        return None
    selector = mapping(generator.get("selector"))
    clusters = {
        key: selector[key] for key in ("matchLabels", "matchExpressions") if selector.get(key)
    }
    name = text(mapping(body["metadata"]).get("name"))
    appset = where.name.split(" ")[0]
    if "{cluster." in name:
        body["metadata"] = {**mapping(body["metadata"]), "name": appset}
    why = (
        f"Argo CD made one Application per cluster ({written_name}); fleet deploys this app "
        "to every cluster the generator's selector picks"
    )
    labels = sorted(set(_LABEL_USE.findall(repr(body["spec"].get("source")))))
    if labels:
        # fleet refuses a path template naming a label a targeted cluster lacks (Argo CD
        # would render an empty segment): the selector asks for the labels too.
        clusters["matchExpressions"] = [
            *clusters.get("matchExpressions", []),
            *({"key": key, "operator": "Exists"} for key in labels),
        ]
    app = convert_application(body, where, ctx, Placement(clusters or None, why))
    if app is not None:
        if labels:
            app.note(f"the selector also needs the labels the path uses: {', '.join(labels)}")
        _values_by_cluster(app, clusters, ctx)
    return app


def _values_by_cluster(app: Entry, selector: Mapping[str, Any], ctx: ImportContext) -> None:
    """Helm values that name the cluster become ``valuesByCluster`` (fleet expands
    placeholders in paths only)."""
    helm = app.data.get("helm")
    if not isinstance(helm, dict) or "{cluster." not in repr(helm.get("values")):
        return
    chooser = ClusterSelector.model_validate(dict(selector))
    per_cluster: dict[str, Any] = {}
    for name, entry in ctx.clusters.entries.items():
        labels = mapping(entry.data.get("labels"))
        if not chooser.matches(_Labelled(name, labels)):
            continue
        missing: set[str] = set()
        filled = substitute(
            _to_argo(helm["values"]),
            partial(_cluster_value, name=name, labels=labels),
            missing,
        )
        if not missing:
            per_cluster[name] = _templated_only(filled, helm["values"])
    helm["values"] = _without_templated(helm["values"])
    if not helm["values"]:
        del helm["values"]
    if per_cluster:
        helm["valuesByCluster"] = per_cluster
    app.note(
        "Helm values naming the cluster are written per imported cluster "
        "(valuesByCluster): add a cluster there when you add one",
        "helm",
    )


class _Labelled:
    def __init__(self, name: str, labels: Mapping[str, str]) -> None:
        self.name = name
        self.labels = labels


def _to_argo(values: Any) -> Any:
    """fleet's ``{cluster.X}`` placeholders back to ``{{X}}`` for substitution."""
    if isinstance(values, Mapping):
        return {k: _to_argo(v) for k, v in values.items()}
    if isinstance(values, list):
        return [_to_argo(v) for v in values]
    if isinstance(values, str):
        return re.sub(r"\{(cluster\.[A-Za-z0-9_./-]+)\}", r"{{\1}}", values)
    return values


def _cluster_value(key: str, name: str, labels: Mapping[str, str]) -> str | None:
    if key == "cluster.name":
        return name
    if key.startswith("cluster.labels."):
        return labels.get(key.removeprefix("cluster.labels."))
    return None


def _templated_only(filled: Any, original: Any) -> Any:
    """The parts of ``filled`` whose original held a cluster placeholder."""
    if isinstance(original, Mapping):
        out = {}
        for key, value in original.items():
            if "{cluster." in repr(value):
                out[key] = _templated_only(filled[key], value)
        return out
    return filled


def _without_templated(values: Any) -> Any:
    if isinstance(values, Mapping):
        kept = {}
        for key, value in values.items():
            if "{cluster." not in repr(value):
                kept[key] = value
            elif isinstance(value, Mapping):
                inner = _without_templated(value)
                if inner:
                    kept[key] = inner
        return kept
    return values


def _git_directories(
    generator: Mapping[str, Any],
    template: dict[str, Any],
    where: Origin,
    ctx: ImportContext,
    appset: str,
) -> Entry | None:
    def resolve(key: str) -> Any:
        mapped = {
            "path": "{path}",
            "path.path": "{path}",
            "path.basename": "{path.basename}",
            "path.basenameNormalized": "{path.basename}",
        }
        return mapped.get(key)

    unresolved: set[str] = set()
    body = substitute(template, resolve, unresolved)
    if unresolved:
        ctx.skipped.append(
            f"{where}: not imported: {', '.join(sorted(unresolved))} has no fleet equivalent "
            "(a Git directory generator gives {path} and {path.basename})"
        )
        return None
    try:
        source = ctx.sources.source_for(
            text(generator.get("repoURL")), text(generator.get("revision")), where
        )
    except RevisionError as exc:
        ctx.skipped.append(f"{where}: not imported: {exc}")
        return None
    include = [
        text(d.get("path")) for d in map(mapping, generator["directories"]) if not d.get("exclude")
    ]
    exclude = [
        text(d.get("path")) for d in map(mapping, generator["directories"]) if d.get("exclude")
    ]
    app = convert_application(body, where, ctx)
    if app is None:
        return None
    ctx.app_names.discard(str(app.data["name"]))
    name = fleet_name(appset)
    spec: dict[str, Any] = {"source": source, "include": include}
    if exclude:
        spec["exclude"] = exclude
    entry = Entry({"name": name, "gitDirectories": spec, "template": app.data}, where)
    entry.notes.extend(app.notes)
    for key in ("files", "pathParamPrefix", "requeueAfterSeconds", "values", "template"):
        if key in generator:
            entry.note(f"git.{key}: not carried", "gitDirectories")
    return entry
