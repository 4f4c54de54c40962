"""From Argo CD objects to one fleet config, as a commented YAML document.

Pure: it is given the parsed objects (with the file and line each came from) and a YAML
parser for the YAML that Argo CD keeps inside strings (Helm ``values``), and returns the
document and the credential files to write; the caller reads and writes files.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import LiteralScalarString

from fleet.config.argocd.applications import ImportContext, YamlParser, convert_application
from fleet.config.argocd.appsets import convert_application_set
from fleet.config.argocd.clusters import ClusterRegistry, CredentialFile, is_cluster_secret
from fleet.config.argocd.entries import Entry, Origin, mapping, text
from fleet.config.argocd.health import HealthImport, health_checks, is_argocd_cm
from fleet.config.argocd.projects import convert_project, default_project
from fleet.config.argocd.sources import SourceRegistry
from fleet.config.argocd.windows import project_windows, windows_by_project
from fleet.config.fleet import FleetConfig

ARGO_GROUP = "argoproj.io"
#: Sections in the order they are written, and the indent of an entry's keys.
_SECTIONS = ("clusters", "sources", "projects", "apps", "generators", "syncWindows")
_ENTRY_KEY_INDENT = 4
_ENTRY_INDENT = 2
_WIDTH = 100


@dataclass(frozen=True, slots=True)
class ArgoObject:
    """One parsed object of an input file."""

    file: str
    line: int
    body: Mapping[str, Any]


@dataclass(slots=True)
class ImportResult:
    document: CommentedMap
    credentials: list[CredentialFile] = field(default_factory=list)
    #: How many of each fleet entry were written, for the command's summary.
    counts: dict[str, int] = field(default_factory=dict)
    #: Objects (or parts) not imported at all, also written as comments at the top.
    skipped: list[str] = field(default_factory=list)


def _origin(obj: ArgoObject) -> Origin:
    name = text(mapping(obj.body.get("metadata")).get("name")) or "(no name)"
    return Origin(obj.file, obj.line, text(obj.body.get("kind")) or "(no kind)", name)


def _is_argo(obj: ArgoObject, kind: str) -> bool:
    api = text(obj.body.get("apiVersion"))
    return obj.body.get("kind") == kind and api.split("/")[0] == ARGO_GROUP


def convert(
    objects: Sequence[ArgoObject],
    parse_yaml: YamlParser,
    credentials_dir: str | None = None,
    generators_supported: bool | None = None,
) -> ImportResult:
    """The fleet config for ``objects`` (Applications, ApplicationSets, AppProjects and
    cluster Secrets; anything else is noted and left out).

    ``generators_supported``: whether Git directory generators may become fleet
    ``generators`` entries (default: whether the fleet config has them).
    """
    if generators_supported is None:
        generators_supported = "generators" in FleetConfig.model_fields
    clusters = ClusterRegistry(credentials_dir)
    sources = SourceRegistry()
    ctx = ImportContext(clusters, sources, parse_yaml)
    ctx.projects = {_origin(o).name for o in objects if _is_argo(o, "AppProject")}
    for obj in objects:
        if is_cluster_secret(obj.body):
            clusters.add_secret(obj.body, _origin(obj))
    apps: list[Entry] = []
    generators: list[Entry] = []
    health = HealthImport()
    for obj in objects:
        origin = _origin(obj)
        if is_argocd_cm(obj.body):
            found = health_checks(obj.body, origin, parse_yaml)
            for key, script in found.lua.items():
                if key in health.lua:
                    health.notes.append(f"{origin}: {key} is given twice; the first is kept")
                else:
                    health.lua[key] = script
            health.notes += found.notes
        elif _is_argo(obj, "Application"):
            app = convert_application(obj.body, origin, ctx)
            apps += [app] if app is not None else []
        elif _is_argo(obj, "ApplicationSet"):
            made, gens = convert_application_set(obj.body, origin, ctx)
            apps += made
            if gens and not generators_supported:
                ctx.skipped += [f"{g.origin}: needs fleet's generators (issue 15)" for g in gens]
            else:
                generators += gens
        elif not (_is_argo(obj, "AppProject") or is_cluster_secret(obj.body)):
            secret_type = mapping(mapping(obj.body.get("metadata")).get("labels")).get(
                "argocd.argoproj.io/secret-type"
            )
            why = (
                "repository credentials: give the source auth files (docs/config.md)"
                if secret_type in ("repository", "repo-creds", "repo-write-creds")
                else "not an Argo CD Application, ApplicationSet, AppProject or cluster Secret"
            )
            ctx.skipped.append(f"{origin}: not imported: {why}")
    projects: list[Entry] = []
    windows: list[Entry] = []
    apps_by_project = windows_by_project(apps)
    for obj in objects:
        if _is_argo(obj, "AppProject"):
            project = convert_project(obj.body, _origin(obj), clusters, sources)
            projects.append(project)
            windows += project_windows(
                project,
                mapping(obj.body.get("spec")).get("syncWindows"),
                apps_by_project.get(str(project.data["name"]), []),
                clusters,
            )
    if ctx.default_project_used and "default" not in ctx.projects:
        projects.append(default_project())
    sections = {
        "clusters": list(clusters.entries.values()),
        "sources": list(sources.entries.values()),
        "projects": projects,
        "apps": apps,
        "generators": generators,
        "syncWindows": windows,
    }
    document = _document(sections, ctx.skipped, objects)
    _health_section(document, health)
    counts = {name: len(entries) for name, entries in sections.items()}
    counts["health checks"] = len(health.lua)
    return ImportResult(document, clusters.credentials, counts, list(ctx.skipped))


def _document(
    sections: Mapping[str, list[Entry]], skipped: list[str], objects: Sequence[ArgoObject]
) -> CommentedMap:
    document = CommentedMap()
    files = sorted({o.file for o in objects})
    header = [
        "Imported from Argo CD by `fleet import argocd` (" + ", ".join(files) + ").",
        "Comments name what could not be carried over and why. Check it with:",
        "  fleet validate --config THIS_FILE",
    ]
    if skipped:
        header += ["", "Not imported:"] + [f"- {line}" for line in skipped]
    document.yaml_set_start_comment(_lines(header, 0))
    for section in _SECTIONS:
        entries = sections[section]
        if not entries:
            continue
        items = CommentedSeq()
        for index, entry in enumerate(entries):
            items.append(_commented(entry.data))
            _attach(items, index, entry)
        document[section] = items
    return document


def _health_section(document: CommentedMap, health: HealthImport) -> None:
    """``health.lua`` from argocd-cm's scripts, each as a block, with the notes above."""
    if not health.lua and not health.notes:
        return
    lua = CommentedMap((key, _block(s)) for key, s in health.lua.items())
    section = CommentedMap(lua=lua)
    document["health"] = section
    about = ["Lua health checks from argocd-cm, unchanged (docs/engine.md), test them with:"]
    about += ["  fleet health test DIR", *health.notes]
    document.yaml_set_comment_before_after_key("health", before=_lines(about, 0), indent=0)


