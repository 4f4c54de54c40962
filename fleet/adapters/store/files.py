"""Files only the daemon's user may read, whatever the umask it was started with.

The state directory holds the history (commit messages, authors, diffs summaries), the
key behind Secret digests and the Git mirrors; a umask of 022 (the usual default, and
systemd's unless ``UMask=`` is set) would make all of it readable by every user on the
host. So the directory is made 0700 and the database files 0600 explicitly: modes given
to ``mkdir`` and ``open`` are filtered by the umask, ``chmod`` is not.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

PRIVATE_DIRECTORY = 0o700
PRIVATE_FILE = 0o600
#: Files SQLite keeps beside the database in WAL mode.
DATABASE_SUFFIXES = ("", "-wal", "-shm", "-journal")


def private_directory(path: Path) -> Path:
    """Create ``path`` (and parents) and make it 0700; an existing one is tightened."""
    path.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIRECTORY)
    _tighten(path, PRIVATE_DIRECTORY)
    return path


def private_database(path: Path) -> None:
    """Create the database file 0600 if missing; tighten it and its WAL files if not."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
    except FileExistsError:
        pass
    else:
        with contextlib.closing(os.fdopen(fd, "wb")):
            os.fchmod(fd, PRIVATE_FILE)
    for suffix in DATABASE_SUFFIXES:
        _tighten(Path(f"{path}{suffix}"), PRIVATE_FILE)


def _tighten(path: Path, mode: int) -> None:
    """chmod ``path`` to ``mode`` if it allows more; someone else's file is left alone."""
    try:
        current = stat.S_IMODE(path.stat().st_mode)
        if current & ~mode:
            path.chmod(current & mode)
    except (FileNotFoundError, PermissionError):
        pass
