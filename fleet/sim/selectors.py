"""Label and field selectors, parsed and matched as the API server does.

Label selectors accept the string syntax of ``labelSelector``: equality (``a=b``,
``a==b``, ``a!=b``), sets (``a in (x,y)``, ``a notin (x)``), existence (``a``, ``!a``)
and the numeric ``a>1`` / ``a<1``. Field selectors accept ``=``, ``==`` and ``!=`` on
the fields a resource supports (``metadata.name`` and ``metadata.namespace`` for all).
Parse errors are :class:`SelectorError`; the HTTP layer answers 400 BadRequest.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

_KEY = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?")
_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")


class SelectorError(ValueError):
    """A selector string that does not parse."""


@dataclass(frozen=True, slots=True)
class Requirement:
    key: str
    op: str  # one of: = != in notin exists !exists gt lt
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        op = self.op
        if op == "exists":
            return self.key in labels
        if op == "!exists":
            return self.key not in labels
        if op in ("=", "in"):
            return self.key in labels and labels[self.key] in self.values
        if op in ("!=", "notin"):
            return self.key not in labels or labels[self.key] not in self.values
        value = labels.get(self.key)
        if value is None:
            return False
        try:
            number = int(value)
        except ValueError:
            return False
        bound = int(self.values[0])
        return number > bound if op == "gt" else number < bound


@dataclass(frozen=True, slots=True)
class LabelSelector:
    requirements: tuple[Requirement, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(r.matches(labels) for r in self.requirements)

    @property
    def empty(self) -> bool:
        return not self.requirements


EVERYTHING = LabelSelector()


def _split_top_level(text: str) -> list[str]:
    """Split on commas that are not inside parentheses."""
    parts: list[str] = []
    depth = 0
    current: list[str] = []
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth < 0:
                raise SelectorError(f"unbalanced parenthesis in {text!r}")
        if char == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    if depth:
        raise SelectorError(f"unbalanced parenthesis in {text!r}")
    parts.append("".join(current))
    return parts


def _check_key(key: str) -> str:
    if not key or not _KEY.fullmatch(key) or len(key.rpartition("/")[2]) > 63:
        raise SelectorError(f"invalid label key {key!r}")
    return key


def _check_value(value: str) -> str:
    if len(value) > 63 or not _VALUE.fullmatch(value):
        raise SelectorError(f"invalid label value {value!r}")
    return value


_SET_EXPR = re.compile(r"^\s*(\S+?)\s+(in|notin)\s*\((.*)\)\s*$")
_NUMERIC = re.compile(r"^\s*([^<>=!\s]+)\s*([<>])\s*(\S+)\s*$")
_EQUALITY = re.compile(r"^\s*([^<>=!\s]+)\s*(==|=|!=)\s*(\S*)\s*$")


def parse_label_selector(text: str | None) -> LabelSelector:
    """Parse the ``labelSelector`` query parameter (empty or None selects everything)."""
    if text is None or not text.strip():
        return EVERYTHING
    requirements: list[Requirement] = []
    for part in _split_top_level(text):
        requirements.append(_parse_requirement(part))
    return LabelSelector(tuple(requirements))


def _parse_requirement(part: str) -> Requirement:
    stripped = part.strip()
    if not stripped:
        raise SelectorError("empty requirement in label selector")
    match = _SET_EXPR.match(stripped)
    if match:
        key, op, inner = match.groups()
        values = tuple(sorted({_check_value(v.strip()) for v in inner.split(",")}))
        if op == "in" and values == ("",) and not inner.strip():
            raise SelectorError(f"set for {key!r} must not be empty")
        return Requirement(_check_key(key), op, values)
    match = _NUMERIC.match(stripped)
    if match:
        key, sign, value = match.groups()
        try:
            int(value)
        except ValueError:
            raise SelectorError(f"{value!r} is not an integer in {stripped!r}") from None
        return Requirement(_check_key(key), "gt" if sign == ">" else "lt", (value,))
    match = _EQUALITY.match(stripped)
    if match:
        key, op, value = match.groups()
        return Requirement(_check_key(key), "!=" if op == "!=" else "=", (_check_value(value),))
    if stripped.startswith("!"):
        return Requirement(_check_key(stripped[1:].strip()), "!exists")
    if re.search(r"[\s=!<>()]", stripped):
        raise SelectorError(f"unable to parse requirement {stripped!r}")
    return Requirement(_check_key(stripped), "exists")


def selector_from_spec(spec: Mapping[str, Any] | None) -> LabelSelector:
    """The selector of a ``LabelSelector`` object (``matchLabels`` / ``matchExpressions``).

    A null selector selects nothing for workload controllers; callers decide that case.
    """
    if not spec:
        return EVERYTHING
    requirements: list[Requirement] = []
    for key, value in sorted((spec.get("matchLabels") or {}).items()):
        requirements.append(Requirement(str(key), "=", (str(value),)))
    for expr in spec.get("matchExpressions") or []:
        op = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!exists"}.get(
            str(expr.get("operator"))
        )
        if op is None:
            raise SelectorError(f"invalid operator {expr.get('operator')!r}")
        values = tuple(sorted(str(v) for v in expr.get("values") or ()))
        requirements.append(Requirement(str(expr.get("key")), op, values))
    return LabelSelector(tuple(requirements))


def format_selector(spec: Mapping[str, Any] | None) -> str:
    """The string form of a ``LabelSelector`` object (as in Scale ``status.selector``)."""
    parts = []
    for r in selector_from_spec(spec).requirements:
        if r.op == "=":
            parts.append(f"{r.key}={r.values[0]}")
        elif r.op in ("in", "notin"):
            parts.append(f"{r.key} {r.op} ({','.join(r.values)})")
        elif r.op == "exists":
            parts.append(r.key)
        elif r.op == "!exists":
            parts.append("!" + r.key)
    return ",".join(parts)


# ---------------------------------------------------------------- field selectors

FieldGetter = Callable[[Mapping[str, Any]], str]


def _path_getter(path: str) -> FieldGetter:
    keys = path.split(".")

    def get(obj: Mapping[str, Any]) -> str:
        node: Any = obj
        for key in keys:
            if not isinstance(node, Mapping):
                return ""
            node = node.get(key)
        if node is None:
            return ""
        if isinstance(node, bool):
            return "true" if node else "false"
        return str(node)

    return get


#: Fields beyond metadata.name/namespace that the real server indexes, per (group, resource).
EXTRA_FIELDS: dict[tuple[str, str], tuple[str, ...]] = {
    ("", "pods"): (
        "spec.nodeName",
        "spec.restartPolicy",
        "spec.schedulerName",
        "spec.serviceAccountName",
        "status.phase",
        "status.podIP",
        "status.nominatedNodeName",
    ),
    ("", "secrets"): ("type",),
    ("", "events"): (
        "involvedObject.kind",
        "involvedObject.namespace",
        "involvedObject.name",
        "involvedObject.uid",
        "involvedObject.apiVersion",
        "involvedObject.resourceVersion",
        "involvedObject.fieldPath",
        "reason",
        "reportingComponent",
        "source",
        "type",
    ),
    ("", "namespaces"): ("status.phase",),
    ("", "nodes"): ("spec.unschedulable",),
    ("", "replicationcontrollers"): ("status.replicas",),
    ("apps", "replicasets"): ("status.replicas",),
    ("batch", "jobs"): ("status.successful",),
}


@dataclass(frozen=True, slots=True)
class FieldRequirement:
    field: str
    negate: bool
    value: str
    getter: FieldGetter

    def matches(self, obj: Mapping[str, Any]) -> bool:
        return (self.getter(obj) == self.value) != self.negate


@dataclass(frozen=True, slots=True)
class FieldSelector:
    requirements: tuple[FieldRequirement, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.requirements

    @property
    def only_metadata(self) -> bool:
        """True when matching needs only name and namespace (no object decoding)."""
        return all(r.field.startswith("metadata.") for r in self.requirements)

    def matches(self, obj: Mapping[str, Any]) -> bool:
        return all(r.matches(obj) for r in self.requirements)

    def matches_name(self, namespace: str, name: str) -> bool:
        meta = {"metadata": {"name": name, "namespace": namespace}}
        return all(r.matches(meta) for r in self.requirements)


NO_FIELDS = FieldSelector()


def parse_field_selector(
    text: str | None, group: str, resource: str, namespaced: bool
) -> FieldSelector:
    """Parse ``fieldSelector`` for one resource; unsupported fields are an error."""
    if text is None or not text.strip():
        return NO_FIELDS
    allowed = {"metadata.name"} | set(EXTRA_FIELDS.get((group, resource), ()))
    allowed.add("metadata.namespace")
    requirements = []
    for part in text.split(","):
        match = re.fullmatch(r"\s*([^=!\s]+)\s*(==|=|!=)\s*(.*?)\s*", part)
        if not match:
            raise SelectorError(f"invalid selector: '{text}'; can't understand '{part}'")
        field, op, value = match.groups()
        if field not in allowed:
            raise SelectorError(
                f'"{field}" is not a known field selector: only "{", ".join(sorted(allowed))}"'
            )
        requirements.append(FieldRequirement(field, op == "!=", value, _path_getter(field)))
    return FieldSelector(tuple(requirements))
