"""Chart archives: verified, unpacked within bounds, and kept by digest under the state dir.

A chart archive comes from someone else's server, so it is hostile until proven
otherwise. Before anything touches the disk fleet checks the archive's SHA-256 against
the digest the index or the OCI manifest promised, then unpacks it as a stream (so a
gzip bomb stops at ``max_unpacked_bytes`` of output, not when memory runs out),
accepting only regular files and directories under one top folder: no absolute paths,
no ``..``, no links of any kind, no devices, at most ``max_entries`` entries.

The unpacked chart lives in ``<state>/charts/sha256-<hex>/<chart>/`` and is written to a
temporary folder renamed into place, so a reader never sees half a chart and a digest
seen once is never downloaded again. The folder name is the archive's digest: equal
content renders equally, which is what the render cache key relies on.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import posixpath
import shutil
import tarfile
import tempfile
import time
from pathlib import Path

from fleet.adapters.charts.specs import ChartRejected, ChartSpec

#: An unpack folder this old was left by a crash (unpacking takes seconds at most).
_STALE_UNPACK_SECONDS = 3600.0


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class ChartStore:
    """Unpacked charts by archive digest, under ``root`` (``<state>/charts``)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def folder(self, digest: str) -> Path:
        """Where the chart of ``digest`` is unpacked (it may not exist yet)."""
        algorithm, _, hexdigest = digest.partition(":")
        if algorithm != "sha256" or len(hexdigest) != 64 or not _is_hex(hexdigest):
            raise ValueError(f"not a sha256 digest: {digest!r}")
        return self.root / f"sha256-{hexdigest}"

    def chart_dir(self, digest: str) -> str | None:
        """The chart's folder name inside :meth:`folder`, or None if not unpacked."""
        folder = self.folder(digest)
        try:
            names = [entry.name for entry in folder.iterdir() if entry.is_dir()]
        except FileNotFoundError:
            return None
        return names[0] if len(names) == 1 else None

    def add(self, spec: ChartSpec, data: bytes, expected: str | None) -> tuple[str, str]:
        """Verify and unpack ``data``; (its digest, the chart's folder name). Blocking."""
        digest = digest_of(data)
        if expected is not None and expected != digest:
            raise spec.error(
                ChartRejected,
                f"chart {spec.chart}: the archive's digest is {digest}, but the "
                f"{'manifest' if spec.is_oci else 'index.yaml'} promised {expected}; "
                "not used",
            )
        existing = self.chart_dir(digest)
        if existing is not None:
            return digest, existing
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        staging = Path(tempfile.mkdtemp(prefix=".unpack-", dir=self.root))
        try:
            top = _unpack(spec, data, staging)
            try:
                os.rename(staging, self.folder(digest))
            except OSError:
                if self.chart_dir(digest) is None:  # not a concurrent unpack of the same
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return digest, top

    def prune(self, keep: frozenset[str]) -> int:
        """Remove unpacked charts whose digest is not in ``keep``; how many went."""
        removed = 0
        if not self.root.is_dir():
            return 0
        wanted = {self.folder(digest).name for digest in keep}
        stale = time.time() - _STALE_UNPACK_SECONDS
        for entry in self.root.iterdir():
            if entry.name.startswith(".unpack-"):
                # Another fetch may be unpacking into it right now; only a crash's leftover
                # (old enough) goes.
                try:
                    if entry.stat().st_mtime > stale:
                        continue
                except FileNotFoundError:
                    continue
            elif entry.name in wanted or not entry.name.startswith("sha256-"):
                continue
            shutil.rmtree(entry, ignore_errors=True)
            removed += 1
        return removed


class _Bounded(io.RawIOBase):
    """A reader that refuses to yield more than ``limit`` bytes of decompressed data."""

    def __init__(self, inner: gzip.GzipFile, limit: int, spec: ChartSpec) -> None:
        self.inner = inner
        self.limit = limit
        self.spec = spec
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.inner.read(min(len(buffer), 1 << 16))
        self.count += len(data)
        if self.count > self.limit:
            raise self.spec.error(
                ChartRejected,
                f"chart {self.spec.chart}: the archive unpacks to more than "
                f"{self.limit} bytes (settings render.maxRenderedSize)",
            )
        buffer[: len(data)] = data
        return len(data)


def _unpack(spec: ChartSpec, data: bytes, into: Path) -> str:
    limits = spec.limits

    def refuse(detail: str) -> ChartRejected:
        error = spec.error(ChartRejected, f"chart {spec.chart}: {detail}; not used")
        assert isinstance(error, ChartRejected)
        return error

    tops: set[str] = set()
    entries = 0
    try:
        with (
            gzip.GzipFile(fileobj=io.BytesIO(data)) as unzipped,
            io.BufferedReader(_Bounded(unzipped, limits.max_unpacked_bytes, spec)) as stream,
            tarfile.open(fileobj=stream, mode="r|") as archive,
        ):
            for member in archive:
                entries += 1
                if entries > limits.max_entries:
                    raise refuse(f"the archive has more than {limits.max_entries} entries")
                name = posixpath.normpath(member.name.replace("\\", "/"))
                if name.startswith(("/", "../")) or name in ("..", ".") or ":" in name:
                    raise refuse(f"archive entry {member.name!r} leaves the chart")
                if not (member.isfile() or member.isdir()):
                    raise refuse(f"archive entry {member.name!r} is a link or device")
                tops.add(name.split("/", 1)[0])
                target = into / name
                if member.isdir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                if member.size > limits.max_unpacked_bytes:
                    raise refuse(f"archive entry {member.name!r} is too large")
                source = archive.extractfile(member)
                assert source is not None
                target.parent.mkdir(parents=True, exist_ok=True)
                with source, target.open("xb") as out:
                    shutil.copyfileobj(source, out)
    except (tarfile.TarError, OSError, EOFError, gzip.BadGzipFile) as error:
        if isinstance(error, FileExistsError):
            raise refuse(f"archive entry {error.filename!r} appears twice") from None
        raise refuse(f"the archive is not a gzip tar file ({error})") from None
    if len(tops) != 1:
        raise refuse(f"the archive must hold one chart folder, found {sorted(tops) or 'none'}")
    top = tops.pop()
    if not (into / top / "Chart.yaml").is_file():
        raise refuse(f"the archive has no {top}/Chart.yaml")
    return top


def _is_hex(text: str) -> bool:
    return all(c in "0123456789abcdef" for c in text)
