"""Failures of the patch and apply algorithms, each carrying the API answer it maps to.

The HTTP layer turns a :class:`PatchError` into a ``Status`` object with ``code`` and
``reason`` as given here, so that the simulated server answers what a kube-apiserver
answers for the same request. ``causes`` (when present) are ``StatusCause`` objects in
their wire form (``reason``, ``message``, ``field``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class PatchError(Exception):
    """A patch or apply that cannot be carried out; nothing was changed."""

    code: int = 422
    reason: str = "Invalid"

    def __init__(self, message: str, *, code: int | None = None, reason: str | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if reason is not None:
            self.reason = reason

    @property
    def causes(self) -> list[dict[str, Any]]:
        return []


class BadPatch(PatchError):
    """The patch document itself is malformed (HTTP 400 BadRequest)."""

    code = 400
    reason = "BadRequest"


class StrategicMergeUnsupported(PatchError):
    """Strategic merge patch sent for a kind that has no patch strategies (custom resources).

    A kube-apiserver answers 415 and lists the patch types it does accept.
    """

    code = 415
    reason = "UnsupportedMediaType"

    def __init__(self) -> None:
        super().__init__(
            "the body of the request was in an unknown format - accepted media types include: "
            "application/json-patch+json, application/merge-patch+json, "
            "application/apply-patch+yaml"
        )


class InvalidApply(PatchError):
    """An apply configuration that does not fit the kind's schema (duplicate or keyless
    entries in an associative list, a list where an object belongs, ...)."""


class UnknownKind(LookupError):
    """No schema is known for this group, version and kind."""


@dataclass(frozen=True, slots=True)
class Conflict:
    """One field that an apply would change although another manager owns it.

    ``manager`` is rendered as the API server renders it: the quoted name, then
    ``with subresource "status"`` when the manager wrote through a subresource, then
    ``using apps/v1`` for managers whose operation was Update.
    """

    manager: str
    path: str
    manager_key: str = ""
    """The manager's identifier (JSON); conflict messages list managers in its order."""


class ApplyConflict(PatchError):
    """Server-side apply refused: fields owned by other managers would change (409)."""

    code = 409
    reason = "Conflict"

    def __init__(self, conflicts: list[Conflict]):
        self.conflicts = list(conflicts)
        super().__init__(conflict_message(self.conflicts))

    @property
    def causes(self) -> list[dict[str, Any]]:
        return [
            {
                "reason": "FieldManagerConflict",
                "message": f"conflict with {c.manager}",
                "field": c.path,
            }
            for c in self.conflicts
        ]


def conflict_message(conflicts: list[Conflict]) -> str:
    """The message text of a kube-apiserver apply conflict.

    One conflict: ``Apply failed with 1 conflict: conflict with "m": .spec.replicas``.
    Several: managers in sorted order, each followed by its paths as ``- path`` lines.
    """
    if len(conflicts) == 1:
        only = conflicts[0]
        return f"Apply failed with 1 conflict: conflict with {only.manager}: {only.path}"
    by_manager: dict[tuple[str, str], list[str]] = {}
    for c in conflicts:
        by_manager.setdefault((c.manager_key or c.manager, c.manager), []).append(c.path)
    lines: list[str] = []
    for _key, manager in sorted(by_manager):
        lines.append(f"conflicts with {manager}:")
        lines.extend(f"- {path}" for path in by_manager[_key, manager])
    return f"Apply failed with {len(conflicts)} conflicts: " + "\n".join(lines)
