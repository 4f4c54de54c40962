"""A cluster of the fleet: its name, its labels, and how to reach it.

Credentials are referenced by file and never written inline, so a fleet config can be
reviewed and committed like code while the secrets stay in ``/etc/fleet`` (or wherever
the daemon's user can read them). Either a kubeconfig (with an optional context), or a
server URL with a token file and an optional CA file.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Self

from pydantic import Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from fleet.config.base import ConfigModel
from fleet.config.issues import DocPath
from fleet.config.types import FilePath, LabelKey, LabelValue, Name

_USERINFO = re.compile(r"^([a-z][a-z0-9+.-]*://)[^/@]*@")
_SERVER_URL = re.compile(r"^https?://[^/\s:]+(:\d{1,5})?(/\S*)?$")


class Cluster(ConfigModel):
    name: Name
    labels: dict[LabelKey, LabelValue] = Field(default_factory=dict)
    kubeconfig: FilePath | None = None
    context: str | None = None
    server: str | None = None
    ca_file: FilePath | None = None
    token_file: FilePath | None = None
    #: Send the token to a plain ``http://`` server anyway. Off: such a cluster is refused.
    allow_insecure_http: bool = False

    @field_validator("server")
    @classmethod
    def _server_is_url(cls, value: str | None) -> str | None:
        if value is not None and not _SERVER_URL.match(value):
            raise PydanticCustomError(
                "url",
                "invalid server URL {shown}: write https://HOST[:PORT]",
                {"shown": repr(_USERINFO.sub(r"\1***@", value))},
            )
        return value

    @model_validator(mode="after")
    def _one_way_in(self) -> Self:
        if self.kubeconfig is not None and self.server is not None:
            raise _conflict("give either kubeconfig (and context) or server, not both", "server")
        if self.kubeconfig is None and self.server is None:
            raise _conflict(
                "say how to reach the cluster: kubeconfig (and context), "
                "or server with tokenFile (and caFile)",
                None,
            )
        if self.kubeconfig is not None:
            for key, value in (("caFile", self.ca_file), ("tokenFile", self.token_file)):
                if value is not None:
                    raise _conflict(f"{key} goes with server, not with kubeconfig", key)
            if self.allow_insecure_http:
                raise _conflict("allowInsecureHttp goes with server, not with kubeconfig", None)
        else:
            if self.context is not None:
                raise _conflict("context goes with kubeconfig, not with server", "context")
            if self.token_file is None:
                raise _conflict("a cluster given by server needs tokenFile", None)
            if (self.server or "").startswith("http://") and not self.allow_insecure_http:
                raise _conflict(
                    f"cluster {self.name} would send its token over plain http://, where "
                    "anyone on the path can read it: use an https:// server (or, on a "
                    "network you trust, set allowInsecureHttp: true)",
                    "server",
                )
        return self

    def credential_files(self) -> list[tuple[DocPath, Path]]:
        """(path in the cluster entry, file) of every file it needs, for existence checks."""
        named = (
            ("kubeconfig", self.kubeconfig),
            ("caFile", self.ca_file),
            ("tokenFile", self.token_file),
        )
        return [((key,), path) for key, path in named if path is not None]

    def describe(self) -> str:
        """Where the cluster is, without any credential."""
        if self.kubeconfig is not None:
            return f"{self.kubeconfig} context {self.context or '(current)'}"
        return self.server or ""


def _conflict(message: str, at: str | None) -> PydanticCustomError:
    return PydanticCustomError("conflict", message, {"at": at} if at else None)
