"""API tokens in the daemon settings: who may call the HTTP API, and for what.

Each entry names a token, says where its value is (a file, read on every request so a
rotated token takes effect at once, or the SHA-256 digest of the value, so the settings
never hold it), which scopes it has and, optionally, which apps it is limited to::

    api_tokens:
      - {name: ci, token_file: /etc/fleet/tokens/ci, scopes: [sync], apps: ["web-*"]}
      - {name: prometheus, sha256: 9f86d0...0f00a08, scopes: [metrics]}

Scopes: ``metrics`` (``/metrics`` only), ``read`` (status, history, events, diff, plan),
``sync`` (``read`` and manual syncs, pins), ``admin`` (everything, the audit log too).
``admin`` and ``metrics`` see the whole fleet, so they cannot be limited to apps. The
older ``api_token_file`` setting stays: it is one token named ``default`` with ``admin``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

Scope = Literal["metrics", "read", "sync", "admin"]
#: Each scope and the scopes it includes.
SCOPE_INCLUDES: dict[str, frozenset[str]] = {
    "metrics": frozenset({"metrics"}),
    "read": frozenset({"read"}),
    "sync": frozenset({"read", "sync"}),
    "admin": frozenset({"metrics", "read", "sync", "admin"}),
}
#: The name the single ``api_token_file`` token has in the audit log.
DEFAULT_TOKEN_NAME = "default"

_TOKEN_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_APP_GLOB = re.compile(r"^[a-z0-9*?][a-z0-9*?.-]{0,252}$")


def refuse_empty_path(value: Any, setting: str) -> Any:
    """An empty path setting is a mistake (``FLEET_API_TOKEN_FILE=``), never "unset"."""
    if isinstance(value, str) and not value.strip():
        raise PydanticCustomError(
            "empty_path",
            "{setting} is empty: give the path of a file, or leave the setting out",
            {"setting": setting},
        )
    return value


class ApiToken(BaseModel):
    """One named API token (an entry of ``api_tokens``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    #: A file holding the token (read on each request; rotate by rewriting it).
    token_file: Path | None = None
    #: The token's SHA-256 digest in hex (``printf %s TOKEN | sha256sum``).
    sha256: str | None = None
    scopes: list[Scope] = Field(min_length=1)
    #: App names or globs (``web-*``); unset means every app.
    apps: list[str] | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _TOKEN_NAME.match(value):
            raise PydanticCustomError(
                "token_name",
                "invalid token name {shown}: lowercase letters, digits, '.', '_' and '-'",
                {"shown": repr(value)},
            )
        return value

    @field_validator("token_file", mode="before")
    @classmethod
    def _token_file(cls, value: Any) -> Any:
        return refuse_empty_path(value, "token_file")

    @field_validator("sha256")
    @classmethod
    def _digest(cls, value: str | None) -> str | None:
        if value is not None and not _SHA256.match(value):
            raise PydanticCustomError(
                "sha256", "sha256 must be 64 lowercase hex digits (the digest, not the token)"
            )
        return value

    @field_validator("apps")
    @classmethod
    def _apps(cls, value: list[str] | None) -> list[str] | None:
        if value is not None:
            if not value:
                raise PydanticCustomError(
                    "apps", "apps is empty: list app names or globs, or leave it out"
                )
            for pattern in value:
                if not _APP_GLOB.match(pattern):
                    raise PydanticCustomError(
                        "apps", "invalid app name or glob {shown}", {"shown": repr(pattern)}
                    )
        return value

    @model_validator(mode="after")
    def _one_value_and_fleet_wide_scopes(self) -> Self:
        if (self.token_file is None) == (self.sha256 is None):
            raise PydanticCustomError(
                "token_value", "give either token_file or sha256 (the token's digest)"
            )
        wide = [scope for scope in ("admin", "metrics") if scope in self.scopes]
        if self.apps is not None and wide:
            raise PydanticCustomError(
                "token_scope",
                "scope {scope} covers the whole fleet: it cannot be limited to apps",
                {"scope": wide[0]},
            )
        return self

    @property
    def granted(self) -> frozenset[str]:
        """Every scope the token has, with those its scopes include."""
        return frozenset().union(*(SCOPE_INCLUDES[scope] for scope in self.scopes))


def legacy_token(token_file: Path) -> ApiToken:
    """``api_token_file`` as a token entry: named ``default``, every scope."""
    return ApiToken(name=DEFAULT_TOKEN_NAME, token_file=token_file, scopes=["admin"])


def check_token_names(tokens: list[ApiToken], has_legacy: bool) -> None:
    """Names are what the audit log shows: they must tell tokens apart."""
    seen = {DEFAULT_TOKEN_NAME} if has_legacy else set()
    for token in tokens:
        if token.name in seen:
            raise PydanticCustomError(
                "token_name",
                "two API tokens are named {name}: names tell them apart in the audit log"
                + (" (default is api_token_file's)" if token.name == DEFAULT_TOKEN_NAME else ""),
                {"name": token.name, "at": "api_tokens"},
            )
        seen.add(token.name)
