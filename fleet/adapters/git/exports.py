"""Exported trees: ``<state_dir>/trees/<tree id>``, written once, leased while read, pruned.

The renderers read a commit as files on disk, so a commit's tree is written out once and
shared by every commit (of any source) with the same content. A busy repository would
fill the disk with trees nobody reads any more, so :meth:`TreeStore.prune` deletes every
tree that is neither wanted (the caller names them: what the workers target now) nor
among the most recently used. A pruned tree that is asked for again is simply exported
again: pruning costs time, never correctness.

Safety rests on ``flock`` locks taken on the tree directories themselves, which hold
between threads and between processes (``fleet render`` may share the daemon's state
directory), and vanish with the process that held them, so a crash leaves no stale lock:

- a reader holds a shared lock on a tree for as long as it reads it (a
  :class:`TreeLease`); a writer takes one on its ``.tmp-*`` staging directory as soon as
  it creates it, and keeps it as its lease once the directory is renamed to the tree's
  name, so a fresh export is never pruned before its first reader used it;
- the pruner takes an exclusive lock without waiting, so a tree in use (or a staging
  directory being written) is skipped, and renames the tree to a ``.trash-*`` name while
  it holds the lock, then deletes it;
- a reader, once its lock is granted, checks that the directory it locked is still the
  one at the tree's name; if a pruner got there first, the tree is exported again.

Files are hard links into a blob store beside the trees (``blobs.py``), so trees that
share most of their files share their disk space too, and a prune deletes the blobs no
tree links to any more.

Renames are atomic, so a crash leaves a tree, a ``.trash-*`` or a ``.tmp-*`` directory,
never half a tree under a tree's name; each prune first removes such leftovers. The last
use is the directory's modification time, touched by every lease, so the order survives
a restart and is the same for every process.
"""

from __future__ import annotations

import errno
import fcntl
import os
import re
import shutil
import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from fleet.adapters.git.blobs import BlobStore

TRASH_PREFIX = ".trash-"
STAGING_PREFIX = ".tmp-"
#: Trees kept beyond the wanted ones, most recently used first.
RECENT_TREES = 10

_TREE_NAME = re.compile(r"^[0-9a-f]{40}(?:[0-9a-f]{24})?$")
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0)
#: A reader loses a race with a pruner at most this many times in a row.
_ATTEMPTS = 5


class TreeLease:
    """A tree on disk that no prune deletes until :meth:`release` (or the ``with`` ends)."""

    def __init__(self, path: Path, descriptor: int) -> None:
        self.path = path
        self._descriptor = descriptor

    def release(self) -> None:
        """Let prunes delete the tree again; idempotent."""
        if self._descriptor >= 0:
            os.close(self._descriptor)
            self._descriptor = -1

    def __enter__(self) -> TreeLease:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()


@dataclass(frozen=True, slots=True)
class Pruned:
    """What a prune did: trees deleted, trees skipped because in use, leftovers removed."""

    deleted: tuple[str, ...] = ()
    in_use: tuple[str, ...] = ()
    kept: int = 0
    leftovers: int = 0
    #: Shared file contents deleted because no tree links to them any more.
    blobs: int = 0


