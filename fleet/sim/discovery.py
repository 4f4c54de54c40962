"""Discovery documents: ``/version``, ``/api``, ``/apis`` and the resource lists.

Both forms are served: the legacy documents (``APIVersions``, ``APIGroupList``,
``APIResourceList``) and, when the client asks for it in ``Accept``, the aggregated
``APIGroupDiscoveryList`` of apidiscovery.k8s.io/v2 that kubectl 1.30+ prefers, which
saves it one request per group version.
"""

from __future__ import annotations

import hashlib
from typing import Any

from fleet.sim.registry import Registry, ResourceType

KUBE_VERSION = {"major": "1", "minor": "32"}
GIT_VERSION = "v1.32.0-fleet-sim"

AGGREGATED_V2 = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
AGGREGATED_V2BETA1 = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"

SUBRESOURCE_VERBS = ["get", "patch", "update"]


def version() -> dict[str, Any]:
    return {
        **KUBE_VERSION,
        "gitVersion": GIT_VERSION,
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2024-12-11T00:00:00Z",
        "goVersion": "go1.23.3",
        "compiler": "gc",
        "platform": "linux/amd64",
    }


def wants_aggregated(accept: str) -> str | None:
    """The aggregated discovery media type the client accepts, if any (v2 preferred)."""
    compact = accept.replace(" ", "")
    for choice in compact.split(","):
        if "as=APIGroupDiscoveryList" in choice and "g=apidiscovery.k8s.io" in choice:
            if "v=v2beta1" in choice:
                return AGGREGATED_V2BETA1
            if "v=v2" in choice:
                return AGGREGATED_V2
    return None


def api_versions(server_address: str) -> dict[str, Any]:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}
        ],
    }


def _group(name: str, versions: list[str]) -> dict[str, Any]:
    entries = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
    return {"name": name, "versions": entries, "preferredVersion": entries[0]}


def api_group_list(registry: Registry) -> dict[str, Any]:
    groups = [_group(g, vs) for g, vs in registry.group_versions().items() if g]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_group(registry: Registry, group: str) -> dict[str, Any] | None:
    versions = registry.group_versions().get(group)
    if not versions or not group:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group(group, versions)}


def _storage_hash(rt: ResourceType) -> str:
    digest = hashlib.sha256(f"{rt.group}/{rt.storage_version}/{rt.kind}".encode()).digest()
    import base64

    return base64.b64encode(digest[:8]).decode()


def _subresources(rt: ResourceType) -> list[tuple[str, str, str, str, list[str]]]:
    """(name, group, version, kind, verbs) of each subresource of ``rt``."""
    subs: list[tuple[str, str, str, str, list[str]]] = []
    if rt.group_resource == ("", "namespaces"):
        subs.append(("finalize", "", "", rt.kind, ["update"]))
    if rt.group_resource == ("", "pods"):
        subs.append(("log", "", "", rt.kind, ["get"]))
    if rt.scale:
        subs.append(("scale", "autoscaling", "v1", "Scale", SUBRESOURCE_VERBS))
    if rt.status:
        subs.append(("status", "", "", rt.kind, SUBRESOURCE_VERBS))
    return subs


def api_resource_list(registry: Registry, group: str, version: str) -> dict[str, Any] | None:
    types = registry.in_group_version(group, version)
    if not types:
        return None
    resources: list[dict[str, Any]] = []
    for rt in types:
        item: dict[str, Any] = {
            "name": rt.plural,
            "singularName": rt.singular,
            "namespaced": rt.namespaced,
            "kind": rt.kind,
            "verbs": list(rt.verbs),
        }
        if rt.short_names:
            item["shortNames"] = list(rt.short_names)
        if rt.categories:
            item["categories"] = list(rt.categories)
        item["storageVersionHash"] = _storage_hash(rt)
        resources.append(item)
        for sub, sub_group, sub_version, kind, verbs in _subresources(rt):
            entry: dict[str, Any] = {
                "name": f"{rt.plural}/{sub}",
                "singularName": "",
                "namespaced": rt.namespaced,
            }
            if sub_group:
                entry["group"] = sub_group
                entry["version"] = sub_version
            entry["kind"] = kind
            entry["verbs"] = verbs
            resources.append(entry)
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{version}" if group else version,
        "resources": resources,
    }


def aggregated(registry: Registry, legacy: bool, media_type: str) -> dict[str, Any]:
    """``/api`` (legacy=True) or ``/apis`` as an APIGroupDiscoveryList."""
    items = []
    for group, versions in registry.group_versions().items():
        if bool(group) == legacy:
            continue
        version_entries = []
        for version in versions:
            resources = []
            for rt in registry.in_group_version(group, version):
                resource: dict[str, Any] = {
                    "resource": rt.plural,
                    "responseKind": {"group": group, "version": version, "kind": rt.kind},
                    "scope": "Namespaced" if rt.namespaced else "Cluster",
                    "singularResource": rt.singular,
                    "verbs": list(rt.verbs),
                }
                if rt.short_names:
                    resource["shortNames"] = list(rt.short_names)
                if rt.categories:
                    resource["categories"] = list(rt.categories)
                subs = [
                    {
                        "subresource": sub,
                        "responseKind": {
                            "group": sub_group or group,
                            "version": sub_version or version,
                            "kind": kind,
                        },
                        "verbs": verbs,
                    }
                    for sub, sub_group, sub_version, kind, verbs in _subresources(rt)
                ]
                if subs:
                    resource["subresources"] = subs
                resources.append(resource)
            version_entries.append(
                {"version": version, "resources": resources, "freshness": "Current"}
            )
        items.append({"metadata": {"name": group} if group else {}, "versions": version_entries})
    api_version = media_type.split(";v=")[1].split(";")[0]
    return {
        "kind": "APIGroupDiscoveryList",
        "apiVersion": f"apidiscovery.k8s.io/{api_version}",
        "metadata": {},
        "items": items,
    }
