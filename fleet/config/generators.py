"""App generators: many apps from one template, in the spirit of Argo CD's ApplicationSet.

A generator names where its entries come from and holds an app ``template``:

- ``gitDirectories``: one entry per directory of a source (at the source's current
  revision) whose repository path matches one of ``include`` and none of ``exclude``;
  the template sees ``{path}`` (``apps/web``) and ``{path.basename}`` (``web``).
- ``list``: one entry per element, each a mapping of parameters the template sees as
  ``{params.KEY}``.

The template is an app entry whose strings may hold those placeholders; ``{cluster.*}``
placeholders are left for the app to fill in per cluster, as in a written app, and the
template's ``clusters`` selector says where each generated app goes (entries x
clusters). The template stays a plain mapping here: only once filled in is it an app,
validated like one (fleet.config.expansion).

Globs match whole repository paths, segment by segment: ``*`` and ``?`` never cross a
``/``, ``**`` matches any number of segments, ``[abc]`` one character of a set.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Self

from pydantic import Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from fleet.config.base import ConfigModel
from fleet.config.types import Name, Share

#: Generated apps one generator may make unless its ``maxApps`` says otherwise.
DEFAULT_MAX_APPS = 500
#: The most ``maxApps`` may be raised to: past it a fleet wants another generator.
MAX_APPS_LIMIT = 5000

_PARAM_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_SCALAR = (str, int, float, bool)


@lru_cache(maxsize=256)
def compile_glob(pattern: str) -> re.Pattern[str]:
    """The regular expression matching exactly the repository paths ``pattern`` names."""
    parts = [part for part in pattern.strip("/").split("/") if part not in ("", ".")]
    if not parts or ".." in parts:
        raise ValueError(f"glob {pattern!r} must name directories inside the repository")
    out = ""
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        if part == "**":
            out += ".*" if last else "(?:[^/]+/)*"
            continue
        out += _segment(part) + ("" if last else "/")
    try:
        return re.compile(out + r"\Z")
    except re.error as error:  # a character class such as [z-a]
        raise ValueError(f"glob {pattern!r} is not valid: {error}") from None


def _segment(part: str) -> str:
    out, i = "", 0
    while i < len(part):
        char = part[i]
        if char == "*":
            out += "[^/]*"
        elif char == "?":
            out += "[^/]"
        elif char == "[":
            end = part.find("]", i + 2)
            if end < 0:
                raise ValueError(f"unclosed '[' in glob segment {part!r}")
            body = part[i + 1 : end]
            negated = body.startswith("!")
            body = body[1:] if negated else body
            out += "[" + ("^" if negated else "") + re.escape(body).replace(r"\-", "-") + "]"
            i = end
        else:
            out += re.escape(char)
        i += 1
    return out


@dataclass(frozen=True, slots=True)
class WalkPlan:
    """Which part of a tree to list for some globs: start folders and how deep to go."""

    #: Folders (repository paths, "" for the root) whose subfolders are listed.
    roots: tuple[str, ...]
    #: Levels below a root worth listing; None when a ``**`` needs the whole subtree.
    depth: int | None


def walk_plan(patterns: list[str]) -> WalkPlan:
    """The least walk that finds every directory ``patterns`` can match."""
    roots: set[str] = set()
    depth: int | None = 0
    for pattern in patterns:
        parts = [p for p in pattern.strip("/").split("/") if p not in ("", ".")]
        literal: list[str] = []
        for part in parts:
            if any(c in part for c in "*?["):
                break
            literal.append(part)
        rest = parts[len(literal) :]
        if not rest:  # a literal path: list its parent, one level
            roots.add("/".join(literal[:-1]))
            rest = literal[-1:]
        else:
            roots.add("/".join(literal))
        if "**" in rest:
            depth = None
        elif depth is not None:
            depth = max(depth, len(rest))
    # A root inside another root is walked by the outer one already.
    kept = sorted(r for r in roots if not any(_inside(r, o) for o in roots if o != r))
    return WalkPlan(tuple(kept), depth)


def _inside(path: str, root: str) -> bool:
    return root == "" or path.startswith(root + "/")


class GitDirectories(ConfigModel):
    """One generated app per directory of ``source`` that some include glob matches."""

    source: Name
    include: list[str] = Field(min_length=1)
    exclude: list[str] = Field(default_factory=list)

    @field_validator("include", "exclude")
    @classmethod
    def _globs(cls, value: list[str]) -> list[str]:
        for pattern in value:
            try:
                compile_glob(pattern)
            except ValueError as exc:
                raise PydanticCustomError("glob", str(exc)) from None
        return value

    def matches(self, path: str) -> bool:
        """``path`` (a repository path) is matched by an include and by no exclude."""
        return any(compile_glob(p).match(path) for p in self.include) and not any(
            compile_glob(p).match(path) for p in self.exclude
        )

    def plan(self) -> WalkPlan:
        return walk_plan(self.include)


class GeneratorGuard(ConfigModel):
    """How many of its apps one revision may remove without a human's confirmation.

    A revision removing more than ``maxShare`` of the generator's apps (when that is at
    least ``minApps`` apps) is held, and so is one removing every app, whatever the
    numbers: nothing is deleted until ``fleet sync GENERATOR --confirm-prune``.
    """

    max_share: Share = 0.5
    min_apps: int = Field(default=2, ge=1)


class Generator(ConfigModel):
    name: Name
    git_directories: GitDirectories | None = None
    #: The list generator's elements (``list:`` in YAML).
    elements: list[dict[str, Any]] | None = Field(default=None, alias="list")
    #: Above this many entries the generator is refused (and keeps the apps it had).
    max_apps: int = Field(default=DEFAULT_MAX_APPS, ge=1, le=MAX_APPS_LIMIT)
    prune_guard: GeneratorGuard = Field(default_factory=GeneratorGuard)
    #: An app entry whose strings may use the generator's placeholders.
    template: dict[str, Any]

    @field_validator("elements")
    @classmethod
    def _params(cls, value: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
        for index, element in enumerate(value or []):
            for key, item in element.items():
                if not isinstance(key, str) or not _PARAM_KEY.match(key):
                    raise PydanticCustomError(
                        "params",
                        "list[{index}]: parameter name {key} must be letters, digits, '_' "
                        "and '-', starting with a letter or '_'",
                        {"index": index, "key": repr(key)},
                    )
                if not isinstance(item, _SCALAR):
                    raise PydanticCustomError(
                        "params",
                        "list[{index}].{key}: a parameter is a string, number or boolean",
                        {"index": index, "key": key},
                    )
        return value

    @model_validator(mode="after")
    def _one_kind(self) -> Self:
        kinds = [k for k in ("gitDirectories", "list") if self._given(k)]
        if len(kinds) != 1:
            message = (
                "give gitDirectories or list, not both"
                if kinds
                else "say where entries come from: gitDirectories or list"
            )
            raise PydanticCustomError("conflict", message, {"at": "list"} if kinds else None)
        if self.elements is not None and len(self.elements) > self.max_apps:
            raise PydanticCustomError(
                "cap",
                "generator {name}: {count} list entries, more than maxApps ({cap})",
                {
                    "name": self.name,
                    "count": len(self.elements),
                    "cap": self.max_apps,
                    "at": "list",
                },
            )
        return self

    def _given(self, key: str) -> bool:
        return (self.git_directories if key == "gitDirectories" else self.elements) is not None

    @property
    def source(self) -> str | None:
        """The source whose directories feed the generator, if any."""
        return self.git_directories.source if self.git_directories is not None else None
