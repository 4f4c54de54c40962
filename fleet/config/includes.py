"""``include:``: one fleet config split across files, so each team can own its apps file.

The main config lists files or directories (a directory means every ``*.yaml`` in it, in
name order) relative to the file that names them; an included file holds ``clusters``,
``sources``, ``apps``, ``projects`` and ``generators`` entries and may include more
files. Entries are
appended to the main file's lists: the main file's own first, then each include in order,
depth first. Everything else (``rollout``, ``notifications``, ``syncWindows``) stays in
the main file, where one owner decides it.

Three rules keep a split config as safe as a single file:

- An include never leaves the config's root directory (the main file's directory, or the
  checkout of a config source), whether by ``..`` or by a symbolic link: a commit to the
  config repository must not make the daemon read ``/etc`` or another tenant's files.
- A file included twice, or a cycle of includes, is an error naming the chain.
- Two entries with the same name in one section are an error naming both places, and
  the second is left out, so the later checks do not report it again under a merged
  index nobody wrote.

Issues keep pointing at the file, line and column where a value was written: the
:class:`MergedDocument` maps a path in the merged lists (``apps[7].source``) back to the
document and the index within it (``apps/web.yaml``, ``apps[1].source``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from fleet.config.documents import YamlDocument, load_yaml_file
from fleet.config.issues import ConfigError, ConfigIssue, DocPath, Severity

#: The list sections an included file may hold, merged across files.
LIST_SECTIONS = ("clusters", "sources", "apps", "projects", "generators")
INCLUDE_KEY = "include"
#: Bounds on what a config repository can make the daemon read at each load.
MAX_INCLUDED_FILES = 1000
MAX_FILE_BYTES = 4 * 1024 * 1024

_SINGULAR = {
    "clusters": "cluster",
    "sources": "source",
    "apps": "app",
    "projects": "project",
    "generators": "generator",
}


@dataclass(slots=True)
class MergedDocument(YamlDocument):
    """The main document with its includes merged in; issues point into the right file."""

    #: (section, merged index) -> (document it was written in, index there).
    origins: dict[tuple[str, int], tuple[YamlDocument, int]] = field(default_factory=dict)
    #: Every file read, the main one first (display names).
    files: list[str] = field(default_factory=list)

    def origin_of(self, path: DocPath) -> tuple[YamlDocument | None, DocPath]:
        """The document a merged path was written in (None: this one) and its path there."""
        if len(path) >= 2 and isinstance(path[0], str) and isinstance(path[1], int):
            found = self.origins.get((path[0], path[1]))
            if found is not None:
                document, index = found
                return document, (path[0], index, *path[2:])
        return None, path

    def issue(
        self,
        path: DocPath,
        message: str,
        *,
        severity: Severity = "error",
        at_key: bool = False,
    ) -> ConfigIssue:
        document, local = self.origin_of(path)
        if document is None:
            return YamlDocument.issue(self, path, message, severity=severity, at_key=at_key)
        return document.issue(local, message, severity=severity, at_key=at_key)

    def has(self, path: DocPath) -> bool:
        document, local = self.origin_of(path)
        return local in (self if document is None else document).positions


def merge_includes(
    document: YamlDocument, path: Path, root: Path
) -> tuple[YamlDocument, list[ConfigIssue]]:
    """``document`` with its includes merged (unchanged without ``include:``), and the
    problems found in the included files and the include lists."""
    data = document.data
    if not isinstance(data, dict) or INCLUDE_KEY not in data:
        return document, []
    merger = _Merger(root)
    merger.add(document, path.absolute(), ())
    merged_data = {key: value for key, value in data.items() if key != INCLUDE_KEY}
    for section in LIST_SECTIONS:
        if section in merged_data and not isinstance(merged_data[section], list):
            continue  # the schema reports it on the main file
        if section in merged_data or merger.sections[section]:
            merged_data[section] = merger.sections[section]
    merged = MergedDocument(
        file=document.file,
        data=merged_data,
        positions=document.positions,
        issues=list(document.issues),
        origins=merger.origins,
        files=merger.files,
    )
    return merged, merger.issues


class _Merger:
    def __init__(self, root: Path) -> None:
        self.root = Path(os.path.normpath(root.absolute()))
        self.real_root = self.root.resolve()
        self.sections: dict[str, list[object]] = {section: [] for section in LIST_SECTIONS}
        self.origins: dict[tuple[str, int], tuple[YamlDocument, int]] = {}
        self.issues: list[ConfigIssue] = []
        self.files: list[str] = []
        #: Resolved file -> display name of the file that included it first.
        self.included_from: dict[Path, str] = {}
        self.first: dict[tuple[str, str], ConfigIssue] = {}
        #: Resolved file -> its display name (for the chain of a cycle).
        self.names: dict[Path, str] = {}

    def add(self, document: YamlDocument, path: Path, chain: tuple[Path, ...]) -> None:
        real = path.resolve()
        chain = (*chain, real)
        self.names[real] = document.file
        self.files.append(document.file)
        data = document.data if isinstance(document.data, dict) else {}
        for section in LIST_SECTIONS:
            entries = data.get(section)
            if isinstance(entries, list):
                for index, entry in enumerate(entries):
                    self._entry(document, section, index, entry)
            elif entries is not None and chain[1:]:
                self.issues.append(document.issue((section,), "expected a list"))
        includes = data.get(INCLUDE_KEY)
        if includes is None:
            return
        if not isinstance(includes, list):
            self.issues.append(
                document.issue((INCLUDE_KEY,), "expected a list of files or directories")
            )
            return
        for index, entry in enumerate(includes):
            for target, shown in self._targets(document, path, index, entry):
                self._include(document, (INCLUDE_KEY, index), target, shown, chain)

    def _entry(self, document: YamlDocument, section: str, index: int, entry: object) -> None:
        name = entry.get("name") if isinstance(entry, dict) else None
        if isinstance(name, str):
            here = document.issue((section, index, "name"), "")
            earlier = self.first.get((section, name))
            if earlier is not None:
                self.issues.append(
                    document.issue(
                        (section, index, "name"),
                        f"duplicate {_SINGULAR[section]} name '{name}': defined in "
                        f"{_where(earlier)} and in {_where(here)}",
                    )
                )
                return
            self.first[(section, name)] = here
        merged = self.sections[section]
        self.origins[(section, len(merged))] = (document, index)
        merged.append(entry)

    def _targets(
        self, document: YamlDocument, path: Path, index: int, entry: object
    ) -> list[tuple[Path, str]]:
        """The files one include entry names, with their display names."""
        at: DocPath = (INCLUDE_KEY, index)
        if not isinstance(entry, str) or not entry.strip():
            self.issues.append(document.issue(at, "expected a file or directory path"))
            return []
        if Path(entry).is_absolute() or entry.startswith("~"):
            self.issues.append(
                document.issue(at, f"include '{entry}': write a path relative to this file")
            )
            return []
        target = path.parent / entry
        shown = os.path.normpath(os.path.join(os.path.dirname(document.file), entry))
        if not self._inside_root(target):
            self.issues.append(
                document.issue(
                    at, f"include '{entry}' is outside the config's root directory {self.root}"
                )
            )
            return []
        if target.is_dir():
            files = sorted(p for p in target.iterdir() if p.name.endswith(".yaml"))
            return [(file, os.path.join(shown, file.name)) for file in files]
        if not target.exists():
            self.issues.append(document.issue(at, f"include '{entry}': no such file or directory"))
            return []
        return [(target, shown)]

    def _include(
        self,
        document: YamlDocument,
        at: DocPath,
        target: Path,
        shown: str,
        chain: tuple[Path, ...],
    ) -> None:
        def refuse(message: str) -> None:
            self.issues.append(document.issue(at, message))

        if not self._inside_root(target):
            refuse(f"{shown} leads outside the config's root directory {self.root}")
            return
        real = target.resolve()
        if real in chain:
            cycle = " -> ".join([*(self.names[p] for p in chain[chain.index(real) :]), shown])
            refuse(f"include cycle: {cycle}")
            return
        if real in self.included_from:
            refuse(f"{shown} is included twice (first by {self.included_from[real]})")
            return
        if not real.is_file():
            refuse(f"{shown} is not a regular file")
            return
        if len(self.included_from) >= MAX_INCLUDED_FILES:
            refuse(f"more than {MAX_INCLUDED_FILES} included files: {shown} is not read")
            return
        if real.stat().st_size > MAX_FILE_BYTES:
            refuse(f"{shown} is larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB")
            return
        self.included_from[real] = document.file
        try:
            child = load_yaml_file(real, shown)
        except ConfigError as error:
            self.issues += error.errors
            return
        self.issues += child.issues
        if child.data is None:
            return  # an empty file (every entry commented out) is fine
        if not isinstance(child.data, dict):
            self.issues.append(child.issue((), "expected a mapping with apps, clusters, ..."))
            return
        for key in child.data:
            if key not in (*LIST_SECTIONS, INCLUDE_KEY):
                self.issues.append(
                    child.issue(
                        (key,),
                        f"'{key}' is not allowed in an included file: it holds only "
                        f"include, {', '.join(LIST_SECTIONS)} ({key} belongs in the main "
                        "config file)",
                        at_key=True,
                    )
                )
        self.add(child, target, chain)

    def _inside_root(self, path: Path) -> bool:
        """``path`` and, once links are followed, what it points to are under the root."""
        lexical = Path(os.path.normpath(path.absolute()))
        return lexical.is_relative_to(self.root) and path.resolve().is_relative_to(self.real_root)


def _where(issue: ConfigIssue) -> str:
    return f"{issue.file}:{issue.line}:{issue.column}"
