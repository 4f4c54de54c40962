"""Reading kustomizations before Kustomize does: the inputs of a build, and its safety.

Kustomize fetches anything it cannot find locally (``github.com/org/repo//dir?ref=v1``,
``https://...``, ``git@...``), follows ``..`` anywhere the process can read, and can run
``helm`` to pull charts. fleet therefore walks the overlay and every kustomization it
reaches (resources, bases, components, generators, transformers, validators) first, and
refuses: remote references, any path that leaves the repository or does not exist
locally, symlinks out of the repository, and ``helmCharts``. Only then is Kustomize
invoked, on inputs that are known to be local. The walk also yields the set of
directories the build reads, which keys the render cache.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from fleet.adapters.render.errors import KustomizeBuildError, PathNotFoundError, UnsafeInputError
from fleet.adapters.render.sandbox import display, inside, read_text, reference
from fleet.adapters.render.yamldocs import child_node, line_of, load_one
from fleet.model.manifests import Origin

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")

_REMOTE = re.compile(
    r"""^(?:[a-z][a-z0-9+.-]*://          # https://, ssh://, git::https://
        |[\w.-]+@[\w.-]+:                   # scp-like git@host:org/repo
        |git::
        |(?:github\.com|gitlab\.com|bitbucket\.org|dev\.azure\.com)/)
        |\?ref=|\?version=""",
    re.IGNORECASE | re.VERBOSE,
)

#: Fields whose items are paths (or, for some, inline YAML).
_PATH_LISTS = ("crds", "configurations")
_PATH_OR_KUSTOMIZATION = ("generators", "transformers", "validators")
_DIRECTORY_OR_FILE = ("resources", "bases", "components")
_ITEMS_WITH_PATH = ("patches", "patchesJson6902", "replacements")
_GENERATORS = {"configMapGenerator": "ConfigMap", "secretGenerator": "Secret"}
_REFUSED = ("helmCharts", "helmChartInflationGenerator", "helmGlobals")


@dataclass
class KustomizeInputs:
    """What a build reads: kustomization directories (overlay first) and named files."""

    directories: list[str] = field(default_factory=list)
    kustomization_files: list[str] = field(default_factory=list)
    resource_files: list[str] = field(default_factory=list)
    generated: list[tuple[str, str, Origin]] = field(default_factory=list)
    #: Files a secretGenerator reads (envs and files), repository-relative.
    secret_files: list[str] = field(default_factory=list)


def find_kustomization(root: Path, directory: str) -> str | None:
    """The kustomization file of ``directory`` (relative to root), if it has one."""
    found = [name for name in KUSTOMIZATION_FILES if (root / directory / name).is_file()]
    if len(found) > 1:
        raise KustomizeBuildError(
            f"several kustomization files ({', '.join(found)}); keep one",
            path=display(directory),
        )
    return posixpath.join(directory, found[0]) if found else None


def scan_kustomizations(root: Path, directory: str) -> KustomizeInputs:
    """Walk the overlay at ``directory`` and everything it reaches; raise on unsafe input."""
    inputs = KustomizeInputs()
    pending = [directory]
    while pending:
        current = pending.pop(0)
        if current in inputs.directories:
            continue
        inputs.directories.append(current)
        kustomization = find_kustomization(root, current)
        if kustomization is None:
            raise PathNotFoundError("no kustomization file here", path=display(current))
        inside(root, kustomization)
        inputs.kustomization_files.append(kustomization)
        pending.extend(_Scanner(root, current, kustomization, inputs).scan())
    return inputs


class _Scanner:
    """Checks one kustomization file; collects the directories it references."""

    def __init__(self, root: Path, directory: str, file: str, inputs: KustomizeInputs) -> None:
        self.root, self.directory, self.file, self.inputs = root, directory, file, inputs

    def scan(self) -> list[str]:
        text = read_text(self.root, self.file)
        document = load_one(text, self.file)
        if document is None:
            return []
        if not isinstance(document.value, Mapping):
            raise KustomizeBuildError("a kustomization must be a mapping", path=self.file)
        node, body = document.node, document.value
        for refused in _REFUSED:
            if refused in body:
                raise UnsafeInputError(
                    f"'{refused}' is not supported: Kustomize would run helm and may pull "
                    "charts from the network; render the chart with renderer 'helm'",
                    path=self.file,
                    line=line_of(child_node(node, refused), 1),
                )
        directories: list[str] = []
        for name in _DIRECTORY_OR_FILE:
            for entry, line in self._strings(node, body, name):
                target = self._reference(entry, line, name)
                if (self.root / target).is_dir():
                    directories.append(target)
                else:
                    self.inputs.resource_files.append(target)
        for name in _PATH_OR_KUSTOMIZATION:
            for entry, line in self._strings(node, body, name):
                if "\n" not in entry:
                    target = self._reference(entry, line, name)
                    if (self.root / target).is_dir():
                        directories.append(target)
        for name in _PATH_LISTS:
            for entry, line in self._strings(node, body, name):
                self._reference(entry, line, name)
        for entry, line in self._strings(node, body, "patchesStrategicMerge"):
            if "\n" not in entry and not entry.lstrip().startswith("{"):
                self._reference(entry, line, "patchesStrategicMerge")
        for name in _ITEMS_WITH_PATH:
            for item, item_node in self._mappings(node, body, name):
                if isinstance(item.get("path"), str):
                    line = line_of(child_node(item_node, "path"), 1)
                    self._reference(item["path"], line, name)
        openapi = body.get("openapi")
        if isinstance(openapi, Mapping) and isinstance(openapi.get("path"), str):
            line = line_of(child_node(child_node(node, "openapi") or node, "path"), 1)
            self._reference(openapi["path"], line, "openapi")
        for name, kind in _GENERATORS.items():
            for item, item_node in self._mappings(node, body, name):
                self._generator(item, item_node, name, kind)
        return directories

    def _generator(self, item: Mapping[str, Any], node: yaml.Node, field: str, kind: str) -> None:
        if isinstance(item.get("name"), str):
            origin = Origin(self.file, line_of(node, 1), "kustomize")
            self.inputs.generated.append((kind, item["name"], origin))
        files = item.get("files") or []
        envs = list(item.get("envs") or []) + ([item["env"]] if item.get("env") else [])
        for key, entries in (("files", files), ("envs", envs)):
            lines = _item_lines(child_node(node, key), len(entries), line_of(node, 1))
            for entry, line in zip(entries, lines, strict=True):
                if not isinstance(entry, str):
                    raise KustomizeBuildError(f"{field} {key} must be strings", path=self.file)
                target = self._reference(entry.partition("=")[2] or entry, line, f"{field} file")
                if kind == "Secret" and target not in self.inputs.secret_files:
                    self.inputs.secret_files.append(target)

    def _reference(self, entry: str, line: int, what: str) -> str:
        if _REMOTE.search(entry):
            raise UnsafeInputError(
                f"{what} {entry!r} is remote; fleet renders only what is in the repository "
                "(vendor it into the repository)",
                path=self.file,
                line=line,
            )
        return reference(self.root, self.directory, entry, source=self.file, line=line, what=what)

    def _strings(
        self, node: yaml.Node, body: Mapping[str, Any], name: str
    ) -> Iterator[tuple[str, int]]:
        values = body.get(name)
        if values is None:
            return
        field_node = child_node(node, name)
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise KustomizeBuildError(
                f"'{name}' must be a list of strings", path=self.file, line=line_of(field_node, 1)
            )
        yield from zip(values, _item_lines(field_node, len(values), 1), strict=True)

    def _mappings(
        self, node: yaml.Node, body: Mapping[str, Any], name: str
    ) -> Iterator[tuple[Mapping[str, Any], yaml.Node]]:
        values = body.get(name)
        if values is None:
            return
        field_node = child_node(node, name)
        if not isinstance(values, list) or not all(isinstance(v, Mapping) for v in values):
            raise KustomizeBuildError(
                f"'{name}' must be a list of mappings", path=self.file, line=line_of(field_node, 1)
            )
        assert isinstance(field_node, yaml.SequenceNode)
        yield from zip(values, field_node.value, strict=True)


def _item_lines(node: yaml.Node | None, count: int, default: int) -> list[int]:
    if isinstance(node, yaml.SequenceNode) and len(node.value) == count:
        return [item.start_mark.line + 1 for item in node.value]
    return [default] * count
