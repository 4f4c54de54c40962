"""Each sender against a real receiver: what arrives, and how failures are reported.

One attempt per call: these tests check the bytes on the wire (JSON body, HMAC header,
Slack payload, MIME mail after STARTTLS and AUTH) and whether an error is retryable,
and that no error text carries a credential.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

import pytest

from fleet.adapters.notify import (
    DeliveryError,
    EmailSender,
    Notification,
    SlackSender,
    WebhookSender,
)
from tests.adapters.notify.receivers import free_port, http_receiver, smtp_server

pytestmark = pytest.mark.anyio

REVISION = "3f2a1bc9d0e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8"
FAILED = Notification(
    rule="prod-failures",
    kind="sync_failed",
    message="Deployment web/web: ProgressDeadlineExceeded",
    app="web",
    cluster="prod-eu-1",
    details={
        "revision": REVISION,
        "commit_message": "Bump web to 1.4.2",
        "author": "Jane Doe <jane@example.com>",
        "sync_id": 42,
    },
    link="https://grafana.example.com/d/fleet?var-app=web&var-cluster=prod-eu-1",
    event_id=7,
)


def secret_file(tmp_path: Path, name: str, value: str) -> Path:
    path = tmp_path / name
    path.write_text(value + "\n")
    path.chmod(0o600)
    return path


def webhook(url: str | None = None, **kwargs: object) -> WebhookSender:
    options: dict[str, object] = {
        "url": url,
        "url_file": None,
        "secret_file": None,
        "signature_header": "X-Fleet-Signature",
        "timeout": 2.0,
    }
    options.update(kwargs)
    return WebhookSender("hook", **options)  # type: ignore[arg-type]


async def test_webhook_posts_the_notification_as_json() -> None:
    async with http_receiver() as receiver:
        sender = webhook(receiver.url())
        try:
            await sender.send(FAILED)
        finally:
            await sender.aclose()
    (request,) = receiver.requests
    body = json.loads(request.body)
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["X-Fleet-Event"] == "sync_failed"
    assert request.headers["X-Fleet-Delivery"] == FAILED.id == body["id"]
    assert "X-Fleet-Signature" not in request.headers
    assert body["title"] == "Sync failed: web on prod-eu-1 at 3f2a1bc9d0e4"
    assert body["app"] == "web"
    assert body["cluster"] == "prod-eu-1"
    assert body["revision"] == REVISION
    assert body["shortRevision"] == REVISION[:12]
    assert body["commitMessage"] == "Bump web to 1.4.2"
    assert body["author"] == "Jane Doe <jane@example.com>"
    assert body["message"] == "Deployment web/web: ProgressDeadlineExceeded"
    assert body["syncId"] == 42
    assert body["link"] == FAILED.link
    assert body["severity"] == "error"
    assert body["repeats"] == 0


async def test_webhook_signature_verifies_with_the_shared_secret(tmp_path: Path) -> None:
    key = secret_file(tmp_path, "hmac", "correct horse battery staple")
    async with http_receiver() as receiver:
        sender = webhook(receiver.url(), secret_file=key, signature_header="X-Sig")
        try:
            await sender.send(FAILED)
        finally:
            await sender.aclose()
    (request,) = receiver.requests
    expected = hmac.new(b"correct horse battery staple", request.body, hashlib.sha256)
    assert hmac.compare_digest(request.headers["X-Sig"], "sha256=" + expected.hexdigest())
    forged = hmac.new(b"another key", request.body, hashlib.sha256).hexdigest()
    assert request.headers["X-Sig"] != "sha256=" + forged


async def test_webhook_url_can_come_from_a_file(tmp_path: Path) -> None:
    async with http_receiver() as receiver:
        path = secret_file(tmp_path, "url", receiver.url("/hooks/T0/B0/s3cr3t-token"))
        sender = webhook(None, url_file=path)
        try:
            await sender.send(FAILED)
        finally:
            await sender.aclose()
    assert receiver.requests[0].path == "/hooks/T0/B0/s3cr3t-token"


@pytest.mark.parametrize(
    ("status", "retryable"), [(503, True), (500, True), (429, True), (400, False), (404, False)]
)
async def test_http_status_decides_whether_to_retry(status: int, retryable: bool) -> None:
    async with http_receiver() as receiver:
        receiver.statuses = [status]
        sender = webhook(receiver.url())
        try:
            with pytest.raises(DeliveryError, match=f"HTTP {status}") as caught:
                await sender.send(FAILED)
        finally:
            await sender.aclose()
    assert caught.value.retryable is retryable


async def test_connection_refused_is_retryable_and_names_only_host_and_port() -> None:
    port = free_port()
    sender = webhook(f"http://127.0.0.1:{port}/hooks/s3cr3t-path")
    try:
        with pytest.raises(DeliveryError) as caught:
            await sender.send(FAILED)
    finally:
        await sender.aclose()
    assert caught.value.retryable
    assert f"cannot connect to 127.0.0.1:{port}" in str(caught.value)
    assert "s3cr3t" not in str(caught.value)


async def test_slack_payload_and_url_from_file(tmp_path: Path) -> None:
    async with http_receiver() as receiver:
        url_file = secret_file(tmp_path, "slack", receiver.url("/services/T0/B0/XXXX"))
        sender = SlackSender("chat", url_file=url_file, timeout=2.0)
        try:
            await sender.send(FAILED)
        finally:
            await sender.aclose()
    (request,) = receiver.requests
    assert request.path == "/services/T0/B0/XXXX"
    payload = json.loads(request.body)
    assert payload["text"] == "Sync failed: web on prod-eu-1 at 3f2a1bc9d0e4"
    (attachment,) = payload["attachments"]
    assert attachment["color"] == "#d62728"
    assert attachment["title_link"] == FAILED.link
    assert attachment["text"] == "Deployment web/web: ProgressDeadlineExceeded"
    fields = {f["title"]: f["value"] for f in attachment["fields"]}
    assert fields == {
        "App": "web",
        "Cluster": "prod-eu-1",
        "Revision": REVISION,
        "Commit": "Bump web to 1.4.2",
        "Author": "Jane Doe &lt;jane@example.com&gt;",
        "Sync": "#42",
    }


async def test_slack_error_never_shows_the_url(tmp_path: Path) -> None:
    async with http_receiver() as receiver:
        receiver.statuses = [403]
        url_file = secret_file(tmp_path, "slack", receiver.url("/services/T0/B0/SECRETPART"))
        sender = SlackSender("chat", url_file=url_file, timeout=2.0)
        try:
            with pytest.raises(DeliveryError) as caught:
                await sender.send(FAILED)
        finally:
            await sender.aclose()
    assert not caught.value.retryable
    assert str(caught.value) == "HTTP 403: busy"


async def test_missing_secret_file_is_a_final_error_naming_the_file(tmp_path: Path) -> None:
    sender = SlackSender("chat", url_file=tmp_path / "nope", timeout=2.0)
    with pytest.raises(DeliveryError, match=r"cannot read the Slack webhook URL file .*nope"):
        await sender.send(FAILED)
    await sender.aclose()


def email_sender(port: int, tmp_path: Path, ca_file: Path | None, **kwargs: object) -> EmailSender:
    options: dict[str, object] = {
        "host": "127.0.0.1",
        "port": port,
        "tls": "starttls",
        "ca_file": ca_file,
        "username_file": secret_file(tmp_path, "smtp-user", "fleet"),
        "password_file": secret_file(tmp_path, "smtp-password", "pw-0123"),
        "sender": "fleet <fleet@example.com>",
        "to": ["oncall@example.com", "ops@example.com"],
        "subject_prefix": "[fleet]",
        "timeout": 5.0,
    }
    options.update(kwargs)
    return EmailSender("mail", **options)  # type: ignore[arg-type]


async def test_email_over_starttls_with_login(tmp_path: Path) -> None:
    async with smtp_server(tmp_path) as server:
        await email_sender(server.port, tmp_path, server.ca_file).send(FAILED)
    (mail,) = server.mails
    assert mail.tls
    assert mail.login == "fleet"
    assert mail.sender == "fleet@example.com"
    assert mail.recipients == ["oncall@example.com", "ops@example.com"]
    message = mail.message
    assert message["Subject"] == "[fleet] Sync failed: web on prod-eu-1 at 3f2a1bc9d0e4"
    assert message["X-Fleet-Event"] == "sync_failed"
    body = message.get_content()
    for expected in (
        "Deployment web/web: ProgressDeadlineExceeded",
        "App: web",
        "Cluster: prod-eu-1",
        f"Revision: {REVISION}",
        "Commit: Bump web to 1.4.2",
        "Author: Jane Doe <jane@example.com>",
        f"Link: {FAILED.link}",
    ):
        assert expected in body


async def test_email_wrong_password_is_final_and_never_shows_it(tmp_path: Path) -> None:
    async with smtp_server(tmp_path, password="the-right-one") as server:
        sender = email_sender(server.port, tmp_path, server.ca_file)
        with pytest.raises(DeliveryError, match="login refused: 535") as caught:
            await sender.send(FAILED)
    assert not caught.value.retryable
    assert "pw-0123" not in str(caught.value)
    assert server.mails == []


async def test_email_refuses_a_server_without_starttls(tmp_path: Path) -> None:
    async with smtp_server(tmp_path, starttls=False) as server:
        sender = email_sender(server.port, tmp_path, server.ca_file)
        with pytest.raises(DeliveryError, match="STARTTLS") as caught:
            await sender.send(FAILED)
    assert not caught.value.retryable
    assert server.mails == []


async def test_email_refuses_an_untrusted_certificate(tmp_path: Path) -> None:
    async with smtp_server(tmp_path) as server:
        sender = email_sender(server.port, tmp_path, None)  # system CAs only
        with pytest.raises(DeliveryError, match="TLS failed") as caught:
            await sender.send(FAILED)
    assert not caught.value.retryable
    assert server.mails == []
