"""Exported files shared between trees: one file per Git blob, hard-linked into each export.

Every commit changes a few files and keeps the rest, yet each exported tree used to be a
full copy: ten kept trees of a repository holding one 100 MB file were 1.1 GB. Now each
blob is written once, as ``<state_dir>/blobs/<blob id>`` (``<id>.x`` when executable), and
an export hard-links it into place, so a new commit's tree costs only its directories and
the files it changed. A blob file is read-only: renderers never write, and a write
through one tree must not show in another.

A blob no tree uses any more has a single link (its own name) and is deleted by
:meth:`BlobStore.prune` after the trees are pruned. A prune racing an export can delete
a blob the export is about to link; the export then writes it again (and, should
linking keep failing, or the file system not allow hard links, writes a private copy):
sharing saves disk, never correctness.
"""

from __future__ import annotations

import errno
import os
import time
import uuid
from collections.abc import Callable
from pathlib import Path

_WRITE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
#: Errors that mean "this file system will not hard-link here": copy instead.
_NO_LINKS = frozenset({errno.EXDEV, errno.EMLINK, errno.EPERM, errno.ENOTSUP, errno.EACCES})
_ATTEMPTS = 3
_STAGING = ".tmp-"
#: A staging file this old was left by a crash.
_STAGING_AGE = 3600.0


class BlobStore:
    """The content-addressed files that exported trees link to."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def place(
        self, blob_id: str, executable: bool, read: Callable[[], bytes], target: Path
    ) -> None:
        """Make ``target`` (which must not exist) the content of blob ``blob_id``."""
        stored = self.root / (blob_id + (".x" if executable else ""))
        for _ in range(_ATTEMPTS):
            try:
                os.link(stored, target, follow_symlinks=False)
                return
            except FileNotFoundError:
                self._store(stored, read(), executable)
            except OSError as error:
                if error.errno not in _NO_LINKS:
                    raise
                break
        write_file(target, read(), executable)

    def prune(self) -> int:
        """Delete the blobs no exported tree links to any more; how many were deleted."""
        deleted = 0
        try:
            entries = list(os.scandir(self.root))
        except FileNotFoundError:
            return 0
        stale = time.time() - _STAGING_AGE
        for entry in entries:
            try:
                status = entry.stat(follow_symlinks=False)
                if entry.name.startswith(_STAGING):
                    if status.st_mtime < stale:  # left by a crash, not being written
                        os.unlink(entry.path)
                elif status.st_nlink <= 1:
                    os.unlink(entry.path)
                    deleted += 1
            except FileNotFoundError:
                continue
        return deleted

    def _store(self, stored: Path, data: bytes, executable: bool) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        staging = self.root / f"{_STAGING}{uuid.uuid4().hex}"
        write_file(staging, data, executable, read_only=True)
        os.replace(staging, stored)  # a racing writer stored the same bytes: either wins


def write_file(path: Path, data: bytes, executable: bool, *, read_only: bool = False) -> None:
    """Create ``path`` (never following a link) holding ``data``."""
    mode = (0o555 if executable else 0o444) if read_only else (0o755 if executable else 0o644)
    descriptor = os.open(path, _WRITE_FLAGS, mode)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)
