"""Reading a commit's files straight from the object database, and writing them out.

A bare mirror has no work tree, so files are read as blobs, and a commit is
*materialised* by writing its tree into a fresh directory. Symlinks are written as
symlinks, untouched, so the renderer can see and refuse links that leave the repository;
nothing here ever follows one: files are created with ``O_EXCL | O_NOFOLLOW`` inside
directories this module just created. Names Git itself would refuse to check out
(``..``, ``.git``, anything with a slash) are rejected, in case a tree was crafted.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

import pygit2
from pygit2.enums import FileMode

from fleet.adapters.git.blobs import BlobStore, write_file


class UnsafeTreeError(ValueError):
    """A tree holds an entry that must not be written to disk."""


def normalize_path(path: str) -> str:
    """A repository path as Git names it: ``""`` for the root, no ``.``, no leading slash.

    Raises :class:`ValueError` for paths that climb out (``..``).
    """
    pure = PurePosixPath(path.replace("\\", "/"))
    parts = [part for part in pure.parts if part not in ("/", ".")]
    if ".." in parts:
        raise ValueError(f"path {path!r} leaves the repository")
    return "/".join(parts)


def object_at(repo: pygit2.Repository, tree: pygit2.Tree, path: str) -> pygit2.Object | None:
    """The tree or blob at ``path`` (normalised) below ``tree``, or None when absent."""
    if not path:
        return tree
    try:
        entry = tree[path]
    except KeyError:
        return None
    return repo[entry.id]


def is_symlink_entry(tree: pygit2.Tree, path: str) -> bool:
    """Whether ``path`` below ``tree`` is a symbolic link (its blob holds the target)."""
    if not path:
        return False
    try:
        return bool(tree[path].filemode == FileMode.LINK)
    except KeyError:
        return False


def write_tree(
    repo: pygit2.Repository, tree: pygit2.Tree, dest: Path, blobs: BlobStore | None = None
) -> int:
    """Write every entry of ``tree`` below the existing empty directory ``dest``.

    Returns the number of files and links written. Submodules become empty directories,
    as in a checkout without ``--recurse-submodules``. With ``blobs``, files are hard
    links to the store's copy of their blob (shared by every tree that holds it).
    """
    written = 0
    for entry in tree:
        name = entry.name or ""
        _check_name(name)
        target = dest / name
        mode = entry.filemode
        if mode == FileMode.TREE:
            target.mkdir(mode=0o755)
            written += write_tree(repo, repo[entry.id].peel(pygit2.Tree), target, blobs)
        elif mode in (FileMode.BLOB, FileMode.BLOB_EXECUTABLE):
            executable = mode == FileMode.BLOB_EXECUTABLE
            blob_id = entry.id

            def read(blob_id: pygit2.Oid = blob_id) -> bytes:
                return bytes(repo[blob_id].peel(pygit2.Blob).data)

            if blobs is None:
                write_file(target, read(), executable)
            else:
                blobs.place(str(blob_id), executable, read, target)
            written += 1
        elif mode == FileMode.LINK:
            link = repo[entry.id].peel(pygit2.Blob).data
            os.symlink(os.fsdecode(link), target)
            written += 1
        elif mode == FileMode.COMMIT:
            target.mkdir(mode=0o755)
        else:
            raise UnsafeTreeError(f"entry {name!r} has an unknown mode {mode:o}")
    return written


def _check_name(name: str) -> None:
    if name in ("", ".", "..") or "/" in name or "\\" in name or "\0" in name:
        raise UnsafeTreeError(f"tree entry {name!r} is not a valid file name")
    if name.lower() == ".git":
        raise UnsafeTreeError("tree holds a '.git' entry, which Git refuses to check out")
