"""Senders of notifications: a JSON webhook, a Slack-compatible webhook, SMTP email.

``build_sender(destination, timeout)`` gives the sender for a configured destination;
each sender makes one delivery attempt per call and raises :class:`DeliveryError`
(retryable or not). The dispatcher in :mod:`fleet.runtime.notifications` decides
which notifications to send, retries, and counts.
"""

from __future__ import annotations

from fleet.adapters.notify.delivery import DeliveryError, Sender
from fleet.adapters.notify.messages import Notification
from fleet.adapters.notify.slack import SlackSender, slack_payload
from fleet.adapters.notify.smtp import EmailSender, email_message
from fleet.adapters.notify.webhook import WebhookSender, signature
from fleet.config.notifications import Destination

__all__ = [
    "DeliveryError",
    "EmailSender",
    "Notification",
    "Sender",
    "SlackSender",
    "WebhookSender",
    "build_sender",
    "email_message",
    "signature",
    "slack_payload",
]


def build_sender(destination: Destination, timeout: float) -> Sender:
    """The sender for ``destination``; ``timeout`` bounds each of its network waits."""
    if destination.webhook is not None:
        hook = destination.webhook
        return WebhookSender(
            destination.name,
            url=hook.url,
            url_file=hook.url_file,
            secret_file=hook.secret_file,
            signature_header=hook.signature_header,
            timeout=timeout,
        )
    if destination.slack is not None:
        return SlackSender(destination.name, url_file=destination.slack.url_file, timeout=timeout)
    mail = destination.email
    assert mail is not None
    return EmailSender(
        destination.name,
        host=mail.host,
        port=mail.port,
        tls=mail.tls,
        ca_file=mail.ca_file,
        username_file=mail.username_file,
        password_file=mail.password_file,
        sender=mail.sender,
        to=mail.to,
        subject_prefix=mail.subject_prefix,
        timeout=timeout,
    )
