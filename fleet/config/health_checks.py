"""The fleet-wide ``health:`` section: Lua health checks written as Argo CD writes them.

Argo CD users keep their health checks as Lua, in ``argocd-cm`` under
``resource.customizations.health.<group_kind>`` or in a ``resource_customizations``
tree (``<group>/<kind>/health.lua``). Fleet reads both, unchanged::

    health:
      lua:
        argoproj.io/Rollout: |
          hs = {status = "Progressing", message = "waiting"}
          ...
          return hs
        "*.crossplane.io/*": |          # * in a key: a wildcard, tried after exact keys
          ...
      luaDirectories:
        - path: /etc/fleet/resource_customizations         # on this host
        - source: argocd-checks                             # in a source fleet mirrors,
          path: resource_customizations                     # at that source's ref

A key is ``group/Kind`` (``Kind`` alone for the core group); Argo CD's ``group_Kind``
spelling is read too. Lookup: inline exact keys, inline wildcards (in the order written),
then each directory in the order listed (exact, then wildcard directories, where ``_``
in a directory name stands for ``*`` as in Argo CD's tree). What runs the scripts, and
the order against the apps' declarative rules and the built-ins, is
fleet.adapters.health and fleet.engine.health.
"""

from __future__ import annotations

import re
from fnmatch import fnmatchcase
from pathlib import Path, PurePosixPath
from typing import Any

from pydantic import Field, ValidationInfo, field_validator, model_validator

from fleet.config.base import ConfigModel
from fleet.config.checks import Finding
from fleet.config.issues import DocPath, Severity

#: ``group/Kind``, ``Kind`` (core group), with ``*``/``?`` wildcards anywhere.
_KEY = re.compile(r"^(?:[A-Za-z0-9.*?-]+/)?[A-Za-z0-9*?]+$")


def check_key(key: str) -> str:
    """The ``group/Kind`` form of a check's key; raises ValueError for a malformed one."""
    if "/" not in key and "_" in key:
        key = key.replace("_", "/", 1)  # Argo CD's resource.customizations.health.group_Kind
    if not _KEY.match(key):
        raise ValueError(
            f"health check key {key!r}: write group/Kind (e.g. argoproj.io/Rollout), "
            "Kind alone for the core group, with * as a wildcard"
        )
    return key


def is_wildcard(key: str) -> bool:
    return "*" in key or "?" in key


def key_matches(pattern: str, key: str) -> bool:
    """Whether a check keyed ``pattern`` covers an object keyed ``key`` (group/Kind)."""
    return fnmatchcase(key, pattern) if is_wildcard(pattern) else pattern == key


class LuaDirectory(ConfigModel):
    """A tree in Argo CD's ``resource_customizations`` layout, on the host or in Git."""

    #: On the host (relative to the config file) or, with ``source``, inside the source.
    path: str = Field(min_length=1)
    #: A source in ``sources``; the tree is read at the commit its ref names, and read
    #: again whenever the source moves.
    source: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _host_path(cls, data: Any, info: ValidationInfo) -> Any:
        # A host path is taken from the config file's directory, as other file paths are.
        if isinstance(data, dict) and data.get("source") is None:
            path, base = data.get("path"), (info.context or {}).get("base_dir")
            if isinstance(path, str) and path and base is not None:
                resolved = Path(path).expanduser()
                if not resolved.is_absolute():
                    data = {**data, "path": str(Path(base) / resolved)}
        return data

    @model_validator(mode="after")
    def _in_repository(self) -> LuaDirectory:
        if self.source is not None:
            parts = PurePosixPath(self.path).parts
            if self.path.startswith("/") or ".." in parts:
                raise ValueError(
                    f"path {self.path!r} must stay inside the source (relative, no '..')"
                )
        return self


class HealthChecks(ConfigModel):
    """Fleet-wide Lua health checks (see the module docstring)."""

    #: Inline scripts by key (Argo CD's ``resource.customizations.health.<group_kind>``).
    lua: dict[str, str] = Field(default_factory=dict)
    #: Trees of ``<group>/<kind>/health.lua`` files, tried after the inline scripts.
    lua_directories: list[LuaDirectory] = Field(default_factory=list)

    @field_validator("lua")
    @classmethod
    def _keys(cls, value: dict[str, str]) -> dict[str, str]:
        checked: dict[str, str] = {}
        for key, script in value.items():
            normal = check_key(key)
            if normal in checked:
                raise ValueError(f"health check key {key!r} is given twice")
            if not script.strip():
                raise ValueError(f"health check {key!r} has an empty script")
            checked[normal] = script
        return checked


def check_health_checks(
    health: HealthChecks, source_names: set[str], files: bool, missing: Severity
) -> list[Finding]:
    """A finding for each directory that names an unknown source or, on the host, does
    not exist. Lua syntax is checked where Lua runs (fleet.adapters.health), by
    ``fleet validate`` and by the daemon when it loads the checks."""
    found: list[Finding] = []
    for index, directory in enumerate(health.lua_directories):
        at: DocPath = ("health", "luaDirectories", index)
        if directory.source is not None:
            if directory.source not in source_names:
                message = f"no source named '{directory.source}'"
                found.append(Finding((*at, "source"), message))
        elif files and not Path(directory.path).is_dir():
            found.append(Finding((*at, "path"), f"no directory {directory.path}", missing))
    return found
