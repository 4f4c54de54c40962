"""What every sender shares: the interface, its one error, and careful secret handling.

A sender delivers one notification in one attempt, or raises :class:`DeliveryError`
saying whether another attempt could succeed; retrying, timeouts and counting are the
dispatcher's job, so every sender behaves the same under them.

Secrets (a Slack URL, an HMAC key, an SMTP password) are read from their files on each
attempt, so a rotated file takes effect without a reload, and they are scrubbed from
every error message: libraries like to put the URL they failed on in their exceptions,
and a Slack URL in a log line is a leaked credential.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

import anyio

from fleet.adapters.notify.messages import Notification


class DeliveryError(Exception):
    """One attempt failed; ``retryable`` says whether trying again may help."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


class Sender(Protocol):
    """Delivers notifications to one destination."""

    @property
    def name(self) -> str: ...

    async def send(self, notification: Notification) -> None:
        """One attempt; raises DeliveryError on failure."""
        ...

    async def aclose(self) -> None:
        """Release connections; the sender is not used afterwards."""
        ...


async def read_secret(path: Path, what: str) -> str:
    """The stripped contents of a credential file; the error names the file, never the value."""
    try:
        text = await anyio.Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise DeliveryError(
            f"cannot read the {what} file {path}: {exc.strerror or type(exc).__name__}",
            retryable=False,
        ) from None
    except UnicodeDecodeError:
        raise DeliveryError(f"the {what} file {path} is not UTF-8 text", retryable=False) from None
    value = text.strip()
    if not value:
        raise DeliveryError(f"the {what} file {path} is empty", retryable=False)
    return value


def scrub(text: str, secrets: Iterable[str | None]) -> str:
    """``text`` with every secret replaced by ``***``."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return text


async def read_secret_url(path: Path, what: str) -> str:
    """A URL that is itself a credential (Slack's, a tokened webhook), read from ``path``.

    Never sent over plain ``http://`` beyond this host: the token in its path would cross
    the network in clear. Loopback (a relay on the same host) is allowed.
    """
    url = await read_secret(path, what)
    parts = urlsplit(url)
    if parts.scheme == "http" and not _is_loopback(parts.hostname or ""):
        raise DeliveryError(
            f"the {what} in {path} is plain http://: the credential in it would cross the "
            "network in clear; use https://",
            retryable=False,
        )
    return url


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
