"""Daemon settings: a YAML file and ``FLEET_*`` environment variables (environment wins).

These are about the daemon itself (where it keeps state, where it listens, how hard it
may push clusters), not about the fleet, which lives in the fleet config. Keys in the
file are the variable names without the prefix, in lower case: ``state_dir`` is
``FLEET_STATE_DIR``; nested keys use ``__`` (``FLEET_OTEL__ENDPOINT``).

pydantic-settings silently skips a YAML file that does not exist; a settings file that
was named but is missing is a mistake worth stopping for, so the file is read here (with
positions, so a bad value is reported with its line) and handed to pydantic-settings as
a source that ranks below the environment.
"""

from __future__ import annotations

import contextvars
import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from fleet.config.api_tokens import ApiToken, check_token_names, legacy_token, refuse_empty_path
from fleet.config.config_source import ConfigSource, resolve_config_source_paths
from fleet.config.documents import YamlDocument, load_yaml_file
from fleet.config.high_availability import HaSettings, resolve_ha_paths
from fleet.config.issues import ConfigError, ConfigIssue
from fleet.config.render_settings import RenderSettings
from fleet.config.schema_errors import describe_error, is_echo, issue_for_error
from fleet.config.types import PositiveDuration

ENV_PREFIX = "FLEET_"
#: Names the settings file when ``--settings`` is not given.
SETTINGS_ENV = "FLEET_SETTINGS"
#: Keys of the settings file holding paths: relative ones are taken from the file's folder.
_PATH_KEYS = ("state_dir", "config", "api_token_file", "webhook_secret_file")


