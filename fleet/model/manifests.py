"""A desired object as rendered from Git, with where it came from.

The body is the object as the renderer produced it. ``origin`` names the file (relative
to the repository) and the line of the document it was read from, so that every error
about the object can point at its source.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fleet.model.refs import ObjectRef


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a manifest was read: file path in the repository and 1-based line."""

    path: str
    line: int = 1
    renderer: str = "plain"

    def __str__(self) -> str:
        return f"{self.path}:{self.line}"


@dataclass(frozen=True, slots=True)
class Manifest:
    """One desired object. ``body`` must not be mutated once built."""

    ref: ObjectRef
    body: Mapping[str, Any]
    origin: Origin = field(default_factory=lambda: Origin(path="<unknown>"))

    @property
    def api_version(self) -> str:
        return str(self.body.get("apiVersion", ""))

    @property
    def annotations(self) -> Mapping[str, str]:
        meta = self.body.get("metadata") or {}
        return meta.get("annotations") or {}

    @property
    def labels(self) -> Mapping[str, str]:
        meta = self.body.get("metadata") or {}
        return meta.get("labels") or {}

    @classmethod
    def from_body(
        cls, body: Mapping[str, Any], origin: Origin | None = None, default_namespace: str = ""
    ) -> Manifest:
        return cls(
            ref=ObjectRef.of(dict(body), default_namespace),
            body=body,
            origin=origin or Origin(path="<unknown>"),
        )
