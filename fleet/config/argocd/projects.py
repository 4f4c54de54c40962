"""Argo CD AppProjects as fleet projects.

``sourceRepos`` (URL globs) become the names of the imported sources they match;
``destinations`` become the project's clusters and namespaces; the resource white- and
blacklists become ``clusterKinds``, ``kinds.allow`` and ``kinds.deny``. Argo CD pairs each
destination cluster with its namespaces, fleet lists clusters and namespaces apart: when
the pairs differ the project allows their union, and a note says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from fnmatch import fnmatchcase
from typing import Any

from fleet.config.argocd.clusters import ClusterRegistry
from fleet.config.argocd.entries import Entry, Origin, fleet_name, mapping, text
from fleet.config.argocd.sources import SourceRegistry

_NOT_CARRIED = {
    "roles": "fleet's API tokens carry their own scopes (docs/security.md)",
    "orphanedResources": "fleet reports only what its apps track",
    "signatureKeys": "give the source verify.gpgKeyring or verify.sshAllowedSigners",
    "sourceNamespaces": "fleet apps live in the fleet config, not in namespaces",
    "destinationServiceAccounts": "fleet does not impersonate service accounts",
    "permitOnlyProjectScopedClusters": "fleet clusters belong to no project",
}


def _kind_patterns(items: Any) -> list[str]:
    out = []
    for item in items or ():
        rule = mapping(item)
        group, kind = text(rule.get("group")), text(rule.get("kind")) or "*"
        out.append(f"{group}/{kind}")
    return out


def convert_project(
    body: Mapping[str, Any],
    origin: Origin,
    clusters: ClusterRegistry,
    sources: SourceRegistry,
) -> Entry:
    spec = mapping(body.get("spec"))
    entry = Entry({"name": fleet_name(origin.name)}, origin)
    if spec.get("description"):
        entry.note(f"description: {text(spec.get('description'))}")
    entry.data["sources"] = _sources(spec.get("sourceRepos"), sources, entry)
    selected, namespaces = _destinations(spec.get("destinations"), clusters, entry)
    if selected is not None:
        entry.data["clusters"] = {"names": selected}
    entry.data["namespaces"] = namespaces
    kinds: dict[str, Any] = {}
    allow = _kind_patterns(spec.get("namespaceResourceWhitelist"))
    if "namespaceResourceWhitelist" in spec:
        kinds["allow"] = allow
    deny = _kind_patterns(spec.get("namespaceResourceBlacklist"))
    cluster_deny = _kind_patterns(spec.get("clusterResourceBlacklist"))
    if cluster_deny:
        entry.note(
            "clusterResourceBlacklist: carried into kinds.deny, which fleet applies to "
            "namespaced and cluster-scoped kinds alike",
            "kinds" if deny or allow else None,
        )
    if deny or cluster_deny:
        kinds["deny"] = deny + [k for k in cluster_deny if k not in deny]
    if kinds:
        entry.data["kinds"] = kinds
    cluster_kinds = _kind_patterns(spec.get("clusterResourceWhitelist"))
    if cluster_kinds:
        entry.data["clusterKinds"] = cluster_kinds
    for key, why in _NOT_CARRIED.items():
        if key in spec:
            entry.note(f"spec.{key}: not carried ({why})")
    return entry


def _sources(repos: Any, sources: SourceRegistry, entry: Entry) -> list[str]:
    names: list[str] = []
    for pattern in (text(r) for r in repos or ()):
        if pattern == "*":
            return ["*"]
        if pattern.startswith("!"):
            entry.note(f"sourceRepos {pattern}: deny patterns are not carried", "sources")
            continue
        matched = [
            name
            for url, found in sources.urls().items()
            if fnmatchcase(url, pattern.rstrip("/"))
            for name in found
        ]
        if not matched:
            entry.note(f"sourceRepos {pattern}: no imported app uses it", "sources")
        names += [name for name in matched if name not in names]
    return names


def _destinations(
    items: Any, clusters: ClusterRegistry, entry: Entry
) -> tuple[list[str] | None, list[str]]:
    """(cluster names, or None for every cluster; namespace globs)."""
    selected: list[str] = []
    every_cluster = False
    namespaces: list[str] = []
    pairs: dict[str, set[str]] = {}
    servers, argo_names = clusters.servers(), clusters.argo_names()
    for item in items or ():
        destination = mapping(item)
        server, name = text(destination.get("server")), text(destination.get("name"))
        namespace = text(destination.get("namespace")) or "*"
        if namespace.startswith("!") or server.startswith("!") or name.startswith("!"):
            entry.note(f"destination {destination}: deny patterns are not carried", "namespaces")
            continue
        if namespace not in namespaces:
            namespaces.append(namespace)
        if server in ("*", "") and name in ("*", ""):
            every_cluster = True
            matched = list(clusters.entries)
        else:
            matched = [c for s, c in servers.items() if server and fnmatchcase(s, server)]
            matched += [c for n, c in argo_names.items() if name and fnmatchcase(n, name)]
            if not matched:
                entry.note(
                    f"destination {server or name}: no imported cluster matches", "namespaces"
                )
        for cluster in matched:
            if cluster not in selected:
                selected.append(cluster)
            pairs.setdefault(cluster, set()).add(namespace)
    if len({frozenset(v) for v in pairs.values()}) > 1:
        entry.note(
            "destinations pair clusters with different namespaces: fleet allows every "
            "listed namespace on every listed cluster",
            "namespaces",
        )
    return (None if every_cluster else selected), namespaces


def default_project() -> Entry:
    """Argo CD's built-in project ``default``, which allows every source, destination
    and kind (as long as nobody narrowed it: then import its AppProject too)."""
    entry = Entry(
        {
            "name": "default",
            "sources": ["*"],
            "namespaces": ["*"],
            "clusterKinds": ["*"],
        },
        Origin("<Argo CD>", 0, "AppProject", "default"),
    )
    entry.note(
        "Argo CD's built-in project, open to every source, namespace and kind: narrow it "
        "(or import your AppProject default if you changed it)"
    )
    return entry
