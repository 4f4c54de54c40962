"""What the chart adapter is asked for, what it answers, and how it fails.

A chart source names a chart in an HTTP(S) chart repository (an ``index.yaml``) or an
OCI registry (``oci://host/path``) and a version range. A fetch resolves the range to
one version and its archive digest, downloads and verifies the archive unless the cache
has it, and answers a :class:`ChartRevision`: a :class:`~fleet.adapters.git.Revision`
whose id names the chart, the version and the digest (``podinfo@6.1.0@sha256:...``), so
a new chart version travels the same road as a new commit (rollout, waves, history).

Errors subclass :class:`~fleet.adapters.git.GitError` for the same reason: the poller,
``fleet validate`` and the render report them as any source failure, naming the source,
its (redacted) repository and the field at fault. Credentials are read from files when
a request needs them and never appear in a message.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from fleet.adapters.git import GitError, Revision, redact_url

MiB = 1 << 20

#: Helm's OCI media types (helm.sh/docs/topics/registries).
HELM_CONFIG_MEDIA_TYPE = "application/vnd.cncf.helm.config.v1+json"
HELM_CHART_MEDIA_TYPE = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
OCI_MANIFEST_MEDIA_TYPE = "application/vnd.oci.image.manifest.v1+json"


class ChartError(GitError):
    """A chart source failed: unreachable, refused, missing, or not what it claims."""


class ChartUnreachable(ChartError):
    """The repository or registry did not answer; the next poll tries again."""


class ChartNotFound(ChartError):
    """No such chart, no such version, or no version in the range."""


class ChartRejected(ChartError):
    """The archive is not acceptable: wrong digest, too large, unsafe entries."""


@dataclass(frozen=True, slots=True)
class ChartLimits:
    """Bounds on what a chart source may make fleet download and unpack."""

    max_index_bytes: int = 64 * MiB
    max_archive_bytes: int = 16 * MiB
    max_unpacked_bytes: int = 64 * MiB
    max_entries: int = 10_000
    connect_timeout: float = 10.0
    read_timeout: float = 60.0


@dataclass(frozen=True, slots=True)
class ChartAuth:
    """Credential files: basic (username and password) or a token; a CA bundle file."""

    username_file: Path | None = None
    password_file: Path | None = None
    token_file: Path | None = None
    token_username: str = "x-access-token"
    ca_file: Path | None = None


@dataclass(frozen=True, slots=True)
class ChartSpec:
    """One chart source: ``repository`` is ``https://...`` (index.yaml) or ``oci://...``."""

    source: str
    repository: str
    chart: str
    version: str  # a Helm range; "" means the highest stable version
    auth: ChartAuth = ChartAuth()
    #: Talk plain HTTP to an ``oci://`` registry (Helm's ``--plain-http``).
    plain_http: bool = False
    limits: ChartLimits = ChartLimits()

    @property
    def is_oci(self) -> bool:
        return self.repository.startswith("oci://")

    def error(self, kind: type[ChartError], detail: str) -> ChartError:
        return kind(self.source, redact(self.repository), detail)


@dataclass(frozen=True, slots=True)
class ResolvedChart:
    """A version a range picked, where to get it, and the digest it must have."""

    chart: str
    version: str
    digest: str | None  # "sha256:<hex>"; None when an index entry gives none
    url: str  # the archive (HTTP) or the manifest reference (OCI)
    created: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class ChartRevision(Revision):
    """A chart version as a revision: ``sha`` is ``chart@version@sha256:<hex>``."""

    chart: str = ""
    version: str = ""
    digest: str = ""

    @property
    def short_sha(self) -> str:
        return f"{self.chart}@{self.version}"


def revision_id(chart: str, version: str, digest: str) -> str:
    return f"{chart}@{version}@{digest}"


def parse_revision_id(text: str) -> tuple[str, str, str] | None:
    """(chart, version, digest) of a chart revision id, or None if ``text`` is not one."""
    parts = text.split("@")
    if len(parts) != 3 or not parts[2].startswith("sha256:") or len(parts[2]) != 71:
        return None
    return parts[0], parts[1], parts[2]


def redact(url: str) -> str:
    """A repository URL safe to print (no user part, no query)."""
    return redact_url(url)
