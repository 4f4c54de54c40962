"""Which resource serves a kind: read per group-version, when a kind of it is first used.

kubernetes_asyncio's DynamicClient reads every API group of a cluster on first use (51
requests on a bare cluster, more with CRDs) and keeps the whole tree in memory and in a
cache file. A daemon talking to a hundred clusters uses a few group-versions on each, so
it asks for just those (``GET /apis/apps/v1``), as ``kubectl`` does with a warm cache.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class ResourceInfo:
    """Where a kind is served on one cluster."""

    api_version: str
    kind: str
    plural: str
    namespaced: bool

    def path(self, namespace: str = "", name: str = "") -> str:
        base = group_version_path(self.api_version)
        if self.namespaced and namespace:
            base += f"/namespaces/{namespace}"
        base += f"/{self.plural}"
        return f"{base}/{name}" if name else base


def group_version_path(api_version: str) -> str:
    """``v1`` is served under /api, every named group under /apis."""
    return f"/apis/{api_version}" if "/" in api_version else f"/api/{api_version}"


def served_kinds(api_version: str, resource_list: Mapping[str, Any]) -> dict[str, ResourceInfo]:
    """Kind -> resource from an APIResourceList; subresources (``pods/status``) skipped."""
    served: dict[str, ResourceInfo] = {}
    for entry in resource_list.get("resources") or []:
        name = str(entry.get("name") or "")
        kind = str(entry.get("kind") or "")
        if not name or not kind or "/" in name:
            continue
        served.setdefault(
            kind, ResourceInfo(api_version, kind, name, bool(entry.get("namespaced")))
        )
    return served
