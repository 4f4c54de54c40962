"""Project bounds: which objects an app may write, checked before anything is written.

An app that belongs to a project (fleet config ``projects:``) may write only objects the
project allows, as Argo CD's AppProject allows them:

- a kind matched by ``kinds.deny`` is refused whatever else says;
- an object with no namespace (cluster-scoped) is refused unless its kind is matched by
  ``clusterKinds``: cluster-scoped kinds are denied unless listed, so a project cannot
  bind ``cluster-admin`` by accident;
- a namespaced object must be of a kind matched by ``kinds.allow`` and live in a
  namespace matched by one of ``namespaces`` (globs); a Namespace object's own name must
  match them too, so an app cannot create (or take over) ``kube-system``.

Kind patterns are ``GROUP/KIND`` with shell globs on either part (``apps/Deployment``,
``rbac.authorization.k8s.io/*``); the core group is empty (``/Namespace``), and a pattern
without ``/`` matches the kind in any group (``Secret``, ``*``).

The renderer has already given namespaced objects of known kinds the app's namespace, so
an object still without one is written at cluster level: it is checked as cluster-scoped.
Pure: the engine asks ``refusal`` of every object a sync would write (hooks included) and
refuses the whole sync when any answer is not None.
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase

from fleet.model.refs import ObjectRef


@dataclass(frozen=True, slots=True)
class KindPattern:
    """One ``GROUP/KIND`` glob; ``group`` None matches every group."""

    group: str | None
    kind: str

    @classmethod
    def parse(cls, text: str) -> KindPattern:
        if "/" not in text:
            return cls(None, text)
        group, _, kind = text.partition("/")
        return cls(group, kind)

    def matches(self, ref: ObjectRef) -> bool:
        if self.group is not None and not _glob(ref.group, self.group):
            return False
        return _glob(ref.kind, self.kind)

    def __str__(self) -> str:
        return self.kind if self.group is None else f"{self.group}/{self.kind}"


def _glob(value: str, pattern: str) -> bool:
    # An empty pattern is the core group (or nothing at all): only "" matches it.
    return value == pattern if not pattern else fnmatchcase(value, pattern)


def kind_pattern_problem(text: str) -> str | None:
    """Why ``text`` is not a kind pattern, or None (for the config's validation)."""
    if not text.strip() or text != text.strip():
        return "a kind pattern must be non-empty, without surrounding spaces"
    if text.count("/") > 1:
        return "write GROUP/KIND with one '/', '/KIND' for the core group, or KIND alone"
    if not KindPattern.parse(text).kind:
        return "the kind part of GROUP/KIND is empty"
    return None


@dataclass(frozen=True, slots=True)
class ProjectBounds:
    """What one project lets its apps write (see the module docstring)."""

    name: str
    #: Globs of namespaces namespaced objects (and Namespace objects) may have.
    namespaces: tuple[str, ...] = ()
    #: Namespaced kinds allowed.
    allow_kinds: tuple[KindPattern, ...] = (KindPattern(None, "*"),)
    #: Kinds refused in any scope; wins over both allow lists.
    deny_kinds: tuple[KindPattern, ...] = ()
    #: Cluster-scoped kinds allowed (none unless listed).
    cluster_kinds: tuple[KindPattern, ...] = ()

    def namespace_allowed(self, namespace: str) -> bool:
        return any(fnmatchcase(namespace, glob) for glob in self.namespaces)

    def refusal(self, ref: ObjectRef) -> str | None:
        """The rule ``ref`` breaks, as a sentence naming the project, or None."""
        project = f"project {self.name!r}"
        for pattern in self.deny_kinds:
            if pattern.matches(ref):
                return f"kind {ref.group}/{ref.kind} is denied by {project} (kinds.deny {pattern})"
        if not ref.namespace:
            if not any(p.matches(ref) for p in self.cluster_kinds):
                return (
                    f"cluster-scoped kind {ref.group}/{ref.kind} is not in the clusterKinds of "
                    f"{project} (cluster-scoped kinds are denied unless listed; an object of a "
                    "namespaced kind needs a namespace)"
                )
            if ref.kind == "Namespace" and not ref.group and not self.namespace_allowed(ref.name):
                return f"namespace {ref.name!r} is outside the namespaces of {project}"
            return None
        if not any(p.matches(ref) for p in self.allow_kinds):
            return f"kind {ref.group}/{ref.kind} is not in the kinds.allow of {project}"
        if not self.namespace_allowed(ref.namespace):
            return f"namespace {ref.namespace!r} is outside the namespaces of {project}"
        return None
