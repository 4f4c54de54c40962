"""The generic JSON webhook: a POST of :meth:`Notification.as_json`, optionally signed.

With a secret, the body is signed with HMAC-SHA256 and the signature sent as
``<signatureHeader>: sha256=<hex digest>`` (the same form GitHub uses), so a receiver
computes the HMAC of the raw body with the shared secret and compares in constant time.
``X-Fleet-Event`` carries the event kind and ``X-Fleet-Delivery`` an id that stays the
same across retries, for receivers that drop duplicates.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

from fleet.adapters.notify.delivery import read_secret, read_secret_url
from fleet.adapters.notify.messages import Notification
from fleet.adapters.notify.posting import JsonPoster


def signature(body: bytes, secret: bytes) -> str:
    """The signature header's value for ``body``: ``sha256=<hex>``."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def encode(notification: Notification) -> bytes:
    """The exact bytes that are sent (and signed)."""
    return json.dumps(notification.as_json(), separators=(",", ":"), default=str).encode()


class WebhookSender:
    def __init__(
        self,
        name: str,
        *,
        url: str | None,
        url_file: Path | None,
        secret_file: Path | None,
        signature_header: str,
        timeout: float,
    ) -> None:
        self._name = name
        self._url = url
        self._url_file = url_file
        self._secret_file = secret_file
        self._signature_header = signature_header
        self._poster = JsonPoster(timeout)

    @property
    def name(self) -> str:
        return self._name

    async def send(self, notification: Notification) -> None:
        url = self._url
        if url is None:
            assert self._url_file is not None
            url = await read_secret_url(self._url_file, "webhook URL")
        body = encode(notification)
        headers = {"X-Fleet-Event": notification.kind, "X-Fleet-Delivery": notification.id}
        if self._secret_file is not None:
            secret = await read_secret(self._secret_file, "webhook secret")
            headers[self._signature_header] = signature(body, secret.encode())
        await self._poster.post(url, body, headers)

    async def aclose(self) -> None:
        await self._poster.aclose()
