"""Parsing API URLs into what they address.

``/api/v1/namespaces/ns/pods/name/status`` and ``/apis/apps/v1/deployments`` and their
like are parsed into a :class:`Target`; whether the resource exists is decided later
against the cluster's registry, because CRDs add resources at run time.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Target:
    group: str
    version: str
    plural: str
    #: None for a cluster-wide request (cluster-scoped resource, or all namespaces).
    namespace: str | None = None
    name: str = ""
    subresource: str = ""
    #: The deprecated ``/watch/`` path prefix was used.
    watch_prefix: bool = False


@dataclass(frozen=True, slots=True)
class GroupVersionPath:
    """``/api/v1`` or ``/apis/<group>/<version>`` itself (a resource list)."""

    group: str
    version: str


_NAMESPACE_SUBRESOURCES = ("status", "finalize")


def parse(path: str) -> Target | GroupVersionPath | None:
    """What ``path`` addresses, or None when it is not a resource URL."""
    parts = [p for p in path.split("/") if p]
    if len(parts) >= 2 and parts[0] == "api":
        group, version, rest = "", parts[1], parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    if not rest:
        return GroupVersionPath(group, version)
    watch_prefix = rest[0] == "watch"
    if watch_prefix:
        rest = rest[1:]
        if not rest:
            return None
    if rest[0] == "namespaces" and len(rest) >= 3 and rest[2] not in _NAMESPACE_SUBRESOURCES:
        namespace = rest[1]
        rest = rest[2:]
        if len(rest) > 3:
            return None
        plural, name, sub = ([*rest, "", ""])[:3]
        return Target(group, version, plural, namespace, name, sub, watch_prefix)
    if len(rest) > 3:
        return None
    plural, name, sub = ([*rest, "", ""])[:3]
    return Target(group, version, plural, None, name, sub, watch_prefix)
