"""Kubernetes API failures as fleet sees them.

Every failure carries the HTTP status, the ``Status.reason`` and the server's message, so
that the engine's retry rules (which are pure and look only at status and reason) can
decide, and so that history can say exactly what the API server answered. Transport
failures (connection refused, TLS, timeouts) are status 0 with reason ``Unreachable``.

What reaches a person (status, events, notifications, sync messages) is one readable
line: :func:`transport_reason` turns an aiohttp/ssl/OS exception into a few words
("connection refused", "the connection was cut in the middle of an answer") and
:func:`http_reason` an API answer into what it means ("forbidden (403): ..."). The raw
text (the exception's repr, the body of a non-Status answer) stays in ``KubeError.raw``
for history, where someone digging in can read it.
"""

from __future__ import annotations

import errno
import json
import ssl
from typing import Any

import aiohttp

from fleet.adapters.kube.http1 import AnswerCut, ClosedWithoutAnswer, UnreadableAnswer

#: The longest readable reason kept on one line (a server message can be pages long).
MAX_REASON = 300


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
        raw: str = "",
    ) -> None:
        message = one_line(message)
        self.cluster = cluster
        self.status = status
        self.reason = reason
        self.message = message
        self.retry_after = retry_after
        self.details = details or {}
        #: What the library or server said, unabridged (for history), when it differs.
        self.raw = raw if raw and raw != message else ""
        super().__init__(f"{cluster}: {self.sentence}")

    @property
    def unreachable(self) -> bool:
        return self.status == 0

    @property
    def sentence(self) -> str:
        """Why it failed, in one readable line (without the cluster's name)."""
        if self.unreachable:
            return f"unreachable: {self.message or 'no answer'}"
        return http_reason(self.status, self.reason, self.message, self.retry_after)


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
    reason, message, raw = "", "", ""
    details: dict[str, Any] = {}
    if body:
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
        try:
            status_obj = json.loads(text)
        except ValueError:
            # Not a Status: a proxy's or load balancer's page. Its first line is kept
            # readable; the whole (cut) text goes to history.
            raw = text.strip()[:2000]
            message = _first_words(raw)
        else:
            if isinstance(status_obj, dict):
                reason = str(status_obj.get("reason") or "")
                message = str(status_obj.get("message") or "")
                details = status_obj.get("details") or {}
    retry_after = None
    if headers is not None:
        retry_header = headers.get("Retry-After")
        if retry_header is not None:
            try:
                retry_after = float(retry_header)
            except ValueError:
                retry_after = None
    return KubeError(
        cluster,
        status,
        reason or _DEFAULT_REASONS.get(status, "Unknown"),
        message,
        retry_after=retry_after,
        details=details,
        raw=raw,
    )


def unreachable(cluster: str, error: BaseException) -> KubeError:
    """A request that got no HTTP answer: the readable reason, the raw text kept."""
    raw = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    return KubeError(cluster, 0, "Unreachable", transport_reason(error), raw=raw[:2000])


def one_line(text: str, limit: int = MAX_REASON) -> str:
    """``text`` with its whitespace (newlines included) folded, cut to ``limit``."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _first_words(text: str) -> str:
    """The first non-empty line of a non-JSON body, without HTML tags."""
    for line in text.splitlines():
        words = []
        inside = False
        for char in line:
            if char == "<":
                inside = True
            elif char == ">":
                inside = False
                words.append(" ")
            elif not inside:
                words.append(char)
        cleaned = " ".join("".join(words).split())
        if cleaned:
            return one_line(cleaned, 120)
    return ""


def transport_reason(error: BaseException) -> str:
    """Why a request got no answer, as a few readable words (no library class names)."""
    if isinstance(error, aiohttp.ClientConnectorCertificateError):
        cert = error.certificate_error
        detail = getattr(cert, "verify_message", "") or getattr(cert, "reason", "") or ""
        return "TLS: the API server's certificate is not trusted" + (
            f" ({detail})" if detail else ""
        )
    if isinstance(error, ssl.SSLCertVerificationError):
        detail = error.verify_message or ""
        return "TLS: the API server's certificate is not trusted" + (
            f" ({detail})" if detail else ""
        )
    if isinstance(error, aiohttp.ClientConnectorSSLError | ssl.SSLError):
        cause = getattr(error, "os_error", error)
        detail = getattr(cause, "reason", "") or ""
        return "TLS handshake failed" + (
            f" ({str(detail).lower().replace('_', ' ')})" if detail else ""
        )
    if isinstance(error, aiohttp.ClientConnectorDNSError):
        return f"the name {error.host} does not resolve"
    if isinstance(error, aiohttp.ClientConnectorError):
        return _os_reason(error.os_error, f"cannot connect to {error.host}:{error.port}")
    if isinstance(error, aiohttp.ServerTimeoutError | TimeoutError):
        return "timed out waiting for the API server"
    if isinstance(error, aiohttp.ClientPayloadError | AnswerCut):
        return "the connection was cut in the middle of an answer"
    if isinstance(error, aiohttp.ServerDisconnectedError | ClosedWithoutAnswer):
        return "the API server closed the connection without answering"
    if isinstance(error, UnreadableAnswer):
        return one_line(f"the API server's answer is not readable HTTP ({error})", 120)
    if isinstance(error, aiohttp.ClientOSError | OSError):
        return _os_reason(error, "network error")
    if isinstance(error, aiohttp.ClientError):
        return one_line(str(error) or type(error).__name__, 120)
    return one_line(f"{type(error).__name__}: {error}", 120)


_ERRNO_REASONS = {
    errno.ECONNREFUSED: "connection refused",
    errno.ECONNRESET: "the connection was reset",
    errno.EHOSTUNREACH: "no route to the host",
    errno.ENETUNREACH: "the network is unreachable",
    errno.ETIMEDOUT: "timed out connecting",
    errno.EPIPE: "the connection was closed while sending",
}


def _os_reason(error: BaseException, fallback: str) -> str:
    code = getattr(error, "errno", None)
    if code in _ERRNO_REASONS:
        return _ERRNO_REASONS[code]
    strerror = getattr(error, "strerror", None)
    if strerror:
        return f"{fallback}: {str(strerror).lower()}"
    # aiohttp's connector errors carry several attempts' errors in their text; the
    # first errno-looking one is what happened.
    text = str(error).lower()
    if "connect call failed" in text or "connection refused" in text:
        return "connection refused"
    return fallback


def http_reason(status: int, reason: str, message: str, retry_after: float | None = None) -> str:
    """What an API answer means, in one line, with the server's own Status message."""
    said = f": {one_line(message)}" if message else ""
    code = f"{status} {reason}".strip()
    if status == 401:
        return f"the API server rejected fleet's credentials ({code}); check the cluster's token"
    if status == 403:
        return f"forbidden ({code}){said}"
    if status == 404:
        return f"not found ({code}){said}"
    if status == 409:
        return f"conflict ({code}){said}"
    if status == 410:
        return f"expired ({code}){said}"
    if status == 422:
        return f"rejected as invalid ({code}){said}"
    if status == 429:
        later = f"; retry after {retry_after:g}s" if retry_after is not None else ""
        return f"the API server is throttling requests ({code}){later}{said}"
    if status >= 500:
        return f"the API server failed ({code}){said}"
    return f"{code}{said}"


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
    502: "BadGateway",
    503: "ServiceUnavailable",
    504: "Timeout",
}