def default_state_dir() -> Path:
    """systemd's ``$STATE_DIRECTORY``, else ``$XDG_STATE_HOME/fleet``, else ~/.local/state."""
    from_systemd = os.environ.get("STATE_DIRECTORY")
    if from_systemd:
        return Path(from_systemd.split(":")[0])
    xdg = os.environ.get("XDG_STATE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".local" / "state"
    return base / "fleet"


@dataclass(frozen=True, slots=True)
class ListenAddress:
    """A TCP host and port, or a unix socket path."""

    host: str = ""
    port: int = 0
    unix_path: Path | None = None

    @property
    def is_loopback(self) -> bool:
        if self.unix_path is not None:
            return True
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False

    def __str__(self) -> str:
        if self.unix_path is not None:
            return f"unix:{self.unix_path}"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


_TCP = re.compile(r"^(?:\[(?P<v6>[0-9a-fA-F:.]+)\]|(?P<host>[A-Za-z0-9.-]+)):(?P<port>\d{1,5})$")


def parse_listen_address(value: str) -> ListenAddress:
    """``127.0.0.1:8787``, ``[::1]:8787``, ``localhost:8787`` or ``unix:/run/fleet/api.sock``."""
    if value.startswith("unix:"):
        path = value.removeprefix("unix:")
        if not path:
            raise ValueError("unix: needs a socket path, like unix:/run/fleet/api.sock")
        return ListenAddress(unix_path=Path(path))
    match = _TCP.match(value)
    if match is None or not 0 < int(match.group("port")) < 65536:
        raise ValueError(
            f"invalid address {value!r}: write HOST:PORT (like 127.0.0.1:8787) or unix:PATH"
        )
    return ListenAddress(
        host=match.group("v6") or match.group("host"), port=int(match.group("port"))
    )


class OtelSettings(BaseModel):
    """Trace export. Unset, the standard ``OTEL_*`` variables decide (none: no export)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    endpoint: str | None = None
    protocol: Literal["http/protobuf", "grpc"] = "http/protobuf"
    service_name: str = "fleet"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
        case_sensitive=False,
    )

    #: Git mirrors, render cache, the history database.
    state_dir: Path = Field(default_factory=default_state_dir)
    #: The fleet config the daemon runs (``fleet run --config`` overrides it).
    config: Path | None = None
    #: The fleet config from Git instead of a local file (fleet.config.config_source).
    config_source: ConfigSource | None = None
    #: Where the HTTP API listens: HOST:PORT or unix:PATH. Loopback by default.
    api_address: str = "127.0.0.1:8787"
    #: File holding a bearer token with every scope (``default`` in the audit log).
    api_token_file: Path | None = None
    #: Named API tokens with scopes, maybe limited to apps (docs/security.md).
    api_tokens: list[ApiToken] = Field(default_factory=list)
    #: diff and plan requests (dry runs on every cluster) per minute per token, and burst.
    api_dry_run_rate: float = Field(default=12.0, gt=0)
    api_dry_run_burst: int = Field(default=6, ge=1)
    #: File holding the shared secret that signs Git push webhooks (GitHub's HMAC
    #: secret, GitLab's token, or fleet's generic HMAC). Unset: webhooks are refused.
    webhook_secret_file: Path | None = None
    #: How often a source is polled when it sets no ``interval`` of its own.
    poll_interval: PositiveDuration = timedelta(seconds=15)
    #: Clusters synced at the same time, across all apps.
    max_concurrent_syncs: int = Field(default=50, ge=1)
    #: Requests per second to one cluster's API server, and the burst above it.
    cluster_qps: float = Field(default=50.0, gt=0)
    cluster_burst: int = Field(default=100, ge=1)
    #: Requests in flight at once to one cluster (each holds a connection; a watch
    #: holds one alone while it lasts and is not counted). Three keep up with
    #: ``cluster_qps`` 50 up to ~60 ms round trips; raise it for farther clusters.
    cluster_connections: int = Field(default=3, ge=1)
    #: Exported Git trees (``state_dir/trees``) kept for renders beyond those in use and
    #: those the apps still want (each source's head, each cluster's last two revisions).
    kept_trees: int = Field(default=10, ge=0)
    #: Git: longest time to connect to a server, and to wait for it while fetching.
    git_connect_timeout: PositiveDuration = timedelta(seconds=10)
    git_transfer_timeout: PositiveDuration = timedelta(seconds=60)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["json", "human"] = "human"
    #: Sync history older than this is deleted.
    history_retention: PositiveDuration = timedelta(days=30)
    #: On SIGTERM, how long steps in flight may take before they are recorded interrupted.
    shutdown_timeout: PositiveDuration = timedelta(seconds=30)
    otel: OtelSettings = Field(default_factory=OtelSettings)
    #: Render processes and the limits of one render (docs/render.md, "Limits").
    render: RenderSettings = Field(default_factory=RenderSettings)
    #: A webhook delivery id is refused when seen again within this window, and a
    #: delivery signed with a timestamp older than it is refused as stale.
    webhook_replay_window: PositiveDuration = timedelta(minutes=10)
    #: The dashboard links each sync to its trace with this URL; ``{trace_id}`` is
    #: replaced by the sync's trace id (e.g. https://tempo.example/trace/{trace_id}).
    dashboard_trace_url: str | None = None
    #: High availability: leader election through a Lease and a replicated history
    #: (fleet.config.high_availability; docs/deploy.md). Unset: one instance, always active.
    ha: HaSettings | None = None

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("dashboard_trace_url")
    @classmethod
    def _trace_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith(("https://", "http://")):
            raise ValueError(f"dashboard_trace_url must be an http(s) URL, got {value[:80]!r}")
        if "{trace_id}" not in value:
            raise ValueError("dashboard_trace_url must contain {trace_id}, replaced by the id")
        return value

    @field_validator("api_address")
    @classmethod
    def _address(cls, value: str) -> str:
        try:
            parse_listen_address(value)
        except ValueError as exc:
            raise PydanticCustomError("address", str(exc)) from None
        return value

    @field_validator("api_token_file", "webhook_secret_file", mode="before")
    @classmethod
    def _no_empty_path(cls, value: Any, info: ValidationInfo) -> Any:
        return refuse_empty_path(value, str(info.field_name))

    @model_validator(mode="after")
    def _token_off_loopback(self) -> Self:
        if not self.listen.is_loopback and not self.token_entries:
            raise PydanticCustomError(
                "address",
                "api_address {address} is reachable from other hosts: set api_token_file "
                "or api_tokens too",
                {"address": self.api_address, "at": "api_address"},
            )
        check_token_names(self.api_tokens, self.api_token_file is not None)
        return self

    @model_validator(mode="after")
    def _one_config(self) -> Self:
        if self.config is not None and self.config_source is not None:
            raise PydanticCustomError(
                "conflict",
                "give config (a local file) or config_source (a Git repository), not both",
                {"at": "config_source"},
            )
        return self

    @property
    def token_entries(self) -> list[ApiToken]:
        """Every API token: ``api_token_file`` (as ``default``) and ``api_tokens``."""
        legacy = [legacy_token(self.api_token_file)] if self.api_token_file else []
        return legacy + list(self.api_tokens)

    @property
    def listen(self) -> ListenAddress:
        return parse_listen_address(self.api_address)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        file_data = _file_data.get() or {}
        return (init_settings, env_settings, _FileSource(settings_cls, dict(file_data)))


_file_data: contextvars.ContextVar[Mapping[str, Any] | None] = contextvars.ContextVar(
    "fleet_settings_file", default=None
)


class _FileSource(PydanticBaseSettingsSource):
    """The settings file's values, below the environment."""

    def __init__(self, settings_cls: type[BaseSettings], data: dict[str, Any]) -> None:
        super().__init__(settings_cls)
        self._data = data

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self._data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self._data)


