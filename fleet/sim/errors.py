"""API errors as the Kubernetes API server reports them: ``Status`` objects.

Every refusal in the simulator is an :class:`ApiError`; the HTTP layer turns it into a
``Status`` body with the HTTP code, the machine-readable ``reason`` and, for 422, the
``causes`` naming each invalid field, as described in the API conventions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Cause:
    """One invalid field of a 422 answer (``reason`` is e.g. ``FieldValueInvalid``)."""

    field: str
    message: str
    reason: str = "FieldValueInvalid"


@dataclass(slots=True)
class ApiError(Exception):
    """A refusal with the code, reason and message a real API server would send."""

    code: int
    reason: str
    message: str
    name: str = ""
    group: str = ""
    kind: str = ""
    causes: tuple[Cause, ...] = ()
    retry_after: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.code} {self.reason}: {self.message}"

    def status(self) -> dict[str, Any]:
        """The ``Status`` object sent as the response body."""
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        details: dict[str, Any] = {}
        if self.name:
            details["name"] = self.name
        if self.group:
            details["group"] = self.group
        if self.kind:
            details["kind"] = self.kind
        if self.causes:
            details["causes"] = [
                {"reason": c.reason, "message": c.message, "field": c.field} for c in self.causes
            ]
        if self.retry_after is not None:
            details["retryAfterSeconds"] = self.retry_after
        if details:
            body["details"] = details
        return body


def qualified(resource: str, group: str) -> str:
    """``deployments.apps`` or ``pods``: how messages name a resource."""
    return f"{resource}.{group}" if group else resource


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def unauthorized() -> ApiError:
    return ApiError(401, "Unauthorized", "Unauthorized")


def forbidden(resource: str, group: str, name: str, message: str) -> ApiError:
    what = qualified(resource, group)
    subject = f'{what} "{name}"' if name else what
    return ApiError(
        403,
        "Forbidden",
        f"{subject} is forbidden: {message}",
        name=name,
        group=group,
        kind=resource,
    )


def not_found(resource: str, group: str, name: str) -> ApiError:
    return ApiError(
        404,
        "NotFound",
        f'{qualified(resource, group)} "{name}" not found',
        name=name,
        group=group,
        kind=resource,
    )


def no_such_path() -> ApiError:
    """What the server answers for a URL that names no resource at all."""
    return ApiError(404, "NotFound", "the server could not find the requested resource")


def method_not_allowed(method: str) -> ApiError:
    return ApiError(
        405,
        "MethodNotAllowed",
        f"the server does not allow this method on the requested resource ({method})",
    )


def already_exists(resource: str, group: str, name: str) -> ApiError:
    return ApiError(
        409,
        "AlreadyExists",
        f'{qualified(resource, group)} "{name}" already exists',
        name=name,
        group=group,
        kind=resource,
    )


def conflict(resource: str, group: str, name: str, why: str) -> ApiError:
    return ApiError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {qualified(resource, group)} "{name}": {why}',
        name=name,
        group=group,
        kind=resource,
    )


STALE_RESOURCE_VERSION = (
    "the object has been modified; please apply your changes to the latest version and try again"
)


def gone(message: str) -> ApiError:
    return ApiError(410, "Gone", message)


def expired(message: str) -> ApiError:
    return ApiError(410, "Expired", message)


def too_large() -> ApiError:
    return ApiError(413, "RequestEntityTooLarge", "Request entity too large: limit is 3145728")


def unsupported_media_type(content_type: str) -> ApiError:
    return ApiError(
        415,
        "UnsupportedMediaType",
        f"the body of the request was in an unknown format: {content_type}",
    )


def not_acceptable(accept: str, *offered: str) -> ApiError:
    return ApiError(
        406,
        "NotAcceptable",
        f"only the following media types are accepted: {', '.join(offered)} (Accept: {accept})",
    )


def invalid(kind: str, group: str, name: str, causes: list[Cause]) -> ApiError:
    what = f"{kind}.{group}" if group else kind
    summary = "; ".join(f"{c.field}: {c.message}" for c in causes)
    if len(causes) > 1:
        summary = "[" + ", ".join(f"{c.field}: {c.message}" for c in causes) + "]"
    return ApiError(
        422,
        "Invalid",
        f'{what} "{name}" is invalid: {summary}',
        name=name,
        group=group,
        kind=kind,
        causes=tuple(causes),
    )


def too_many_requests(retry_after: int) -> ApiError:
    return ApiError(
        429,
        "TooManyRequests",
        "The server has received too many requests and has asked us to try again later",
        retry_after=retry_after,
    )


def internal(message: str) -> ApiError:
    return ApiError(500, "InternalError", f"Internal error occurred: {message}")


def unavailable(message: str) -> ApiError:
    return ApiError(503, "ServiceUnavailable", message)
