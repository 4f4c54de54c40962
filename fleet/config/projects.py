"""Projects: named bounds that apps belong to (``apps[].project``), like Argo CD's AppProject.

A project says which sources its apps may render from, which clusters they may target
(a label selector, or names), which namespaces they may write into (globs), and which
kinds they may write: namespaced kinds by ``kinds.allow`` (every kind unless narrowed),
minus ``kinds.deny``, and cluster-scoped kinds only when listed in ``clusterKinds``.

The sources, clusters and namespace of each app are checked when the config is loaded
(fleet.config.project_checks); every object a sync would write is checked by the engine
before anything is written (fleet.engine.bounds). An app with no project is unbounded, as
every app was before projects existed; ``fleet validate`` warns about it.
"""

from __future__ import annotations

import re
from fnmatch import fnmatchcase
from typing import Annotated

from pydantic import AfterValidator, Field
from pydantic_core import PydanticCustomError

from fleet.config.base import ConfigModel
from fleet.config.selectors import ClusterSelector
from fleet.config.types import Name
from fleet.engine.bounds import KindPattern, ProjectBounds, kind_pattern_problem

_NAME_GLOB = re.compile(r"^[a-z0-9*?\[\]!.-]{1,63}$")


def _kind_pattern(value: str) -> str:
    problem = kind_pattern_problem(value)
    if problem is not None:
        raise PydanticCustomError(
            "kind_pattern",
            "invalid kind pattern {shown}: {problem}",
            {"shown": repr(value), "problem": problem},
        )
    return value


def _name_glob(value: str) -> str:
    if not _NAME_GLOB.match(value):
        raise PydanticCustomError(
            "glob",
            "invalid pattern {shown}: a name or a glob of lowercase letters, digits, '-', "
            "'.', '*', '?' and [...]",
            {"shown": repr(value)},
        )
    return value


#: ``GROUP/KIND`` with globs, ``/KIND`` for the core group, ``KIND`` for any group.
KindPatternText = Annotated[str, AfterValidator(_kind_pattern)]
#: A name, or a shell glob over names (``web``, ``team-*``).
NameGlob = Annotated[str, AfterValidator(_name_glob)]


def is_glob(text: str) -> bool:
    return any(char in text for char in "*?[")


class KindRules(ConfigModel):
    #: Namespaced kinds the project's apps may write.
    allow: list[KindPatternText] = Field(default_factory=lambda: ["*"])
    #: Kinds they may never write, namespaced or cluster-scoped; wins over every allow.
    deny: list[KindPatternText] = Field(default_factory=list)


class Project(ConfigModel):
    name: Name
    #: Sources (names or globs) the project's apps may render from.
    sources: list[NameGlob]
    #: Clusters the project's apps may target; left out, every cluster of the fleet.
    clusters: ClusterSelector = Field(default_factory=ClusterSelector)
    #: Namespaces (names or globs) namespaced objects, and Namespace objects, may have.
    namespaces: list[NameGlob]
    kinds: KindRules = Field(default_factory=KindRules)
    #: Cluster-scoped kinds the project's apps may write (none unless listed).
    cluster_kinds: list[KindPatternText] = Field(default_factory=list)

    def allows_source(self, source: str) -> bool:
        return any(fnmatchcase(source, pattern) for pattern in self.sources)

    def allows_namespace(self, namespace: str) -> bool:
        return any(fnmatchcase(namespace, pattern) for pattern in self.namespaces)

    def bounds(self) -> ProjectBounds:
        """The engine's view of this project (what a sync may write)."""
        return ProjectBounds(
            name=self.name,
            namespaces=tuple(self.namespaces),
            allow_kinds=tuple(KindPattern.parse(p) for p in self.kinds.allow),
            deny_kinds=tuple(KindPattern.parse(p) for p in self.kinds.deny),
            cluster_kinds=tuple(KindPattern.parse(p) for p in self.cluster_kinds),
        )