class TreeStore:
    """The directory of exported trees shared by every mirror of a state directory."""

    def __init__(self, root: Path, blobs: Path | None = None) -> None:
        self.root = root
        #: File contents the trees link to: ``<state_dir>/blobs`` beside ``trees``.
        self.blobs = BlobStore(blobs or root.parent / "blobs")

    def lease(self, tree_id: str, write: Callable[[Path], None]) -> TreeLease:
        """The tree at ``<root>/<tree_id>``, written by ``write`` into an empty directory
        first if it is not there; leased (safe from prunes) and marked as just used."""
        if not _TREE_NAME.match(tree_id):
            raise ValueError(f"{tree_id!r} is not a tree id")
        final = self.root / tree_id
        for _ in range(_ATTEMPTS):
            if final.is_dir():
                descriptor = _lock(final, fcntl.LOCK_SH)
            else:
                descriptor = self._export(final, write)
            if descriptor is not None:
                os.utime(descriptor)
                return TreeLease(final, descriptor)
        raise OSError(f"exported tree {final} kept being pruned while it was being read")

    def prune(self, wanted: Collection[str], recent: int = RECENT_TREES) -> Pruned:
        """Delete the trees not in ``wanted`` beyond the ``recent`` most recently used.

        Trees in use are skipped (a later prune gets them); leftovers of an interrupted
        export or prune are removed first.
        """
        leftovers = self.clean()
        trees: list[tuple[int, str]] = []
        try:
            with os.scandir(self.root) as entries:
                for entry in entries:
                    if _TREE_NAME.match(entry.name) and entry.is_dir(follow_symlinks=False):
                        trees.append((entry.stat(follow_symlinks=False).st_mtime_ns, entry.name))
        except FileNotFoundError:
            return Pruned(leftovers=leftovers)
        trees.sort(reverse=True)
        unwanted = [name for _, name in trees if name not in wanted]
        deleted: list[str] = []
        in_use: list[str] = []
        for name in unwanted[max(recent, 0) :]:
            (deleted if self._discard(self.root / name) else in_use).append(name)
        blobs = self.blobs.prune()
        return Pruned(tuple(deleted), tuple(in_use), len(trees) - len(deleted), leftovers, blobs)

    def clean(self) -> int:
        """Remove what interrupted exports and prunes left behind; how many were removed.

        A ``.tmp-*`` directory is removed only when no writer holds it, so an export in
        progress in another thread or process is left alone.
        """
        removed = 0
        try:
            names = os.listdir(self.root)
        except FileNotFoundError:
            return 0
        for name in names:
            path = self.root / name
            if name.startswith(TRASH_PREFIX):
                shutil.rmtree(path, ignore_errors=True)
                removed += 1
            elif name.startswith(STAGING_PREFIX) and self._discard(path):
                removed += 1
        return removed

    def _export(self, final: Path, write: Callable[[Path], None]) -> int | None:
        """Write the tree under a staging name, then rename it to ``final``; a descriptor
        holding the shared lock taken at creation (the lease), or None to try again."""
        self.root.mkdir(parents=True, exist_ok=True)
        staging = self.root / f"{STAGING_PREFIX}{final.name}-{uuid.uuid4().hex[:8]}"
        staging.mkdir()
        descriptor = _lock(staging, fcntl.LOCK_SH | fcntl.LOCK_NB)
        if descriptor is None:  # a clean-up took it for a leftover and deletes it
            return None
        try:
            write(staging)
            staging.rename(final)
        except OSError as error:
            if error.errno not in (errno.ENOTEMPTY, errno.EEXIST):  # not a lost race
                raise
        else:
            leased, descriptor = descriptor, -1
            return leased
        finally:
            if descriptor >= 0:  # still locked, so no clean-up is deleting it too
                shutil.rmtree(staging, ignore_errors=True)
                os.close(descriptor)
        return None

    def _discard(self, path: Path) -> bool:
        """Delete ``path`` unless someone holds a lock on it; whether it was deleted."""
        descriptor = _lock(path, fcntl.LOCK_EX | fcntl.LOCK_NB)
        if descriptor is None:
            return False
        trash = self.root / f"{TRASH_PREFIX}{path.name}-{uuid.uuid4().hex[:8]}"
        try:
            path.rename(trash)
        except FileNotFoundError:  # removed by someone else meanwhile
            return False
        finally:
            os.close(descriptor)
        shutil.rmtree(trash, ignore_errors=True)
        return True


def _lock(path: Path, operation: int) -> int | None:
    """A descriptor of directory ``path`` locked with ``operation``, once the lock is
    granted and ``path`` still names the directory locked; None otherwise."""
    try:
        descriptor = os.open(path, _DIR_FLAGS)
    except (FileNotFoundError, NotADirectoryError):
        return None
    try:
        fcntl.flock(descriptor, operation)
        locked = os.fstat(descriptor)
        current = os.stat(path, follow_symlinks=False)
    except (BlockingIOError, FileNotFoundError):
        os.close(descriptor)
        return None
    except BaseException:
        os.close(descriptor)
        raise
    if (locked.st_dev, locked.st_ino) != (current.st_dev, current.st_ino):
        os.close(descriptor)
        return None
    return descriptor
