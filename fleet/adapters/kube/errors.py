"""Kubernetes API failures as fleet sees them.

Every failure carries the HTTP status, the ``Status.reason`` and the server's message, so
that the engine's retry rules (which are pure and look only at status and reason) can
decide, and so that history can say exactly what the API server answered. Transport
failures (connection refused, TLS, timeouts) are status 0 with reason ``Unreachable``.
"""

from __future__ import annotations

import json
from typing import Any


class KubeError(Exception):
    """An API request failed; ``status`` is 0 when the server could not be reached."""

    def __init__(
        self,
        cluster: str,
        status: int,
        reason: str,
        message: str,
        *,
        retry_after: float | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(
            f"{cluster}: {status} {reason}: {message}"
            if status
            else f"{cluster}: unreachable: {message}"
        )
        self.cluster = cluster
        self.status = status
        self.reason = reason
        self.message = message
        self.retry_after = retry_after
        self.details = details or {}

    @property
    def unreachable(self) -> bool:
        return self.status == 0


class KindNotServed(KubeError):
    """The cluster does not serve the apiVersion/kind (no CRD yet, or a typo)."""

    def __init__(self, cluster: str, api_version: str, kind: str) -> None:
        super().__init__(
            cluster, 404, "NotFound", f"the server does not serve {kind} in {api_version}"
        )
        self.api_version = api_version
        self.kind = kind


def from_response(
    cluster: str, status: int, body: bytes | str | None, headers: Any = None
) -> KubeError:
    """Build the error from a non-2xx answer, reading the ``Status`` object when present."""
    reason, message = "", ""
    details: dict[str, Any] = {}
    if body:
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
        try:
            status_obj = json.loads(text)
        except ValueError:
            message = text.strip()[:500]
        else:
            if isinstance(status_obj, dict):
                reason = str(status_obj.get("reason") or "")
                message = str(status_obj.get("message") or "")
                details = status_obj.get("details") or {}
    retry_after = None
    if headers is not None:
        raw = headers.get("Retry-After")
        if raw is not None:
            try:
                retry_after = float(raw)
            except ValueError:
                retry_after = None
    return KubeError(
        cluster,
        status,
        reason or _DEFAULT_REASONS.get(status, "Unknown"),
        message,
        retry_after=retry_after,
        details=details,
    )


_DEFAULT_REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    410: "Expired",
    415: "UnsupportedMediaType",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}
