"""Per-app decryption settings: which age keys on the management host open an app's secrets.

Key files are chosen per cluster with the same templates as app paths, so each
environment has its own key and a dev cluster's key cannot open prod secrets::

    decryption:
      provider: sops
      ageKeyFiles: ["${CREDENTIALS_DIRECTORY}/age-{cluster.labels.env}.txt"]

The same host path rules serve ``secretRefs`` files (fleet.config.secret_refs):
``${CREDENTIALS_DIRECTORY}`` (the only variable) is the directory systemd hands
``LoadCredential=`` files in; it is read from the daemon's environment when a key is
used, and an unset variable is an error naming the file, never an empty prefix.
Keys are read at each use and kept in memory only.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_core import PydanticCustomError

from fleet.config.base import ConfigModel
from fleet.config.clusters import Cluster
from fleet.config.templates import TemplateError, expand, placeholders

CREDENTIALS_VARIABLE = "CREDENTIALS_DIRECTORY"
_CREDENTIALS = "${" + CREDENTIALS_VARIABLE + "}"


def check_host_path(value: str, what: str = "age key file") -> str:
    """A template of an absolute path on the management host (see the module docstring)."""
    rest = value.replace(_CREDENTIALS, "")
    if "$" in rest:
        raise PydanticCustomError(
            "template",
            "{what} {shown}: the only variable is {var}",
            {"what": what, "shown": repr(value), "var": _CREDENTIALS},
        )
    try:
        placeholders(rest)
    except TemplateError as exc:
        raise PydanticCustomError("template", str(exc)) from None
    if value.count(_CREDENTIALS) > 1 or (
        _CREDENTIALS in value and not value.startswith(_CREDENTIALS)
    ):
        raise PydanticCustomError(
            "template",
            "{what} {shown}: {var} may only start the path",
            {"what": what, "shown": repr(value), "var": _CREDENTIALS},
        )
    if not value.startswith(("/", _CREDENTIALS)):
        raise PydanticCustomError(
            "template",
            "{what} {shown} must be an absolute path on the management host (or start with {var})",
            {"what": what, "shown": repr(value), "var": _CREDENTIALS},
        )
    return value


class Decryption(ConfigModel):
    """SOPS decryption of an app's rendered Secrets with age keys from the host."""

    provider: Literal["sops"]
    age_key_files: list[str] = Field(min_length=1)

    @field_validator("age_key_files")
    @classmethod
    def _templates(cls, value: list[str]) -> list[str]:
        return [check_host_path(item) for item in value]

    def key_files_for(
        self, cluster: Cluster, environ: Mapping[str, str] | None = None
    ) -> list[Path]:
        """The key files for ``cluster``; raises TemplateError (a missing label or variable)."""
        return [expand_host_path(t, cluster, environ) for t in self.age_key_files]


def expand_host_path(
    template: str, cluster: Cluster, environ: Mapping[str, str] | None = None
) -> Path:
    """A host path template filled in for ``cluster``; raises TemplateError."""
    env = os.environ if environ is None else environ
    text = expand(template.replace(_CREDENTIALS, ""), cluster.name, cluster.labels)
    if template.startswith(_CREDENTIALS):
        directory = env.get(CREDENTIALS_VARIABLE, "")
        if not directory:
            raise TemplateError(
                f"'{template}': ${CREDENTIALS_VARIABLE} is not set "
                "(give the service LoadCredential= or use an absolute path)"
            )
        text = directory.rstrip("/") + "/" + text.lstrip("/")
    return Path(text)
