"""Git push webhooks: check the sender, then say which repository and ref moved.

Each forge signs differently. GitHub sends ``X-Hub-Signature-256: sha256=<hex>``, an
HMAC-SHA256 of the raw body. GitLab sends the shared secret itself in ``X-Gitlab-Token``
(compared in constant time), or, for its signing tokens, a Standard Webhooks signature.
Gitea and Forgejo send ``X-Gitea-Signature: <hex>``, the same HMAC without a prefix.
fleet's generic form is ``X-Fleet-Signature: sha256=<hex>`` over the body, and a JSON body
``{"repository": URL, "ref": "refs/heads/main", "after": SHA, "delivery": ID}`` (every
field optional: a bare signed ``{}`` means "poll every source now"; a ``delivery`` id
makes a body unique, since a body already received is refused as a replay, see
``replay.py``).

A push only wakes the source pollers: fleet always fetches and resolves the ref itself,
so a forged body cannot make it deploy a commit that is not in Git.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit


class WebhookRejected(Exception):
    """The request is not a valid, correctly signed push; ``status`` is the HTTP answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True, slots=True)
class Push:
    """What a push says moved. Empty fields mean "unknown": poll every matching source."""

    forge: str
    repository_urls: tuple[str, ...] = ()
    ref: str = ""
    after: str = ""


def _hmac_hex(secret: bytes, body: bytes) -> str:
    return hmac.new(secret, body, hashlib.sha256).hexdigest()


def _check_prefixed_hmac(header: str | None, secret: bytes, body: bytes, name: str) -> None:
    if not header:
        raise WebhookRejected(401, f"missing {name} header")
    algorithm, _, digest = header.partition("=")
    if algorithm != "sha256" or not digest:
        raise WebhookRejected(401, f"{name} must be sha256=<hex>")
    if not hmac.compare_digest(digest.strip().lower(), _hmac_hex(secret, body)):
        raise WebhookRejected(401, f"{name} does not match the body")


def _check_standard_webhook(headers: Mapping[str, str], secret: bytes, body: bytes) -> None:
    """Standard Webhooks: base64 HMAC of ``id.timestamp.body`` under ``v1,`` prefixes."""
    message_id = headers.get("webhook-id", "")
    timestamp = headers.get("webhook-timestamp", "")
    signatures = headers.get("webhook-signature", "")
    signed = f"{message_id}.{timestamp}.".encode() + body
    expected = base64.b64encode(hmac.new(secret, signed, hashlib.sha256).digest()).decode()
    for candidate in signatures.split():
        version, _, value = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(value, expected):
            return
    raise WebhookRejected(401, "webhook-signature does not match the body")


def verify(forge: str, headers: Mapping[str, str], body: bytes, secret: bytes) -> None:
    """Raise WebhookRejected(401) unless the request was signed with ``secret``."""
    lowered = {k.lower(): v for k, v in headers.items()}
    if forge == "github":
        _check_prefixed_hmac(
            lowered.get("x-hub-signature-256"), secret, body, "X-Hub-Signature-256"
        )
    elif forge == "gitlab":
        if "webhook-signature" in lowered:
            _check_standard_webhook(lowered, secret, body)
            return
        token = lowered.get("x-gitlab-token")
        if not token:
            raise WebhookRejected(401, "missing X-Gitlab-Token header")
        if not hmac.compare_digest(token.encode(), secret):
            raise WebhookRejected(401, "X-Gitlab-Token does not match")
    elif forge == "gitea":
        signature = lowered.get("x-gitea-signature")
        if not signature:
            raise WebhookRejected(401, "missing X-Gitea-Signature header")
        if not hmac.compare_digest(signature.strip().lower(), _hmac_hex(secret, body)):
            raise WebhookRejected(401, "X-Gitea-Signature does not match the body")
    elif forge == "generic":
        _check_prefixed_hmac(lowered.get("x-fleet-signature"), secret, body, "X-Fleet-Signature")
    else:
        raise WebhookRejected(
            404, f"unknown webhook kind {forge!r} (github, gitlab, gitea, generic)"
        )


def parse_push(forge: str, body: bytes) -> Push:
    """The repository URLs, ref and new commit a verified push names."""
    try:
        payload: Any = json.loads(body or b"{}")
    except ValueError as error:
        raise WebhookRejected(400, f"body is not JSON: {error}") from None
    if not isinstance(payload, dict):
        raise WebhookRejected(400, "body must be a JSON object")
    urls: list[Any] = []
    if forge in ("github", "gitea"):
        repo = payload.get("repository") or {}
        if not isinstance(repo, dict):
            raise WebhookRejected(400, "repository must be an object")
        urls = [repo.get(k) for k in ("clone_url", "ssh_url", "git_url", "html_url")]
    elif forge == "gitlab":
        project = payload.get("project") or payload.get("repository") or {}
        urls = [
            project.get(k)
            for k in ("git_http_url", "git_ssh_url", "http_url", "url", "web_url", "homepage")
        ]
    else:
        repository = payload.get("repository")
        urls = [repository] if isinstance(repository, str) else []
    return Push(
        forge=forge,
        repository_urls=tuple(u for u in urls if isinstance(u, str) and u),
        ref=str(payload.get("ref") or ""),
        after=str(payload.get("after") or payload.get("checkout_sha") or ""),
    )


def repository_key(url: str) -> str:
    """A URL reduced to host and path, so https, ssh and scp forms of a repo compare equal.

    ``https://user:pw@Git.Example.com/org/repo.git`` and ``git@git.example.com:org/repo``
    both become ``git.example.com/org/repo``.
    """
    text = url.strip()
    if "://" not in text and ":" in text.split("/", 1)[0]:
        host_part, _, path = text.partition(":")
        host = host_part.rpartition("@")[2]
    else:
        parts = urlsplit(text)
        host = parts.hostname or ""
        path = parts.path
    path = path.strip("/")
    path = path.removesuffix(".git")
    return f"{host.lower()}/{path}"
