"""The kinds a simulated cluster serves: built-in ones plus those its CRDs define.

A :class:`ResourceType` is one REST resource (``deployments`` in group ``apps``) with
the versions it is served under. Objects are stored once per (group, resource), not per
version, as the real server does; serving another version only changes ``apiVersion``
(the "None" conversion strategy of CRDs).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from fleet.sim.builtin_kinds import BUILTIN_TYPES

ALL_VERBS: tuple[str, ...] = (
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
)


@dataclass(frozen=True, slots=True)
class ResourceType:
    """One REST resource and how it is served."""

    group: str
    versions: tuple[str, ...]
    kind: str
    plural: str
    singular: str
    namespaced: bool = True
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ALL_VERBS
    status: bool = False
    scale: bool = False
    #: For a custom resource, the JSON path of replicas in spec/status (scale subresource).
    scale_paths: tuple[str, str, str] = (".spec.replicas", ".status.replicas", "")
    #: The open schema per version of a custom resource (used only by the OpenAPI docs).
    schemas: dict[str, dict[str, Any]] = field(default_factory=dict, compare=False, hash=False)
    custom: bool = False

    @property
    def storage_version(self) -> str:
        return self.versions[0]

    @property
    def group_resource(self) -> tuple[str, str]:
        return (self.group, self.plural)

    def api_version(self, version: str) -> str:
        return f"{self.group}/{version}" if self.group else version

    @property
    def list_kind(self) -> str:
        return self.kind + "List"

    @property
    def qualified(self) -> str:
        """``deployments.apps`` as messages name it."""
        return f"{self.plural}.{self.group}" if self.group else self.plural


def _builtin() -> list[ResourceType]:
    types = []
    for entry in BUILTIN_TYPES:
        group, versions, kind, plural, namespaced, short, extras = entry
        types.append(
            ResourceType(
                group=group,
                versions=tuple(versions.split(",")),
                kind=kind,
                plural=plural,
                singular=kind.lower(),
                namespaced=namespaced,
                short_names=tuple(s for s in short.split(",") if s),
                categories=("all",) if "all" in extras else (),
                status="status" in extras,
                scale="scale" in extras,
                verbs=tuple(
                    v for v in ALL_VERBS if not (v == "deletecollection" and "nodc" in extras)
                ),
            )
        )
    return types


#: Groups in the order discovery lists them (the real server orders by priority).
GROUP_ORDER: tuple[str, ...] = (
    "",
    "apiregistration.k8s.io",
    "apps",
    "events.k8s.io",
    "authentication.k8s.io",
    "authorization.k8s.io",
    "autoscaling",
    "batch",
    "certificates.k8s.io",
    "networking.k8s.io",
    "policy",
    "rbac.authorization.k8s.io",
    "storage.k8s.io",
    "admissionregistration.k8s.io",
    "apiextensions.k8s.io",
    "scheduling.k8s.io",
    "coordination.k8s.io",
    "node.k8s.io",
    "discovery.k8s.io",
)

_BUILTINS: tuple[ResourceType, ...] = tuple(_builtin())


class Registry:
    """Lookup of resource types for one cluster; CRDs add and remove entries at run time."""

    def __init__(self) -> None:
        self._by_resource: dict[tuple[str, str], ResourceType] = {}
        self._by_kind: dict[tuple[str, str], ResourceType] = {}
        self.generation = 0
        for rt in _BUILTINS:
            self.add(rt)

    def add(self, rt: ResourceType) -> None:
        self._by_resource[(rt.group, rt.plural)] = rt
        self._by_kind[(rt.group, rt.kind)] = rt
        self.generation += 1

    def remove(self, group: str, plural: str) -> ResourceType | None:
        rt = self._by_resource.pop((group, plural), None)
        if rt is not None:
            self._by_kind.pop((rt.group, rt.kind), None)
            self.generation += 1
        return rt

    def resource(self, group: str, version: str, plural: str) -> ResourceType | None:
        """The type served at ``/apis/<group>/<version>/<plural>``, if any."""
        rt = self._by_resource.get((group, plural))
        if rt is None or version not in rt.versions:
            return None
        return rt

    def by_group_resource(self, group: str, plural: str) -> ResourceType | None:
        return self._by_resource.get((group, plural))

    def kind(self, group: str, kind: str) -> ResourceType | None:
        return self._by_kind.get((group, kind))

    def __iter__(self) -> Iterator[ResourceType]:
        return iter(self._by_resource.values())

    def group_versions(self) -> dict[str, list[str]]:
        """Every served group with its versions, preferred version first."""
        found: dict[str, list[str]] = {}
        for rt in self._by_resource.values():
            versions = found.setdefault(rt.group, [])
            for v in rt.versions:
                if v not in versions:
                    versions.append(v)
        for versions in found.values():
            versions.sort(key=version_priority)
        return {g: found[g] for g in sorted(found, key=_group_rank)}

    def in_group_version(self, group: str, version: str) -> list[ResourceType]:
        return sorted(
            (
                rt
                for rt in self._by_resource.values()
                if rt.group == group and version in rt.versions
            ),
            key=lambda rt: rt.plural,
        )


def _group_rank(group: str) -> tuple[int, str]:
    try:
        return (GROUP_ORDER.index(group), group)
    except ValueError:
        return (len(GROUP_ORDER), group)


def version_priority(version: str) -> tuple[int, int, int]:
    """Kubernetes version order: GA before beta before alpha, higher numbers first."""
    import re

    match = re.fullmatch(r"v(\d+)(?:(alpha|beta)(\d+))?", version)
    if not match:
        return (3, 0, 0)
    major = int(match.group(1))
    stage = {None: 0, "beta": 1, "alpha": 2}[match.group(2)]
    minor = int(match.group(3) or 0)
    return (stage, -major, -minor)


def names_of(types: Iterable[ResourceType]) -> list[str]:
    return [rt.qualified for rt in types]
