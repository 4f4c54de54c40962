"""What a notification says, independent of where it goes.

Every destination (JSON webhook, Slack, email) shows the same facts: which app on which
cluster, the revision (short) with its commit message and author, what happened (the
event's message), and the link the user configured. A *summary* notification stands for
identical alerts held back by grouping (``repeats`` of them within the window).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

Severity = Literal["error", "warning", "info", "ok"]

#: How each event kind reads at the start of a headline, and how serious it is.
_KINDS: dict[str, tuple[str, Severity]] = {
    "sync_failed": ("Sync failed", "error"),
    "sync_retrying": ("Sync failed, retrying", "warning"),
    "sync_succeeded": ("Synced", "ok"),
    "health_degraded": ("Health degraded", "error"),
    "drift": ("Drift detected", "warning"),
    "cluster_unreachable": ("Cluster unreachable", "error"),
    "cluster_reachable": ("Cluster reachable again", "ok"),
    "prune_refused": ("Prune refused", "warning"),
    "rollout_halted": ("Rollout halted", "error"),
    "rollback": ("Rolled back", "warning"),
    "rollout_resumed": ("Rollout resumed", "info"),
    "rollout_aborted": ("Rollout aborted", "warning"),
    "rollout_promoted": ("Soak skipped", "info"),
    "source_failed": ("Source fetch failed", "error"),
    "untrusted_commit": ("Untrusted commit refused", "error"),
    "sync_interrupted": ("Sync interrupted", "warning"),
    "config_rejected": ("Config reload refused", "error"),
    "config_reloaded": ("Config reloaded", "info"),
    "app_removed": ("App removed from cluster", "info"),
    "pinned": ("Pinned", "info"),
    "unpinned": ("Pin cleared", "info"),
    "sync_held": ("Sync waiting", "info"),
    "suspended": ("Suspended", "warning"),
    "resumed": ("Resumed", "info"),
    "generator_held": ("App generator held", "warning"),
    "generator_failed": ("App generator failed", "error"),
    "inventory_checked": ("Inventory checked after a takeover", "info"),
    "hooks_cleaned_up": ("Leftover hooks cleaned up", "info"),
}

SHORT_REVISION = 12


def _new_id() -> str:
    return uuid.uuid4().hex


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Notification:
    """One message for one rule; the same object goes to each of the rule's destinations."""

    rule: str
    kind: str
    message: str
    app: str | None = None
    cluster: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)
    at: datetime = field(default_factory=_now)
    link: str | None = None
    event_id: int | None = None
    #: A summary: how many identical alerts were held back, within how many seconds.
    repeats: int = 0
    window_seconds: float = 0.0
    #: Stable across retries, so a receiver can drop duplicates.
    id: str = field(default_factory=_new_id)

    @property
    def revision(self) -> str | None:
        value = self.details.get("revision")
        return str(value) if value else None

    @property
    def short_revision(self) -> str | None:
        return self.revision[:SHORT_REVISION] if self.revision else None

    @property
    def commit_message(self) -> str | None:
        value = self.details.get("commit_message")
        return str(value) if value else None

    @property
    def author(self) -> str | None:
        value = self.details.get("author")
        return str(value) if value else None

    @property
    def sync_id(self) -> int | None:
        value = self.details.get("sync_id")
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    @property
    def is_summary(self) -> bool:
        return self.repeats > 0

    @property
    def severity(self) -> Severity:
        return _KINDS.get(self.kind, ("", "info"))[1]

    @property
    def what(self) -> str:
        """The event kind in words (``Sync failed``)."""
        phrase = _KINDS.get(self.kind, (self.kind.replace("_", " ").capitalize(), "info"))[0]
        if self.kind == "drift" and self.details.get("selfHeal") is True:
            phrase += ", healing"
        return phrase

    @property
    def headline(self) -> str:
        """``Sync failed: web on prod-eu-1 at 3f2a1bc9d0e4``, or a summary of repeats."""
        where = " on ".join(part for part in (self.app, self.cluster) if part)
        text = f"{self.what}: {where}" if where else self.what
        if self.short_revision:
            text += f" at {self.short_revision}"
        if self.is_summary:
            return f"{self.repeats} more like this in {_span(self.window_seconds)}: {text}"
        return text

    def facts(self) -> list[tuple[str, str]]:
        """(label, value) pairs shown under the headline, only those that are known."""
        rows: list[tuple[str, str]] = []
        if self.app:
            rows.append(("App", self.app))
        if self.cluster:
            rows.append(("Cluster", self.cluster))
        if self.revision:
            rows.append(("Revision", self.revision))
        if self.commit_message:
            rows.append(("Commit", self.commit_message))
        if self.author:
            rows.append(("Author", self.author))
        if self.sync_id is not None:
            rows.append(("Sync", f"#{self.sync_id}"))
        source = self.details.get("source")
        if source:
            rows.append(("Source", str(source)))
        return rows

    def text(self) -> str:
        """The whole message as plain text (email body, chat fallback)."""
        lines = [self.headline, "", self.message, ""]
        if self.is_summary:
            lines[2:2] = [
                f"{self.repeats} more identical alert(s) in the last "
                f"{_span(self.window_seconds)}; the latest said:"
            ]
        lines += [f"{label}: {value}" for label, value in self.facts()]
        if self.link:
            lines.append(f"Link: {self.link}")
        lines.append(f"At: {self.at.isoformat(timespec='seconds')} (rule {self.rule})")
        return "\n".join(lines) + "\n"

    def as_json(self) -> dict[str, Any]:
        """The JSON webhook's body (version 1)."""
        return {
            "version": 1,
            "id": self.id,
            "rule": self.rule,
            "kind": self.kind,
            "severity": self.severity,
            "title": self.headline,
            "message": self.message,
            "app": self.app,
            "cluster": self.cluster,
            "revision": self.revision,
            "shortRevision": self.short_revision,
            "commitMessage": self.commit_message,
            "author": self.author,
            "syncId": self.sync_id,
            "link": self.link,
            "at": self.at.isoformat(),
            "eventId": self.event_id,
            "repeats": self.repeats,
            "windowSeconds": self.window_seconds,
            "details": dict(self.details),
        }


def _span(seconds: float) -> str:
    whole = round(seconds)
    if whole % 3600 == 0 and whole >= 3600:
        return f"{whole // 3600}h"
    if whole % 60 == 0 and whole >= 60:
        return f"{whole // 60}m"
    return f"{seconds:g}s"