def _block(script: str) -> str:
    """A script as a YAML block (its lines as written) when YAML can keep it so exactly."""
    if "\t" in script or "\r" in script or not script.endswith("\n"):
        return script  # written quoted: the same text, less readable
    block: str = LiteralScalarString(script)
    return block


def _commented(value: Any) -> Any:
    if isinstance(value, Mapping):
        out = CommentedMap()
        for key, item in value.items():
            out[key] = _commented(item)
        return out
    if isinstance(value, list):
        return CommentedSeq(_commented(item) for item in value)
    return value


def _attach(items: CommentedSeq, index: int, entry: Entry) -> None:
    """Notes go just above the key they are about, or above the entry."""
    mapping_ = items[index]
    first_key = next(iter(mapping_), None)
    above_entry = [f"from {entry.origin}"]
    by_key: dict[str, list[str]] = {}
    for at, message in entry.notes:
        if at is not None and at in mapping_ and at != first_key:
            by_key.setdefault(at, []).append(message)
        else:
            above_entry.append(message)
    items.yaml_set_comment_before_after_key(
        index, before=_lines(above_entry, _ENTRY_INDENT), indent=_ENTRY_INDENT
    )
    for key, messages in by_key.items():
        mapping_.yaml_set_comment_before_after_key(
            key, before=_lines(messages, _ENTRY_KEY_INDENT), indent=_ENTRY_KEY_INDENT
        )


def _lines(messages: list[str], indent: int) -> str:
    """Messages wrapped to the width of the document (continuations indented)."""
    width = _WIDTH - indent - 2
    return "\n".join(
        line
        for message in messages
        for line in textwrap.wrap(message, width, subsequent_indent="  ", break_on_hyphens=False)
    )
