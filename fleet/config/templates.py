"""Per-cluster templates in app paths and Helm values file names.

``apps/web/overlays/{cluster.labels.env}`` picks each cluster's overlay by its ``env``
label; ``{cluster.name}`` gives the cluster's own name. Nothing else is a placeholder, so
a typo such as ``{cluster.label.env}`` is refused when the config is loaded, not when
some cluster first renders. Label values cannot contain ``/`` or ``..``, so a filled-in
path stays inside the directory the template names.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass

_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_LABEL_PREFIX = "cluster.labels."
_NAME = "cluster.name"


class TemplateError(ValueError):
    """A template is malformed, or a cluster lacks a label it uses."""


@dataclass(frozen=True, slots=True)
class Placeholder:
    """``{cluster.name}`` (label None) or ``{cluster.labels.KEY}`` (label KEY)."""

    text: str
    label: str | None


def placeholders(template: str) -> list[Placeholder]:
    """The placeholders of ``template``; raises TemplateError for anything unknown."""
    found: list[Placeholder] = []
    for match in _PLACEHOLDER.finditer(template):
        inner = match.group(1).strip()
        if inner == _NAME:
            found.append(Placeholder(match.group(0), None))
        elif inner.startswith(_LABEL_PREFIX) and inner[len(_LABEL_PREFIX) :]:
            found.append(Placeholder(match.group(0), inner[len(_LABEL_PREFIX) :]))
        else:
            raise TemplateError(_unknown(match.group(0), inner))
    leftover = _PLACEHOLDER.sub("", template)
    if "{" in leftover or "}" in leftover:
        raise TemplateError(
            "unbalanced '{' or '}': placeholders are {cluster.name} and {cluster.labels.KEY}"
        )
    return found


def labels_used(template: str) -> list[str]:
    """The label keys a template reads, in order of first use."""
    keys: list[str] = []
    for placeholder in placeholders(template):
        if placeholder.label is not None and placeholder.label not in keys:
            keys.append(placeholder.label)
    return keys


def expand(template: str, cluster_name: str, labels: Mapping[str, str]) -> str:
    """The template filled in for one cluster."""

    def fill(match: re.Match[str]) -> str:
        inner = match.group(1).strip()
        if inner == _NAME:
            return cluster_name
        key = inner[len(_LABEL_PREFIX) :]
        value = labels.get(key)
        if value is None:
            raise TemplateError(f"cluster '{cluster_name}' has no label '{key}'")
        if not value:
            raise TemplateError(f"cluster '{cluster_name}' has an empty label '{key}'")
        return value

    placeholders(template)  # refuse malformed templates before filling anything in
    return _PLACEHOLDER.sub(fill, template)


def _unknown(text: str, inner: str) -> str:
    candidates = [_NAME, *(f"{_LABEL_PREFIX}{key}" for key in ("env", "region"))]
    if inner.startswith("cluster.") and "." in inner[len("cluster.") :]:
        # ``cluster.label.env`` -> suggest ``cluster.labels.env``
        tail = inner.rsplit(".", 1)[1]
        candidates = [_NAME, f"{_LABEL_PREFIX}{tail}"]
    close = difflib.get_close_matches(inner, candidates, n=1, cutoff=0.6)
    hint = f" (did you mean '{{{close[0]}}}'?)" if close else ""
    return (
        f"unknown placeholder '{text}'{hint}: placeholders are {{cluster.name}} "
        "and {cluster.labels.KEY}"
    )


def check_relative_path(path: str, what: str = "path") -> str:
    """A repository-relative path, normalised (no leading ``/``, no ``..``, no ``./``)."""
    if path.startswith("/") or "\\" in path:
        raise TemplateError(f"{what} must be relative to the repository root, got '{path}'")
    parts = [part for part in path.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise TemplateError(f"{what} must stay inside the repository ('..' is not allowed)")
    return "/".join(parts) or "."
