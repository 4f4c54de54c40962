"""An Argo CD Application as a fleet app.

What maps: the source (repository, revision, path, Helm or Kustomize or plain), the
destination (a cluster and the app's namespace), ``syncPolicy`` (automated with prune,
selfHeal and allowEmpty; retry; the sync options fleet has at app level),
``ignoreDifferences`` (but jq expressions), the project, and the resources finalizer
(``deletionPolicy: delete``). Everything else gets a note saying what and why.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from fleet.config.apps import deep_merge
from fleet.config.argocd.clusters import ClusterRegistry
from fleet.config.argocd.entries import ArgoImportError, Entry, Origin, fleet_name, mapping, text
from fleet.config.argocd.options import (
    apply_retry,
    apply_sync_options,
    helm_parameters,
    ignore_differences,
)
from fleet.config.argocd.sources import RevisionError, SourceRegistry

#: Parses YAML text bounded against hostile input; (text, where) -> value.
YamlParser = Callable[[str, str], Any]
RESOURCES_FINALIZER = "resources-finalizer.argocd.argoproj.io"
_HELM_NOT_CARRIED = {
    "fileParameters": "fleet reads no files outside the repository for values",
    "passCredentials": "fleet renders vendored charts only",
    "ignoreMissingValueFiles": "a missing values file is an error in fleet",
    "skipCrds": "fleet installs a chart's crds/ first, always",
    "skipSchemaValidation": "fleet always checks values.schema.json",
    "skipTests": "fleet never runs test hooks",
    "version": "fleet renders with its own Helm",
    "namespace": "the app's namespace is used",
    "kubeVersion": "not supported",
    "apiVersions": "not supported",
}
_KUSTOMIZE_NOTE = "fleet builds the kustomization as written: add it to kustomization.yaml"
_DIRECTORY_NOT_CARRIED = {
    "include": "fleet reads every manifest file below the path",
    "exclude": "fleet reads every manifest file below the path",
    "jsonnet": "fleet does not render Jsonnet",
}
_KNOWN_SPEC = {
    "project",
    "source",
    "sources",
    "destination",
    "syncPolicy",
    "ignoreDifferences",
}
_PLACEHOLDER = re.compile(r"\{[^{}]*\}")


@dataclass(slots=True)
class ImportContext:
    """What converting one Application needs from the rest of the import."""

    clusters: ClusterRegistry
    sources: SourceRegistry
    parse_yaml: YamlParser
    #: Argo CD names of the AppProjects imported.
    projects: set[str] = field(default_factory=set)
    #: Fleet app (and generator) names already given.
    app_names: set[str] = field(default_factory=set)
    #: Notes about whole objects that could not be imported.
    skipped: list[str] = field(default_factory=list)
    #: An app is in Argo CD's built-in project ``default`` and no AppProject of that
    #: name was imported: the import writes one as open as Argo CD's.
    default_project_used: bool = False


@dataclass(frozen=True, slots=True)
class Placement:
    """Where a templated app goes when a generator, not a destination, decides."""

    #: The fleet ``clusters`` selector, or None for every cluster.
    clusters: Mapping[str, Any] | None
    #: What the template's destination server/name were replaced by (for the note).
    why: str


def convert_application(
    body: Mapping[str, Any],
    origin: Origin,
    ctx: ImportContext,
    placement: Placement | None = None,
) -> Entry | None:
    """The fleet app for one Application, or None (with a note in ``ctx.skipped``)."""
    meta = mapping(body.get("metadata"))
    spec = mapping(body.get("spec"))
    argo_name = text(meta.get("name"))
    if not argo_name:
        raise ArgoImportError(f"{origin}: metadata.name is missing")
    source, extra_notes = _single_source(spec, origin)
    if source is None:
        ctx.skipped.append(f"{origin}: not imported: {extra_notes[0]}")
        return None
    try:
        source_name = ctx.sources.source_for(
            text(source.get("repoURL")), text(source.get("targetRevision")), origin
        )
    except RevisionError as exc:
        ctx.skipped.append(f"{origin}: not imported: {exc}")
        return None
    name = _app_name(argo_name, ctx)
    entry = Entry({"name": name}, origin)
    if name != argo_name:
        entry.note(f"Argo CD name '{argo_name}' is not free or not a fleet name", "name")
    for note in extra_notes:
        entry.note(note, "source")
    _project(entry, text(spec.get("project")) or "default", ctx)
    entry.data["source"] = source_name
    entry.data["path"] = text(source.get("path")) or "."
    _renderer(entry, source, ctx)
    _destination(entry, mapping(spec.get("destination")), ctx, placement)
    _sync_policy(entry, mapping(spec.get("syncPolicy")))
    ignored = ignore_differences(spec.get("ignoreDifferences"), entry)
    if ignored:
        entry.data["ignoreDifferences"] = ignored
    if any(str(f).startswith(RESOURCES_FINALIZER) for f in meta.get("finalizers") or ()):
        entry.data["deletionPolicy"] = "delete"
    for key in sorted(set(spec) - _KNOWN_SPEC):
        entry.note(f"spec.{key}: not carried (fleet has no such setting)")
    for key in ("labels", "annotations"):
        for item in sorted(mapping(meta.get(key))):
            entry.note(f"metadata.{key}.{item}: not carried (fleet apps have no {key})")
    return entry


def _app_name(argo_name: str, ctx: ImportContext) -> str:
    name = argo_name if _PLACEHOLDER.search(argo_name) else fleet_name(argo_name)
    if name in ctx.app_names:
        number = 2
        while f"{name}-{number}" in ctx.app_names:
            number += 1
        name = f"{name}-{number}"
    ctx.app_names.add(name)
    return name


def _single_source(
    spec: Mapping[str, Any], origin: Origin
) -> tuple[Mapping[str, Any] | None, list[str]]:
    """The one source fleet renders, or None and why; notes about sources left out."""
    if "source" in spec:
        source = mapping(spec.get("source"))
        extra: list[Any] = []
    else:
        sources = [mapping(s) for s in spec.get("sources") or ()]
        usable = [s for s in sources if not s.get("chart") and s.get("path") is not None]
        if not usable:
            usable = sources
        if not usable:
            return None, [f"{origin.kind} has no source"]
        source, extra = usable[0], [s for s in sources if s is not usable[0]]
    if source.get("chart"):
        return None, [
            f"Helm chart {text(source.get('chart'))!r} from a chart repository: fleet "
            "renders charts kept in Git (vendor the chart into a repository)"
        ]
    if not text(source.get("repoURL")):
        return None, ["the source has no repoURL"]
    notes = [
        f"spec.sources: {text(s.get('repoURL'))} (ref {text(s.get('ref')) or '-'}) not "
        "carried: a fleet app renders one source (make another app of it)"
        for s in extra
    ]
    if source.get("plugin") is not None:
        notes.append("source.plugin: not carried (fleet renders plain, Kustomize and Helm)")
    return source, notes


def _project(entry: Entry, project: str, ctx: ImportContext) -> None:
    if project in ctx.projects:
        entry.data["project"] = fleet_name(project)
    elif project == "default":
        entry.data["project"] = "default"
        ctx.default_project_used = True
    else:
        entry.note(f"project {project}: its AppProject was not imported; the app is unbounded")


def _renderer(entry: Entry, source: Mapping[str, Any], ctx: ImportContext) -> None:
    helm = mapping(source.get("helm"))
    kustomize = mapping(source.get("kustomize"))
    directory = mapping(source.get("directory"))
    if "helm" in source:
        entry.data["renderer"] = "helm"
        settings = _helm(entry, helm, ctx)
        if settings:
            entry.data["helm"] = settings
    elif "kustomize" in source:
        entry.data["renderer"] = "kustomize"
        for key in sorted(kustomize):
            entry.note(f"source.kustomize.{key}: not carried ({_KUSTOMIZE_NOTE})", "renderer")
    elif "directory" in source:
        entry.data["renderer"] = "plain"
        if not directory.get("recurse"):
            entry.note("fleet reads subdirectories too (Argo CD's recurse: true)", "renderer")
        for key, why in _DIRECTORY_NOT_CARRIED.items():
            if key in directory:
                entry.note(f"source.directory.{key}: not carried ({why})", "renderer")


def _helm(entry: Entry, helm: Mapping[str, Any], ctx: ImportContext) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if helm.get("releaseName"):
        out["releaseName"] = text(helm["releaseName"])
    files = []
    for item in helm.get("valueFiles") or ():
        value = text(item)
        if value.startswith(("$", "http://", "https://", "/")):
            entry.note(f"helm valueFiles {value}: not carried (outside the repository)", "helm")
        else:
            files.append(value)
    if files:
        out["valuesFiles"] = files
    values: dict[str, Any] = {}
    raw = helm.get("values")
    if isinstance(raw, str) and raw.strip():
        parsed = ctx.parse_yaml(raw, f"{entry.origin}: spec.source.helm.values")
        if not isinstance(parsed, Mapping):
            raise ArgoImportError(f"{entry.origin}: spec.source.helm.values is not a mapping")
        values = dict(parsed)
    elif isinstance(raw, Mapping):
        values = dict(raw)
    values = deep_merge(values, mapping(helm.get("valuesObject")))
    values = deep_merge(values, helm_parameters(helm.get("parameters"), entry))
    if values:
        out["values"] = values
    for key, why in _HELM_NOT_CARRIED.items():
        if key in helm:
            entry.note(f"source.helm.{key}: not carried ({why})", "helm")
    return out


def _destination(
    entry: Entry,
    destination: Mapping[str, Any],
    ctx: ImportContext,
    placement: Placement | None,
) -> None:
    namespace = text(destination.get("namespace"))
    if "{cluster." in namespace:
        entry.note(f"destination.namespace {namespace}: a namespace per cluster is not carried")
    elif namespace:
        entry.data["namespace"] = namespace
    if placement is not None:
        if placement.clusters is not None:
            entry.data["clusters"] = dict(placement.clusters)
        entry.note(placement.why, "clusters" if placement.clusters is not None else None)
        return
    cluster, note = ctx.clusters.resolve(
        text(destination.get("server")), text(destination.get("name"))
    )
    entry.data["clusters"] = {"names": [cluster]}
    if note is not None:
        entry.note(note, "clusters")


def _sync_policy(entry: Entry, policy: Mapping[str, Any]) -> None:
    out: dict[str, Any] = {}
    automated = policy.get("automated")
    if isinstance(automated, Mapping) and automated.get("enabled") is not False:
        out["automated"] = True
        for key in ("prune", "selfHeal", "allowEmpty"):
            if automated.get(key) is True:
                out[key] = True
    apply_sync_options(policy.get("syncOptions"), out, entry)
    retry = apply_retry(policy.get("retry"), entry)
    if retry:
        out["retry"] = retry
    if "managedNamespaceMetadata" in policy:
        entry.note(
            "syncPolicy.managedNamespaceMetadata: not carried (fleet creates the namespace "
            "bare: render a Namespace manifest for labels and annotations)",
            "syncPolicy" if out else None,
        )
    if out:
        entry.data["syncPolicy"] = out
