"""A Slack-compatible incoming webhook (Slack, Mattermost, Rocket.Chat, Zulip's Slack API).

The payload uses what all of them understand: ``text`` (the headline, also the
notification preview) and one legacy ``attachments`` entry with a colour by severity,
the event's message, the facts as short fields and the link as the title's target.
Slack answers ``200 ok``; anything else is a failure with Slack's error word
(``invalid_token``, ``no_service`` ...), which never contains the URL.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fleet.adapters.notify.delivery import read_secret_url
from fleet.adapters.notify.messages import Notification, Severity
from fleet.adapters.notify.posting import JsonPoster

_COLOURS: dict[Severity, str] = {
    "error": "#d62728",
    "warning": "#ff9f1a",
    "info": "#439fe0",
    "ok": "#2ca02c",
}
_SHORT = {"App", "Cluster", "Sync", "Source"}


def _escape(text: str) -> str:
    """Slack's mrkdwn needs only &, < and > escaped."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_payload(notification: Notification) -> dict[str, Any]:
    text = notification.message
    if notification.is_summary:
        text = f"{notification.repeats} more identical alert(s); the latest said: {text}"
    attachment: dict[str, Any] = {
        "fallback": notification.headline,
        "color": _COLOURS[notification.severity],
        "title": notification.headline,
        "text": _escape(text),
        "fields": [
            {"title": label, "value": _escape(value), "short": label in _SHORT}
            for label, value in notification.facts()
        ],
        "footer": f"fleet rule {notification.rule}",
        "ts": int(notification.at.timestamp()),
    }
    if notification.link:
        attachment["title_link"] = notification.link
    return {"text": _escape(notification.headline), "attachments": [attachment]}


class SlackSender:
    def __init__(self, name: str, *, url_file: Path, timeout: float) -> None:
        self._name = name
        self._url_file = url_file
        self._poster = JsonPoster(timeout)

    @property
    def name(self) -> str:
        return self._name

    async def send(self, notification: Notification) -> None:
        url = await read_secret_url(self._url_file, "Slack webhook URL")
        body = json.dumps(slack_payload(notification), default=str).encode()
        await self._poster.post(url, body, {})

    async def aclose(self) -> None:
        await self._poster.aclose()
