"""The ``notifications`` section: where alerts go (destinations) and which events (rules).

A destination is one of three kinds, written as a nested key so each kind's keys are
checked on their own: ``webhook`` (JSON, optionally HMAC-signed), ``slack`` (a
Slack-compatible incoming webhook) and ``email`` (SMTP with STARTTLS). Secrets are files:
a Slack webhook URL *is* the credential, so it is only ever read from ``urlFile``.

A rule picks events by kind, app and cluster (names or globs, plus an optional label
selector) and names the destinations to send them to. Cross-references between the two
(and to the fleet's apps and clusters) are checked in :mod:`fleet.config.notification_checks`.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping
from datetime import timedelta
from email.utils import parseaddr
from pathlib import Path
from typing import Annotated, Any, Literal, Self
from urllib.parse import quote

from pydantic import AfterValidator, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from fleet.config.apps import Retry
from fleet.config.base import ConfigModel
from fleet.config.issues import DocPath
from fleet.config.selectors import ClusterSelector
from fleet.config.suggest import did_you_mean
from fleet.config.types import Duration, FilePath, Name, PositiveDuration

#: Every kind of event the daemon records; rules may name any of them (or a glob).
EVENT_KINDS: tuple[str, ...] = (
    "sync_failed",
    "sync_retrying",
    "sync_succeeded",
    "health_degraded",
    "drift",
    "cluster_unreachable",
    "cluster_reachable",
    "prune_refused",
    "rollout_halted",
    "rollback",
    "rollout_resumed",
    "rollout_aborted",
    "rollout_promoted",
    "source_failed",
    "untrusted_commit",
    "sync_interrupted",
    "config_reloaded",
    "config_rejected",
    "app_removed",
    "pinned",
    "unpinned",
    "sync_held",
    "suspended",
    "resumed",
    "generator_held",
    "generator_failed",
    "inventory_checked",
    "hooks_cleaned_up",
)

#: Placeholders of a link template; values are URL-encoded when filled in.
LINK_PLACEHOLDERS: tuple[str, ...] = ("app", "cluster", "revision", "kind", "syncId", "rule")

_GLOB = re.compile(r"^[a-z0-9.*?\[\]!_-]+$")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_HEADER_NAME = re.compile(r"^[A-Za-z0-9-]+$")
_USERINFO = re.compile(r"^https?://[^/@]*@")


def is_glob(pattern: str) -> bool:
    return any(char in pattern for char in "*?[")


def matches_any(value: str, patterns: list[str]) -> bool:
    """Whether ``value`` is one of ``patterns`` (names or shell-style globs)."""
    return any(fnmatch.fnmatchcase(value, pattern) for pattern in patterns)


def _check_pattern(value: str) -> str:
    if not _GLOB.match(value):
        raise PydanticCustomError(
            "pattern",
            "invalid name or glob {shown}: lowercase letters, digits, '-', '.', and the glob "
            "characters * ? [ ]",
            {"shown": repr(value)},
        )
    return value


def _check_event_kind(value: str) -> str:
    if is_glob(value):
        if not any(fnmatch.fnmatchcase(kind, value) for kind in EVENT_KINDS):
            raise PydanticCustomError(
                "event_kind",
                "{shown} matches no event kind (kinds: {kinds})",
                {"shown": repr(value), "kinds": ", ".join(EVENT_KINDS)},
            )
    elif value not in EVENT_KINDS:
        hint = did_you_mean(value, EVENT_KINDS) or f" (kinds: {', '.join(EVENT_KINDS)})"
        raise PydanticCustomError(
            "event_kind", "unknown event kind {shown}{hint}", {"shown": repr(value), "hint": hint}
        )
    return value


#: An app or cluster name, or a glob over names (``prod-*``).
NamePattern = Annotated[str, AfterValidator(_check_pattern)]
#: An event kind, or a glob over kinds (``sync_*``, ``*``).
EventKind = Annotated[str, AfterValidator(_check_event_kind)]


def link_fields(template: str) -> list[str]:
    """The placeholders a link template uses; raises ValueError for an unknown one."""
    names = []
    for match in _PLACEHOLDER.finditer(template):
        name = match.group(1).strip()
        if name not in LINK_PLACEHOLDERS:
            raise ValueError(
                f"unknown placeholder {{{name}}}{did_you_mean(name, LINK_PLACEHOLDERS)}: "
                f"use {', '.join('{' + p + '}' for p in LINK_PLACEHOLDERS)}"
            )
        names.append(name)
    leftover = _PLACEHOLDER.sub("", template)
    if "{" in leftover or "}" in leftover:
        raise ValueError("unbalanced '{' or '}' in the link template")
    return names


def render_link(template: str, values: Mapping[str, str | None]) -> str:
    """The template with each placeholder replaced by its URL-encoded value ('' if unset)."""

    def fill(match: re.Match[str]) -> str:
        value = values.get(match.group(1).strip())
        return quote(value, safe="") if value else ""

    return _PLACEHOLDER.sub(fill, template)


def _check_link(value: str) -> str:
    if not value.startswith(("https://", "http://")):
        raise PydanticCustomError(
            "link",
            "a link template must start with https:// or http://, got {shown}",
            {"shown": repr(value[:60])},
        )
    try:
        link_fields(value)
    except ValueError as exc:
        raise PydanticCustomError("link", str(exc)) from None
    return value


LinkTemplate = Annotated[str, AfterValidator(_check_link)]


def _refuse_inline(data: Any, keys: Mapping[str, str]) -> Any:
    """Credentials written inline get a message naming the file key to use instead."""
    if isinstance(data, Mapping):
        for key, file_key in keys.items():
            if key in data:
                raise PydanticCustomError(
                    "inline_secret",
                    "credentials are never written inline ({key}): put it in a file and "
                    "give {file_key}",
                    {"key": key, "file_key": file_key, "at": key},
                )
    return data


class WebhookDestination(ConfigModel):
    """A JSON POST to ``url`` (or the URL in ``urlFile``), signed when ``secretFile`` is set."""

    url: str | None = None
    url_file: FilePath | None = None
    #: The HMAC-SHA256 key; the signature goes in ``signatureHeader`` as ``sha256=<hex>``.
    secret_file: FilePath | None = None
    signature_header: str = "X-Fleet-Signature"

    @model_validator(mode="before")
    @classmethod
    def _no_inline_secret(cls, data: Any) -> Any:
        return _refuse_inline(data, {"secret": "secretFile"})

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return value
        if not value.startswith(("https://", "http://")):
            raise PydanticCustomError("url", "a webhook URL starts with https:// or http://")
        if _USERINFO.match(value):
            raise PydanticCustomError(
                "url",
                "credentials are never written in the URL: put the URL in a file and give "
                "urlFile, or sign requests with secretFile",
            )
        return value

    @field_validator("signature_header")
    @classmethod
    def _header_name(cls, value: str) -> str:
        if not _HEADER_NAME.match(value):
            raise PydanticCustomError(
                "header", "invalid header name {shown}", {"shown": repr(value)}
            )
        return value

    @model_validator(mode="after")
    def _one_url(self) -> Self:
        if (self.url is None) == (self.url_file is None):
            raise _conflict("give either url or urlFile (a URL holding a token), not both", None)
        return self

    def files(self) -> list[tuple[DocPath, Path]]:
        named = (("urlFile", self.url_file), ("secretFile", self.secret_file))
        return [((key,), path) for key, path in named if path is not None]


class SlackDestination(ConfigModel):
    """A Slack-compatible incoming webhook (Slack, Mattermost, Rocket.Chat ...)."""

    #: The webhook URL is the credential, so it is only read from a file.
    url_file: FilePath

    @model_validator(mode="before")
    @classmethod
    def _no_inline_secret(cls, data: Any) -> Any:
        return _refuse_inline(data, {"url": "urlFile"})

    def files(self) -> list[tuple[DocPath, Path]]:
        return [(("urlFile",), self.url_file)]


def _check_address(value: str) -> str:
    _, address = parseaddr(value)
    if "@" not in address or " " in address:
        raise PydanticCustomError("email", "invalid email address {shown}", {"shown": repr(value)})
    return value


EmailAddress = Annotated[str, AfterValidator(_check_address)]


class EmailDestination(ConfigModel):
    """Mail over SMTP: STARTTLS by default, optional login from files."""

    host: str = Field(min_length=1)
    port: int = Field(default=587, ge=1, le=65535)
    #: ``starttls`` (upgrade a plain connection, port 587), ``tls`` (TLS from the first
    #: byte, port 465) or ``none`` (plain text, no login allowed).
    tls: Literal["starttls", "tls", "none"] = "starttls"
    #: CA certificates to trust for the server instead of the system's.
    ca_file: FilePath | None = None
    username_file: FilePath | None = None
    password_file: FilePath | None = None
    sender: EmailAddress = Field(alias="from")
    to: list[EmailAddress] = Field(min_length=1)
    subject_prefix: str = "[fleet]"

    @model_validator(mode="after")
    def _login_needs_tls(self) -> Self:
        if (self.username_file is None) != (self.password_file is None):
            missing = "passwordFile" if self.password_file is None else "usernameFile"
            raise _conflict(f"login needs both usernameFile and passwordFile: add {missing}", None)
        if self.tls == "none" and self.username_file is not None:
            raise _conflict("a password is never sent without TLS: use tls starttls or tls", "tls")
        return self

    def files(self) -> list[tuple[DocPath, Path]]:
        named = (
            ("caFile", self.ca_file),
            ("usernameFile", self.username_file),
            ("passwordFile", self.password_file),
        )
        return [((key,), path) for key, path in named if path is not None]


DestinationKind = Literal["webhook", "slack", "email"]


class Destination(ConfigModel):
    """A named place to send notifications to; exactly one of webhook, slack, email."""

    name: Name
    webhook: WebhookDestination | None = None
    slack: SlackDestination | None = None
    email: EmailDestination | None = None

    @model_validator(mode="after")
    def _exactly_one_kind(self) -> Self:
        given = [k for k in ("webhook", "slack", "email") if getattr(self, k) is not None]
        if not given:
            raise _conflict("say where to send: webhook, slack or email", None)
        if len(given) > 1:
            raise _conflict(f"one kind per destination, not {' and '.join(given)}", given[1])
        return self

    @property
    def kind(self) -> DestinationKind:
        if self.webhook is not None:
            return "webhook"
        return "slack" if self.slack is not None else "email"

    def credential_files(self) -> list[tuple[DocPath, Path]]:
        """(path in the destination entry, file) of every file the destination reads."""
        settings = self.webhook or self.slack or self.email
        assert settings is not None
        return [((self.kind, *key), path) for key, path in settings.files()]


class Rule(ConfigModel):
    """Which events go where: every condition given must hold."""

    name: Name
    events: list[EventKind] = Field(min_length=1)
    #: App names or globs; None means every app (and events that name no app).
    apps: list[NamePattern] | None = None
    #: Cluster names or globs; None means every cluster.
    clusters: list[NamePattern] | None = None
    #: Clusters by label (matchLabels, matchExpressions).
    cluster_selector: ClusterSelector | None = None
    destinations: list[Name] = Field(min_length=1)
    #: Replaces the section's ``link`` for this rule's messages.
    link: LinkTemplate | None = None
    #: Replaces the section's ``groupWindow`` for this rule.
    group_window: Duration | None = None

    @model_validator(mode="after")
    def _selector_by_labels(self) -> Self:
        if self.cluster_selector is not None and self.cluster_selector.names is not None:
            raise _conflict(
                "clusterSelector selects by labels; list cluster names in clusters",
                "clusterSelector",
            )
        return self

    def wants_kind(self, kind: str) -> bool:
        return matches_any(kind, self.events)


class Notifications(ConfigModel):
    """The top-level ``notifications`` section."""

    destinations: list[Destination] = Field(default_factory=list)
    rules: list[Rule] = Field(default_factory=list)
    #: A link added to every message, e.g. to a dashboard: ``...?var-app={app}``.
    link: LinkTemplate | None = None
    #: Identical alerts (same rule, kind, app, cluster, message) within this window are
    #: sent once, then summarised; ``0s`` sends every one.
    group_window: Duration = timedelta(minutes=5)
    #: Notifications waiting per destination; beyond that they are dropped (and counted).
    queue_size: int = Field(default=1000, ge=1)
    #: How long one delivery attempt may take.
    timeout: PositiveDuration = timedelta(seconds=10)
    #: Attempts after the first failure, with exponential back-off and jitter.
    retry: Retry = Field(default_factory=Retry)

    def destination(self, name: str) -> Destination:
        for destination in self.destinations:
            if destination.name == name:
                return destination
        raise KeyError(name)

    def window_of(self, rule: Rule) -> timedelta:
        return rule.group_window if rule.group_window is not None else self.group_window

    def link_of(self, rule: Rule) -> str | None:
        return rule.link if rule.link is not None else self.link


def _conflict(message: str, at: str | None) -> PydanticCustomError:
    return PydanticCustomError("conflict", message, {"at": at} if at else None)