def load_settings(path: Path | None = None) -> Settings:
    """Settings from ``path`` (or ``$FLEET_SETTINGS``) and the environment.

    A named file that is missing or invalid raises ConfigError, as does a bad
    ``FLEET_*`` variable (named in the message).
    """
    if path is None and os.environ.get(SETTINGS_ENV):
        path = Path(os.environ[SETTINGS_ENV])
    document: YamlDocument | None = None
    data: dict[str, Any] = {}
    if path is not None:
        document = load_yaml_file(path, str(path))
        if document.issues:
            raise ConfigError(document.issues)
        if document.data is not None and not isinstance(document.data, dict):
            raise ConfigError([document.issue((), "expected a mapping of settings")])
        data = _resolve_paths(dict(document.data or {}), path.absolute().parent)
    token = _file_data.set(data)
    try:
        return Settings()
    except ValidationError as exc:
        raise ConfigError(_settings_issues(exc, document)) from None
    finally:
        _file_data.reset(token)


def _resolve_paths(data: dict[str, Any], base: Path) -> dict[str, Any]:
    for key in _PATH_KEYS:
        data[key] = _resolved(data.get(key), base)
    if "config_source" in data:
        data["config_source"] = resolve_config_source_paths(
            data["config_source"], lambda value: value if value is None else _resolved(value, base)
        )
    if "ha" in data:
        data["ha"] = resolve_ha_paths(data["ha"], lambda value: _resolved(value, base))
    tokens = data.get("api_tokens")
    if isinstance(tokens, list):
        data["api_tokens"] = [
            {**entry, "token_file": _resolved(entry.get("token_file"), base)}
            if isinstance(entry, dict) and "token_file" in entry
            else entry
            for entry in tokens
        ]
    return {key: value for key, value in data.items() if value is not _ABSENT}


_ABSENT = object()


def _resolved(value: Any, base: Path) -> Any:
    if isinstance(value, str) and value.strip() and not Path(value).expanduser().is_absolute():
        return str(base / value)
    return _ABSENT if value is None else value


def _settings_issues(error: ValidationError, document: YamlDocument | None) -> list[ConfigIssue]:
    """Each error names the variable or points into the file its value came from."""
    environment = {name.upper() for name in os.environ}
    issues: list[ConfigIssue] = []
    for detail in error.errors():
        if is_echo(detail):
            continue
        loc = tuple(detail["loc"])
        at = (detail.get("ctx") or {}).get("at")
        key = loc or ((at,) if isinstance(at, str) else ())
        variable = ENV_PREFIX + "__".join(str(part) for part in key).upper()
        if key and variable in environment:
            issues.append(ConfigIssue(variable, 0, 0, (), describe_error(detail, Settings)))
        elif document is not None:
            issues.append(issue_for_error(detail, document, Settings))
        else:
            issues.append(ConfigIssue("settings", 0, 0, key, describe_error(detail, Settings)))
    return issues
