"""The pieces an import is made of: entries with their notes, and fleet's naming rules.

An entry is one item of a fleet config section (a cluster, a source, an app, ...) as
plain data, plus the notes that say what of the Argo CD object it came from could not be
carried over and why. Notes become YAML comments next to the entry (fleet.config.argocd
.emit), anchored at the key they are about when that key is written.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import TypeAdapter, ValidationError

from fleet.config.types import LabelKey, LabelValue, Name

_NAME_CHECK: TypeAdapter[str] = TypeAdapter(Name)
_LABEL_KEY_CHECK: TypeAdapter[str] = TypeAdapter(LabelKey)
_LABEL_VALUE_CHECK: TypeAdapter[str] = TypeAdapter(LabelValue)
_NOT_NAME = re.compile(r"[^a-z0-9.-]+")


class ArgoImportError(ValueError):
    """An input the import cannot read at all (names the file and the object)."""


@dataclass(frozen=True, slots=True)
class Origin:
    """Where an Argo CD object was read: file, line, kind and name, for messages."""

    file: str
    line: int
    kind: str
    name: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{self.kind} {self.name} ({where})"


@dataclass(slots=True)
class Entry:
    """One fleet config entry and what could not be carried into it."""

    data: dict[str, Any]
    origin: Origin
    #: (key of ``data`` the note is about, or None for the entry as a whole; the text).
    notes: list[tuple[str | None, str]] = field(default_factory=list)

    def note(self, message: str, at: str | None = None) -> None:
        if (at, message) not in self.notes:
            self.notes.append((at, message))


def is_name(text: str) -> bool:
    try:
        _NAME_CHECK.validate_python(text)
    except ValidationError:
        return False
    return True


def fleet_name(text: str) -> str:
    """``text`` made into a fleet name (lowercase, digits, '-' and '.', at most 63)."""
    if is_name(text):
        return text
    cleaned = _NOT_NAME.sub("-", text.lower()).strip("-.")[:63].strip("-.")
    return cleaned or "unnamed"


def label_problem(key: object, value: object) -> str | None:
    """Why ``key: value`` cannot be a fleet cluster label, or None."""
    if not isinstance(key, str) or not isinstance(value, str):
        return "labels are strings"
    for check, text in ((_LABEL_KEY_CHECK, key), (_LABEL_VALUE_CHECK, value)):
        try:
            check.validate_python(text)
        except ValidationError as exc:
            return str(exc.errors()[0]["msg"])
    return None


def mapping(value: Any) -> Mapping[str, Any]:
    """``value`` when it is a mapping, else an empty one (Argo CD fields are optional)."""
    return value if isinstance(value, Mapping) else {}


def text(value: Any) -> str:
    """A scalar field as text ('' when absent or not a scalar)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    return ""


def unique(name: str, taken: set[str]) -> str:
    """``name``, or ``name-2``, ``name-3``... when it is taken; the result is taken then."""
    candidate, number = name, 1
    while candidate in taken:
        number += 1
        suffix = f"-{number}"
        candidate = name[: 63 - len(suffix)].rstrip("-.") + suffix
    taken.add(candidate)
    return candidate
