"""The fleet config from Git: the ``config_source`` daemon setting.

Instead of a local file (``config``), the daemon can follow a branch or tag of a Git
repository and read the fleet config at ``path`` in it, so that clusters and apps are
changed by pull request like everything else. It is a source like any other (same URL
forms, the same auth by files, the same signature verification), so the model extends
:class:`fleet.config.sources.Source` and the daemon fetches it with the same Git code;
what it adds is ``path``. Keys may be written in the settings' snake_case
(``token_file``) or the fleet config's camelCase (``tokenFile``).

A pinned ``commit`` is refused (a config that cannot move is better written as a local
file), and so are a tag range and a chart: the config is read from one followed ref.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any, Self

from pydantic import Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from fleet.config.sources import Source
from fleet.config.types import Name
from fleet.engine.semver import is_range

#: The source name the config source has in logs, events and metrics.
CONFIG_SOURCE_NAME = "fleet-config"
#: Keys of ``config_source`` holding local file paths (both spellings).
_AUTH_PATH_KEYS = (
    "ssh_key_file",
    "sshKeyFile",
    "known_hosts_file",
    "knownHostsFile",
    "token_file",
    "tokenFile",
    "username_file",
    "usernameFile",
    "password_file",
    "passwordFile",
)
_VERIFY_PATH_KEYS = ("ssh_allowed_signers", "sshAllowedSigners", "gpg_keyring", "gpgKeyring")
_VERIFY_LIST_KEYS = ("ssh_public_keys", "sshPublicKeys", "gpg_public_keys", "gpgPublicKeys")


class ConfigSource(Source):
    """Where the fleet config lives in Git: a source plus the config file's path in it."""

    name: Name = CONFIG_SOURCE_NAME
    url: str
    #: The fleet config file, relative to the repository's root.
    path: str = Field(default="fleet.yaml")
    #: The only host directories the config may name files in (credentials, keys, secret
    #: files), besides its own checkout (fleet.config.host_files). None: the state
    #: directory's ``credentials/``.
    credential_dirs: list[Path] | None = None

    @field_validator("path")
    @classmethod
    def _relative_path(cls, value: str) -> str:
        clean = PurePosixPath(value)
        if not value.strip() or clean.is_absolute() or ".." in clean.parts:
            raise PydanticCustomError(
                "path",
                "config_source.path {shown} must be a file path inside the repository "
                "(relative, without '..'), like fleet.yaml or config/fleet.yaml",
                {"shown": repr(value)},
            )
        return str(clean)

    @field_validator("credential_dirs")
    @classmethod
    def _absolute_dirs(cls, value: list[Path] | None) -> list[Path] | None:
        for entry in value or []:
            if not entry.is_absolute():
                raise PydanticCustomError(
                    "path",
                    "credential_dirs: {shown} must be an absolute directory (in the settings "
                    "file, relative to the file's folder)",
                    {"shown": repr(str(entry))},
                )
        return value

    def allowed_dirs(self, state_dir: Path) -> list[Path]:
        """Where the config's host files may be (its checkout aside)."""
        if self.credential_dirs is not None:
            return list(self.credential_dirs)
        return [state_dir / "credentials"]

    @model_validator(mode="after")
    def _followed_ref(self) -> Self:
        if self.commit is not None:
            raise _refused("a config source follows a branch or tag, not a fixed commit", "commit")
        if self.tag is not None and is_range(self.tag):
            raise _refused("a config source follows a branch or an exact tag, not a range", "tag")
        if getattr(self, "chart", None) is not None:
            raise _refused("a config source is a Git repository, not a Helm chart", "chart")
        return self


def _refused(message: str, at: str) -> PydanticCustomError:
    return PydanticCustomError("conflict", message, {"at": at})


def resolve_config_source_paths(value: Any, resolve: Any) -> Any:
    """``config_source`` with its relative file paths taken from the settings file's
    folder (``resolve`` turns one value into an absolute path string)."""
    if not isinstance(value, dict):
        return value
    out = dict(value)
    for key in ("credential_dirs", "credentialDirs"):
        if isinstance(out.get(key), list):
            out[key] = [resolve(entry) for entry in out[key]]
    auth = out.get("auth")
    if isinstance(auth, dict):
        out["auth"] = {k: resolve(v) if k in _AUTH_PATH_KEYS else v for k, v in auth.items()}
    verify = out.get("verify")
    if isinstance(verify, dict):
        resolved: dict[str, Any] = {}
        for key, item in verify.items():
            if key in _VERIFY_PATH_KEYS:
                resolved[key] = resolve(item)
            elif key in _VERIFY_LIST_KEYS and isinstance(item, list):
                resolved[key] = [resolve(entry) for entry in item]
            else:
                resolved[key] = item
        out["verify"] = resolved
    return out
