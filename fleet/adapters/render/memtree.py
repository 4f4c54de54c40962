"""A private copy of a render's inputs in memory-only storage, with some files replaced.

Kustomize reads its inputs from a directory and has no in-memory file system to hand it
files through. When some inputs are decrypted secrets (SOPS-encrypted secretGenerator
files), the build therefore runs on a copy of the part of the tree it reads, made in a
private (0700) directory on a memory file system (``$XDG_RUNTIME_DIR`` or ``/dev/shm``,
refused unless it is tmpfs or ramfs), with the decrypted files written there only, and
the copy removed as soon as the build is over. The exported tree is never written to.
"""

from __future__ import annotations

import os
import posixpath
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from fleet.adapters.render.errors import RenderError

#: File systems whose files live in memory (or swap) only.
_MEMORY_FILESYSTEMS = frozenset({"tmpfs", "ramfs"})
_CANDIDATES = ("XDG_RUNTIME_DIR", "/dev/shm")


def filesystem_type(path: Path) -> str | None:
    """The type of the file system ``path`` is on, from /proc/self/mountinfo."""
    try:
        lines = Path("/proc/self/mountinfo").read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    target = os.path.realpath(path)
    best: tuple[int, str] | None = None
    for line in lines:
        before, _, after = line.partition(" - ")
        fields = before.split()
        if len(fields) < 5 or not after:
            continue
        mount_point = fields[4].replace("\\040", " ")
        inside = target == mount_point or target.startswith(mount_point.rstrip("/") + "/")
        if inside and (best is None or len(mount_point) >= best[0]):
            best = (len(mount_point), after.split()[0])
    return best[1] if best else None


def memory_directory(environ: Mapping[str, str] | None = None) -> Path:
    """Where decrypted inputs may be written: a writable directory on tmpfs or ramfs."""
    env = os.environ if environ is None else environ
    tried: list[str] = []
    for candidate in _CANDIDATES:
        where = env.get(candidate, "") if not candidate.startswith("/") else candidate
        if not where:
            continue
        path = Path(where)
        kind = filesystem_type(path) if path.is_dir() else None
        if kind in _MEMORY_FILESYSTEMS and os.access(path, os.W_OK | os.X_OK):
            return path
        tried.append(f"{where} ({kind or 'missing'})")
    raise RenderError(
        "no memory-only directory for decrypted render inputs: neither $XDG_RUNTIME_DIR nor "
        f"/dev/shm is a writable tmpfs (tried: {', '.join(tried) or 'none'})"
    )


def common_directory(paths: Iterable[str]) -> str:
    """The deepest directory (repository-relative, "" for the root) holding all ``paths``."""
    parts_list = [[p for p in path.split("/") if p and p != "."] for path in paths]
    if not parts_list:
        return ""
    common: list[str] = []
    for parts in zip(*parts_list, strict=False):
        if any(part != parts[0] for part in parts):
            break
        common.append(parts[0])
    return "/".join(common)


@contextmanager
def memory_tree(
    root: Path, reads: Iterable[str], replacements: Mapping[str, bytes]
) -> Iterator[Path]:
    """A private copy of what a render ``reads`` (directories and files, relative to
    ``root``), each file of ``replacements`` written over its copy; removed on exit."""
    wanted = [*reads, *(posixpath.dirname(path) for path in replacements)]
    base = common_directory(wanted)
    if base and (root / base).is_file():
        base = posixpath.dirname(base)
    private = Path(tempfile.mkdtemp(prefix="fleet-render-", dir=memory_directory()))
    try:
        target = private / base if base else private
        shutil.copytree(root / base if base else root, target, symlinks=True, dirs_exist_ok=True)
        for relative, data in replacements.items():
            _write_private(private, relative, data)
        yield private
    finally:
        shutil.rmtree(private, ignore_errors=True)


def _write_private(private: Path, relative: str, data: bytes) -> None:
    lexical = posixpath.normpath(relative)
    if posixpath.isabs(lexical) or lexical == ".." or lexical.startswith("../"):
        raise RenderError(f"{relative} leaves the repository", path=relative)
    path = private / lexical
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_symlink() or path.exists():
        path.unlink()  # a copy (or a symlink into the exported tree): never written through
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)
