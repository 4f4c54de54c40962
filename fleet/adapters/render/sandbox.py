"""Keeping a render inside the repository.

A repository is untrusted input: a ``..`` in a kustomization or a symlink to ``/etc``
must not let it read the management host's files (and leak them into a cluster). Every
path a render will read goes through here first. Paths are checked after resolving
symlinks, because the kernel (and every renderer) follows them; paths are reported
relative to the repository root, in POSIX form, as they appear in Git.
"""

from __future__ import annotations

import os
import posixpath
from pathlib import Path

from fleet.adapters.render.errors import (
    InvalidYamlError,
    PathNotFoundError,
    RenderError,
    UnsafeInputError,
)
from fleet.adapters.render.limits import check_file

#: Never read as input: Git's own directory when the root is a work tree.
SKIPPED_DIRS = frozenset({".git"})


def normalize_app_path(path: str) -> str:
    """The app path in canonical repository-relative form ("" for the root)."""
    cleaned = posixpath.normpath(path.strip() or ".")
    if posixpath.isabs(cleaned) or cleaned == ".." or cleaned.startswith("../"):
        raise UnsafeInputError(f"app path {path!r} is not inside the repository", path=path)
    return "" if cleaned == "." else cleaned


def display(rel: str) -> str:
    """A repository-relative path as shown to users ("." for the root)."""
    return rel or "."


def inside(root: Path, rel: str) -> str:
    """Check that ``root/rel`` resolves inside ``root``; return the resolved relative path."""
    real = os.path.realpath(root / rel)
    root_real = os.path.realpath(root)
    if real != root_real and not real.startswith(root_real + os.sep):
        raise UnsafeInputError(f"{display(rel)} resolves outside the repository", path=rel)
    relative = Path(os.path.relpath(real, root_real)).as_posix()
    return "" if relative == "." else relative


def app_directory(root: Path, path: str) -> str:
    """The app's directory, relative to root and resolved, or an error if it is missing."""
    rel = normalize_app_path(path)
    if not (root / rel).exists():
        raise PathNotFoundError("app path does not exist in the repository", path=display(rel))
    resolved = inside(root, rel)
    if not (root / resolved).is_dir():
        raise PathNotFoundError("app path is not a directory", path=display(rel))
    return resolved


def reference(
    root: Path, base: str, entry: str, *, source: str, line: int | None, what: str
) -> str:
    """Resolve ``entry`` written in a file of directory ``base``; errors point at ``source``.

    Returns the target relative to root. Absolute paths, paths leaving the repository
    (lexically or through a symlink) and missing targets are errors.
    """
    if posixpath.isabs(entry) or os.path.isabs(entry):
        raise UnsafeInputError(
            f"{what} {entry!r} is an absolute path; use a path inside the repository",
            path=source,
            line=line,
        )
    lexical = posixpath.normpath(posixpath.join(base, entry))
    if lexical == ".." or lexical.startswith("../"):
        raise UnsafeInputError(f"{what} {entry!r} leaves the repository", path=source, line=line)
    if not os.path.lexists(root / lexical):
        raise PathNotFoundError(f"{what} {entry!r} does not exist", path=source, line=line)
    try:
        resolved = inside(root, lexical)
    except UnsafeInputError:
        raise UnsafeInputError(
            f"{what} {entry!r} is a symlink that resolves outside the repository",
            path=source,
            line=line,
        ) from None
    if not (root / resolved).exists():
        raise PathNotFoundError(f"{what} {entry!r} is a symlink to nothing", path=source, line=line)
    if (root / resolved).is_file():
        check_file(root, resolved)  # a renderer reads it whole, whoever reads it
    return resolved


def read_text(root: Path, rel: str) -> str:
    """A repository file's text; unreadable, non-UTF-8 or oversized files are errors."""
    check_file(root, rel)
    try:
        return (root / rel).read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise InvalidYamlError(f"not UTF-8 text (byte {error.start})", path=rel) from None
    except OSError as error:
        raise RenderError(f"cannot read: {error.strerror or error}", path=rel) from None


def walk_files(
    root: Path, directory: str, *, skip_hidden: bool = False, strict: bool = True
) -> list[str]:
    """Every file below ``directory`` (relative paths, sorted), following symlinks.

    A symlink that resolves outside the repository, or a dangling one, is an error naming
    the link; with ``strict=False`` it is listed as a file instead, and not followed.
    Directories are entered once each, so symlink loops end.
    """
    root_real = os.path.realpath(root)
    found: list[str] = []
    entered: set[str] = set()
    pending = [directory]
    while pending:
        current = pending.pop()
        real_dir = os.path.realpath(root / current)
        if real_dir in entered:
            continue
        entered.add(real_dir)
        with os.scandir(root / current) as entries:
            for entry in entries:
                if entry.name in SKIPPED_DIRS or (skip_hidden and entry.name.startswith(".")):
                    continue
                rel = posixpath.join(current, entry.name)
                if entry.is_symlink() and not strict and not resolves_inside(root, rel):
                    found.append(rel)
                    continue
                if entry.is_symlink():
                    _check_link(root, root_real, rel)
                if entry.is_dir(follow_symlinks=True):
                    pending.append(rel)
                elif entry.is_file(follow_symlinks=True):
                    found.append(rel)
    return sorted(found)


def resolves_inside(root: Path, rel: str) -> bool:
    """Whether ``root/rel`` exists once symlinks are resolved, inside the repository."""
    real, root_real = os.path.realpath(root / rel), os.path.realpath(root)
    inside_root = real == root_real or real.startswith(root_real + os.sep)
    return inside_root and os.path.exists(real)


def _check_link(root: Path, root_real: str, rel: str) -> None:
    target = os.readlink(root / rel)
    real = os.path.realpath(root / rel)
    if real != root_real and not real.startswith(root_real + os.sep):
        raise UnsafeInputError(f"symlink to {target!r} resolves outside the repository", path=rel)
    if not os.path.exists(real):
        raise PathNotFoundError(f"symlink to {target!r} points at nothing", path=rel)
