"""libgit2's failures turned into fleet's typed, secret-free :class:`GitError`.

libgit2 reports most network failures as a generic error with a message; the type a
caller acts on (retry, fix credentials, refuse) is recovered from that message. Every
message is scrubbed first: each secret the fetch read is replaced, and so is the raw URL.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import pygit2

from fleet.adapters.git.errors import (
    CertificateInvalid,
    GitAuthFailed,
    GitError,
    GitSetupError,
    GitTimeout,
    GitUnreachable,
    RepositoryNotFound,
)

_TIMEOUT = re.compile(r"timed out|timeout", re.IGNORECASE)
_UNREACHABLE = re.compile(
    r"failed to connect|failed to resolve address|connection refused|could not connect|"
    r"network is unreachable|no route to host|connection reset|unexpected eof|"
    r"failed to start ssh session|failed to send request|early eof",
    re.IGNORECASE,
)
_NOT_FOUND = re.compile(
    r"no such repository|does not appear to be a git repository|repository not found|"
    r"http status code: 404|not found|could not find repository|does not exist",
    re.IGNORECASE,
)
_AUTH = re.compile(
    r"authentication|unauthorized|http status code: 40[13]|permission denied|"
    r"too many redirects or authentication replays",
    re.IGNORECASE,
)
_BAD_KEY = re.compile(r"private key|public key from|passphrase", re.IGNORECASE)


def scrub(text: str, secrets: Iterable[str], raw_url: str, shown_url: str) -> str:
    """``text`` without any secret, and with the URL in its redacted form."""
    if raw_url and raw_url != shown_url:
        text = text.replace(raw_url, shown_url)
    for secret in sorted(set(secrets), key=len, reverse=True):
        if secret:
            text = text.replace(secret, "***")
    return text


def translate(
    error: BaseException,
    source: str,
    raw_url: str,
    shown_url: str,
    secrets: Iterable[str] = (),
) -> GitError:
    """The :class:`GitError` that says what went wrong with ``error`` during a fetch."""
    if isinstance(error, GitError):
        return error
    detail = scrub(str(error) or type(error).__name__, secrets, raw_url, shown_url)
    kind: type[GitError]
    if isinstance(error, pygit2.AuthError) or _AUTH.search(detail):
        kind = GitAuthFailed
    elif isinstance(error, pygit2.CertificateError):
        kind = CertificateInvalid
    elif _BAD_KEY.search(detail):
        kind = GitSetupError
        detail = f"cannot use the SSH key (encrypted keys are not supported): {detail}"
    elif _TIMEOUT.search(detail):
        kind = GitTimeout
    elif _UNREACHABLE.search(detail):
        kind = GitUnreachable
    elif _NOT_FOUND.search(detail):
        kind = RepositoryNotFound
    else:
        kind = GitError
    return kind(source, shown_url, detail)
