"""Writing SOPS files and holding plain text briefly: atomic replace, memory-backed temp."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

from fleet.adapters.secrets.errors import SopsError


def write_replacing(path: Path, data: bytes) -> None:
    """Replace ``path`` atomically (same directory, same mode when it existed)."""
    try:
        mode = path.stat().st_mode & 0o7777
    except FileNotFoundError:
        mode = 0o644
    except OSError as exc:
        raise SopsError(str(path), f"cannot write: {exc.strerror or exc}") from None
    directory = path.parent if str(path.parent) else Path(".")
    try:
        fd, temp = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(temp, mode)
            os.replace(temp, path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise SopsError(str(path), f"cannot write: {exc.strerror or exc}") from None


def private_temp_dir(env: Mapping[str, str] | None = None) -> Path | None:
    """A memory-backed directory only this user can read, if the host has one.

    ``$XDG_RUNTIME_DIR`` (a per-user tmpfs under systemd) first, then ``/dev/shm``;
    None when neither is usable, and the caller falls back to the default temp dir.
    """
    environ = os.environ if env is None else env
    candidates = [environ.get("XDG_RUNTIME_DIR") or "", "/dev/shm"]
    for candidate in candidates:
        if candidate and os.path.isdir(candidate) and os.access(candidate, os.W_OK | os.X_OK):
            return Path(candidate)
    return None


def shred(path: Path) -> None:
    """Overwrite a plain-text file with zeros, then remove it."""
    try:
        size = path.stat().st_size
        with open(path, "r+b") as handle:
            handle.write(b"\0" * size)
            handle.flush()
            os.fsync(handle.fileno())
    except OSError:
        pass
    path.unlink(missing_ok=True)
