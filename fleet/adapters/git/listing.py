"""Listing a commit's directories for app generators, without reading a single blob.

Only tree objects are read: a file's entry is skipped by its mode, never opened, so a
repository of large files costs no more than its folder structure. The walk starts at
the folders a generator's globs can reach and goes no deeper than they can match; it
stops after ``max_trees`` folders or ``max_entries`` entries, and once ``keep``
accepted more than ``limit`` directories, so a hostile tree (a million folders, a glob
matching all of them, one folder shared a million times) costs a bounded amount of work
and the caller learns that the bound was hit. Submodules
(commit entries) and symlinks are not directories and are never followed.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pygit2
from pygit2.enums import FileMode

#: Folders one listing reads at most (each is one tree object).
MAX_TREES = 50_000
#: Entries (files and folders) one listing looks at, at most: trees can be shared, so a
#: small repository can hold a folder of 10,000 entries referenced 10,000 times.
MAX_ENTRIES = 500_000


@dataclass(frozen=True, slots=True)
class Listing:
    """Directories ``keep`` accepted (repository paths), and whether a bound was hit."""

    directories: list[str]
    #: More than ``limit`` directories matched: ``directories`` holds ``limit + 1``.
    over_limit: bool = False
    #: The walk stopped at ``max_trees`` folders before seeing the whole plan.
    too_large: bool = False


def list_directories(
    repo: pygit2.Repository,
    tree: pygit2.Tree,
    roots: Sequence[str],
    depth: int | None,
    keep: Callable[[str], bool],
    limit: int,
    max_trees: int = MAX_TREES,
    max_entries: int = MAX_ENTRIES,
) -> Listing:
    """Directories under ``roots`` (to ``depth`` levels, None: all) that ``keep`` accepts."""
    found: list[str] = []
    queue: deque[tuple[str, pygit2.Tree, int]] = deque()
    for root in roots:
        start = _tree_at(repo, tree, root)
        if start is not None:
            queue.append((root, start, 0))
    visited = entries = 0
    while queue:
        prefix, current, level = queue.popleft()
        visited += 1
        if visited > max_trees:
            return Listing(found, too_large=True)
        if depth is not None and level >= depth:
            continue
        entries += len(current)
        if entries > max_entries:
            return Listing(found, too_large=True)
        for entry in current:
            if entry.filemode != FileMode.TREE:
                continue  # a file, link or submodule: not opened
            path = f"{prefix}/{entry.name}" if prefix else str(entry.name)
            if keep(path):
                found.append(path)
                if len(found) > limit:
                    return Listing(found, over_limit=True)
            if depth is None or level + 1 < depth:
                child = repo[entry.id]
                assert isinstance(child, pygit2.Tree)
                queue.append((path, child, level + 1))
    return Listing(found)


def _tree_at(repo: pygit2.Repository, tree: pygit2.Tree, path: str) -> pygit2.Tree | None:
    if not path:
        return tree
    try:
        entry = tree[path]
    except KeyError:
        return None
    if entry.filemode != FileMode.TREE:
        return None
    found = repo[entry.id]
    return found if isinstance(found, pygit2.Tree) else None
