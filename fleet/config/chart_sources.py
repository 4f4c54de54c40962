"""A chart source: a Helm chart in a chart repository or an OCI registry, by version range.

Written as ``chart:`` in a ``sources`` entry instead of ``url`` and a ref, so apps name
it with ``source:`` like any Git source, and a new chart version reaches them the way
a new commit does::

    sources:
      - name: podinfo
        chart:
          repository: oci://registry.example.com/charts   # or https://charts.example.com
          name: podinfo
          version: ">=6.0.0 <7.0.0"                      # Helm's range syntax
          caFile: /etc/fleet/registry-ca.pem
        auth: {usernameFile: ..., passwordFile: ...}      # or tokenFile

``version`` is read as Helm reads it (fleet.engine.semver); left out, the highest stable
version. ``plainHttp`` lets an ``oci://`` registry be reached without TLS (Helm's
``--plain-http``), for a registry on a trusted network or loopback.
"""

from __future__ import annotations

import re
from typing import Self

from pydantic import field_validator, model_validator
from pydantic_core import PydanticCustomError

from fleet.config.base import ConfigModel
from fleet.config.types import FilePath
from fleet.engine.semver import Constraint, ConstraintError

_CHART_NAME = re.compile(r"^[a-z0-9]([-a-z0-9_.]*[a-z0-9])?$")
_REPOSITORY = re.compile(r"^(https?|oci)://[^/@?#\s]+(/[^?#\s]*)?$")


class ChartRef(ConfigModel):
    repository: str
    name: str
    version: str = ""
    ca_file: FilePath | None = None
    plain_http: bool = False

    @field_validator("repository")
    @classmethod
    def _repository_url(cls, value: str) -> str:
        if not _REPOSITORY.match(value):
            raise PydanticCustomError(
                "url",
                "chart repository {shown} must be https://host/path, http://host/path or "
                "oci://host/path, with no credentials or query in it",
                {"shown": repr(value.split("@")[-1])},
            )
        return value

    @field_validator("name")
    @classmethod
    def _chart_name(cls, value: str) -> str:
        if not _CHART_NAME.match(value) or len(value) > 250:
            raise PydanticCustomError(
                "name",
                "invalid chart name {shown}: lowercase letters, digits, '-', '_' and '.'",
                {"shown": repr(value)},
            )
        return value

    @field_validator("version")
    @classmethod
    def _version_range(cls, value: str) -> str:
        if value.strip():
            try:
                Constraint.parse(value)
            except ConstraintError as error:
                raise PydanticCustomError(
                    "range", "invalid version range: {error}", {"error": str(error)}
                ) from None
        return value

    @model_validator(mode="after")
    def _plain_http_for_oci(self) -> Self:
        if self.plain_http and not self.is_oci:
            raise PydanticCustomError(
                "conflict",
                "plainHttp is for oci:// registries; write an http:// repository instead",
                {"at": "plainHttp"},
            )
        return self

    @property
    def is_oci(self) -> bool:
        return self.repository.startswith("oci://")

    @property
    def insecure(self) -> bool:
        """Whether requests go over plain HTTP, where credentials could be read."""
        return self.repository.startswith("http://") or self.plain_http
