"""Host-side secret references: Secrets built on the management host from its files.

The values are never in Git: at each render the daemon reads the files (paths use the
same templates as app paths, and may start with ``${CREDENTIALS_DIRECTORY}``), builds
the Secret and applies it with the app's other objects::

    secretRefs:
      - name: db
        fromEnvFile: /etc/fleet/secrets/{cluster.labels.env}/db.env
      - name: tls
        namespace: ingress
        type: kubernetes.io/tls
        fromFiles: {tls.crt: /etc/fleet/tls/{cluster.name}.crt, tls.key: ...}
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Self

from pydantic import Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from fleet.config.base import ConfigModel
from fleet.config.clusters import Cluster
from fleet.config.decryption import check_host_path, expand_host_path

_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
#: What Kubernetes allows as a Secret's data key.
SECRET_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")


class SecretRef(ConfigModel):
    """One Secret of the app, its values read from host files at each render."""

    name: str
    #: Left out: the app's namespace.
    namespace: str | None = None
    type: str = "Opaque"
    #: ``KEY=VALUE`` lines, one data key each.
    from_env_file: str | None = None
    #: Data key -> file; the file's bytes are the value.
    from_files: dict[str, str] = Field(default_factory=dict)
    labels: dict[str, str] = Field(default_factory=dict)
    #: For example ``fleet.dev/sync-wave: "-1"``, to apply it before its users.
    annotations: dict[str, str] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if len(value) > 253 or not _DNS_SUBDOMAIN.match(value):
            raise PydanticCustomError("name", "invalid Secret name {shown}", {"shown": repr(value)})
        return value

    @field_validator("namespace")
    @classmethod
    def _namespace(cls, value: str | None) -> str | None:
        if value is not None and (len(value) > 63 or not _DNS_LABEL.match(value)):
            raise PydanticCustomError("name", "invalid namespace {shown}", {"shown": repr(value)})
        return value

    @field_validator("from_env_file")
    @classmethod
    def _env_file(cls, value: str | None) -> str | None:
        return None if value is None else check_host_path(value, "secret file")

    @field_validator("from_files")
    @classmethod
    def _files(cls, value: dict[str, str]) -> dict[str, str]:
        for key, path in value.items():
            if not SECRET_KEY.match(key) or key in (".", ".."):
                raise PydanticCustomError(
                    "name",
                    "invalid Secret key {shown}: letters, digits, '-', '_' and '.'",
                    {"shown": repr(key)},
                )
            check_host_path(path, "secret file")
        return value

    @model_validator(mode="after")
    def _some_source(self) -> Self:
        if self.from_env_file is None and not self.from_files:
            raise PydanticCustomError(
                "conflict", "give fromEnvFile or fromFiles: where the values come from"
            )
        return self

    def env_file_for(
        self, cluster: Cluster, environ: Mapping[str, str] | None = None
    ) -> Path | None:
        if self.from_env_file is None:
            return None
        return expand_host_path(self.from_env_file, cluster, environ)

    def files_for(
        self, cluster: Cluster, environ: Mapping[str, str] | None = None
    ) -> dict[str, Path]:
        return {k: expand_host_path(v, cluster, environ) for k, v in self.from_files.items()}

    def all_files_for(
        self, cluster: Cluster, environ: Mapping[str, str] | None = None
    ) -> list[Path]:
        env_file = self.env_file_for(cluster, environ)
        return [*([env_file] if env_file else []), *self.files_for(cluster, environ).values()]
