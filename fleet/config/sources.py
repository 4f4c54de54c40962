"""A Git source: where the repository is, which ref to follow, and how to trust it.

Exactly one of ``branch``, ``tag`` or ``commit`` names what to deploy, so nobody has to
guess which wins. Credentials are files: an SSH key with a known_hosts file (an SSH
source without one is refused, since accepting any host key would let anyone on the
path serve the fleet's desired state), or an HTTPS token, or a username and password
(never sent over plain ``http://`` unless ``auth.allowInsecureHttp`` says so).
``verify`` lists the keys whose commit signatures are trusted; with it, an unsigned or
untrusted commit is never deployed.

``tag`` may be a version range (``">=1.4.0 <2.0.0"``, ``^1.2``, ``1.2.x``; Helm's
syntax, fleet.engine.semver): each poll follows the highest tag it matches. A source
with ``chart:`` instead of ``url`` is a Helm chart source (fleet.config.chart_sources).
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Literal, Self

from pydantic import Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from fleet.config.base import ConfigModel
from fleet.config.chart_sources import ChartRef
from fleet.config.issues import DocPath
from fleet.config.types import FilePath, Name, PositiveDuration
from fleet.engine.semver import Constraint, ConstraintError, is_range

Transport = Literal["file", "http", "https", "ssh", "git"]

_URL = re.compile(r"^(?P<scheme>[a-z][a-z0-9+.-]*)://(?P<rest>.+)$")
_SCP_LIKE = re.compile(r"^(?:[A-Za-z0-9._-]+@)?[A-Za-z0-9.-]+:(?!/)(?P<path>.+)$")
_USERINFO = re.compile(r"^([a-z][a-z0-9+.-]*://)[^/@]*@")
_COMMIT = re.compile(r"^([0-9a-f]{40}|[0-9a-f]{64})$")
_SCHEMES: dict[str, Transport] = {
    "file": "file",
    "http": "http",
    "https": "https",
    "ssh": "ssh",
    "git+ssh": "ssh",
    "ssh+git": "ssh",
    "git": "git",
}


def transport_of(url: str) -> Transport | None:
    """The transport a source URL uses, or None if fleet cannot fetch it."""
    match = _URL.match(url)
    if match:
        return _SCHEMES.get(match.group("scheme"))
    if _SCP_LIKE.match(url):
        return "ssh"
    return None


class SourceAuth(ConfigModel):
    ssh_key_file: FilePath | None = None
    known_hosts_file: FilePath | None = None
    token_file: FilePath | None = None
    #: The user name sent with the token: x-access-token suits GitHub, Gitea and
    #: Forgejo; GitLab wants oauth2, Bitbucket x-token-auth.
    token_username: str = "x-access-token"
    username_file: FilePath | None = None
    password_file: FilePath | None = None
    #: Send the token or password over plain ``http://`` anyway (anyone on the path can
    #: read it). Off: such a source is refused.
    allow_insecure_http: bool = False

    @model_validator(mode="after")
    def _one_kind_of_http_auth(self) -> Self:
        if self.token_file is not None and self.username_file is not None:
            raise _conflict("give tokenFile or usernameFile/passwordFile, not both", "usernameFile")
        if (self.username_file is None) != (self.password_file is None):
            missing = "passwordFile" if self.password_file is None else "usernameFile"
            raise _conflict(f"basic auth needs both usernameFile and passwordFile: add {missing}")
        return self

    def files(self) -> list[tuple[DocPath, Path]]:
        named = (
            ("sshKeyFile", self.ssh_key_file),
            ("knownHostsFile", self.known_hosts_file),
            ("tokenFile", self.token_file),
            ("usernameFile", self.username_file),
            ("passwordFile", self.password_file),
        )
        return [((key,), path) for key, path in named if path is not None]

    @property
    def uses_http(self) -> bool:
        return self.token_file is not None or self.username_file is not None

    @property
    def uses_ssh(self) -> bool:
        return self.ssh_key_file is not None or self.known_hosts_file is not None


class SourceVerify(ConfigModel):
    """Keys whose commit signatures are trusted: SSH (allowed signers or public keys), GPG."""

    ssh_allowed_signers: FilePath | None = None
    ssh_public_keys: list[FilePath] = Field(default_factory=list)
    gpg_keyring: FilePath | None = None
    gpg_public_keys: list[FilePath] = Field(default_factory=list)

    @model_validator(mode="after")
    def _some_key(self) -> Self:
        if not self.files():
            raise _conflict(
                "verify needs at least one of sshAllowedSigners, sshPublicKeys, "
                "gpgKeyring, gpgPublicKeys"
            )
        return self

    def files(self) -> list[tuple[DocPath, Path]]:
        named: list[tuple[DocPath, Path]] = []
        if self.ssh_allowed_signers is not None:
            named.append((("sshAllowedSigners",), self.ssh_allowed_signers))
        named += [(("sshPublicKeys", i), p) for i, p in enumerate(self.ssh_public_keys)]
        if self.gpg_keyring is not None:
            named.append((("gpgKeyring",), self.gpg_keyring))
        named += [(("gpgPublicKeys", i), p) for i, p in enumerate(self.gpg_public_keys)]
        return named


class Source(ConfigModel):
    name: Name
    url: str | None = None
    branch: str | None = None
    tag: str | None = None
    commit: str | None = None
    #: How often to poll; None means the daemon's default (settings ``poll_interval``).
    interval: PositiveDuration | None = None
    auth: SourceAuth = Field(default_factory=SourceAuth)
    verify: SourceVerify | None = None
    #: A Helm chart from a chart repository or OCI registry instead of a Git repository.
    chart: ChartRef | None = None

    @field_validator("url")
    @classmethod
    def _fetchable_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        transport = transport_of(value)
        if transport is None:
            raise PydanticCustomError(
                "url",
                "unsupported Git URL {shown}: use file://, https://, http://, ssh://, git:// "
                "or user@host:path",
                {"shown": repr(_USERINFO.sub(r"\1***@", value))},
            )
        match = _URL.match(value)
        if transport in ("http", "https") and match and "@" in match.group("rest").split("/")[0]:
            raise PydanticCustomError(
                "url",
                "credentials are never written in the URL: remove the part before '@' and "
                "use auth.tokenFile or auth.usernameFile/passwordFile",
            )
        return value

    @field_validator("branch", "tag")
    @classmethod
    def _ref_name(cls, value: str | None) -> str | None:
        if value is not None and is_range(value):
            try:
                Constraint.parse(value)
            except ConstraintError as error:
                raise PydanticCustomError(
                    "range", "invalid tag range: {error}", {"error": str(error)}
                ) from None
            return value
        if value is not None and (
            not value or value.startswith(("-", "/", "refs/")) or ".." in value or " " in value
        ):
            raise PydanticCustomError(
                "ref",
                "invalid ref name {shown}: write the short name, like main or v1.2.3",
                {"shown": repr(value)},
            )
        return value

    @field_validator("commit")
    @classmethod
    def _full_commit_id(cls, value: str | None) -> str | None:
        if value is not None and not _COMMIT.match(value):
            raise PydanticCustomError(
                "ref",
                "commit must be a full commit id (40 or 64 lowercase hex digits), got {shown}",
                {"shown": repr(value)},
            )
        return value

    @model_validator(mode="after")
    def _exactly_one_ref_and_matching_auth(self) -> Self:
        if self.chart is not None:
            return self._chart_source()
        if self.url is None:
            raise _conflict("say where the source is: url (Git) or chart (Helm)", "url")
        if self.branch is not None and is_range(self.branch):
            raise _conflict("a version range is for tag, not branch", "branch")
        given = [key for key in ("branch", "tag", "commit") if getattr(self, key) is not None]
        if len(given) > 1:
            raise _conflict(
                f"give one of branch, tag or commit, not {' and '.join(given)}", given[1]
            )
        if not given:
            raise _conflict("say what to deploy: branch, tag or commit")
        transport = self.transport
        if transport == "ssh":
            if self.auth.uses_http:
                raise _conflict("an SSH source takes sshKeyFile and knownHostsFile", "auth")
            if self.auth.known_hosts_file is None:
                raise _conflict(
                    "an SSH source needs auth.knownHostsFile (fleet never trusts an unknown "
                    "host key)",
                    "auth",
                )
            if self.auth.ssh_key_file is None:
                raise _conflict("an SSH source needs auth.sshKeyFile", "auth")
        elif self.auth.uses_ssh:
            raise _conflict(
                f"sshKeyFile and knownHostsFile need an SSH URL, not {transport}", "auth"
            )
        elif self.auth.uses_http and transport not in ("http", "https"):
            raise _conflict(f"token and basic auth need an HTTP(S) URL, not {transport}", "auth")
        if transport == "http" and self.auth.uses_http and not self.auth.allow_insecure_http:
            raise _conflict(
                f"source {self.name} would send its credentials over plain http://, where "
                "anyone on the path can read them: use an https:// URL (or, on a network "
                "you trust, set auth.allowInsecureHttp: true)",
                "url",
            )
        return self

    def _chart_source(self) -> Self:
        assert self.chart is not None
        extra = [k for k in ("url", "branch", "tag", "commit", "verify") if getattr(self, k)]
        if extra:
            raise _conflict(
                f"a chart source takes no {', '.join(extra)} (the chart's version range "
                "says what to deploy)",
                extra[0],
            )
        if self.auth.uses_ssh:
            raise _conflict("a chart source takes tokenFile or usernameFile/passwordFile", "auth")
        if self.chart.insecure and self.auth.uses_http and not self.auth.allow_insecure_http:
            raise _conflict(
                f"source {self.name} would send its credentials over plain HTTP, where anyone "
                "on the path can read them: use https:// (or, on a network you trust, set "
                "auth.allowInsecureHttp: true)",
                "chart",
            )
        return self

    @property
    def is_chart(self) -> bool:
        return self.chart is not None

    @property
    def location(self) -> str:
        """The Git URL or the chart repository, as written."""
        if self.chart is not None:
            return self.chart.repository
        assert self.url is not None
        return self.url

    @property
    def tag_range(self) -> str | None:
        """The tag setting when it is a version range (``>=1.4.0 <2.0.0``)."""
        return self.tag if self.tag is not None and is_range(self.tag) else None

    @property
    def transport(self) -> Transport:
        assert self.url is not None, "a chart source has no Git transport"
        transport = transport_of(self.url)
        assert transport is not None  # checked by the URL validator
        return transport

    @property
    def ref_kind(self) -> Literal["branch", "tag", "commit"]:
        if self.branch is not None:
            return "branch"
        return "tag" if self.tag is not None else "commit"

    @property
    def ref(self) -> str:
        """The full ref to follow (``refs/heads/main``, ``refs/tags/v1``) or the commit id."""
        if self.branch is not None:
            return f"refs/heads/{self.branch}"
        if self.tag is not None:
            return f"refs/tags/{self.tag}"
        assert self.commit is not None
        return self.commit

    def interval_or(self, default: timedelta) -> timedelta:
        return self.interval if self.interval is not None else default

    def credential_files(self) -> list[tuple[DocPath, Path]]:
        """(path in the source entry, file) of every file it needs: auth, trusted keys."""
        files = [(("auth", *key), path) for key, path in self.auth.files()]
        if self.chart is not None and self.chart.ca_file is not None:
            files.append((("chart", "caFile"), self.chart.ca_file))
        if self.verify is not None:
            files += [(("verify", *key), path) for key, path in self.verify.files()]
        return files


def _conflict(message: str, at: str | None = None) -> PydanticCustomError:
    return PydanticCustomError("conflict", message, {"at": at} if at else None)
