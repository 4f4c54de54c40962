"""The mirror for async code: each call runs in a worker thread, one at a time per kind.

pygit2 blocks (network, disk, zlib), so every call goes through ``anyio.to_thread`` and
the event loop keeps serving other clusters meanwhile. A fetch and reads of the same
mirror may overlap (Git's on-disk format allows readers during a fetch, and they use
separate libgit2 handles), but two fetches, or two reads, of one mirror queue on an
:class:`anyio.Lock` rather than on a worker thread. Calls are not abandoned when
cancelled: a cancelled fetch finishes (bounded by the timeouts) before the cancel lands,
so no thread is left running behind the caller's back.
"""

from __future__ import annotations

from pathlib import Path

import anyio
from anyio import to_thread

from fleet.adapters.git.mirror import GitMirror
from fleet.adapters.git.specs import GitSourceSpec, GitTimeouts, Revision


class AsyncGitMirror:
    """Async face of :class:`GitMirror`; same methods, same errors."""

    def __init__(self, mirror: GitMirror) -> None:
        self.mirror = mirror
        self._fetch_lock = anyio.Lock()
        self._read_lock = anyio.Lock()

    @classmethod
    def open(
        cls, spec: GitSourceSpec, state_dir: Path, timeouts: GitTimeouts | None = None
    ) -> AsyncGitMirror:
        return cls(GitMirror(spec, state_dir, timeouts))

    @property
    def name(self) -> str:
        return self.mirror.name

    async def fetch(self) -> Revision:
        async with self._fetch_lock:
            return await to_thread.run_sync(self.mirror.fetch)

    async def resolve(self, rev_spec: str | None = None, *, verify: bool = True) -> Revision:
        async with self._read_lock:
            return await to_thread.run_sync(lambda: self.mirror.resolve(rev_spec, verify=verify))

    async def verify(self, commit: str) -> str:
        async with self._read_lock:
            return await to_thread.run_sync(self.mirror.verify, commit)

    async def read_file(self, commit: str, path: str) -> bytes:
        async with self._read_lock:
            return await to_thread.run_sync(self.mirror.read_file, commit, path)

    async def tree_id(self, commit: str, path: str = "") -> str | None:
        async with self._read_lock:
            return await to_thread.run_sync(self.mirror.tree_id, commit, path)

    async def export_tree(self, commit: str, dest: Path | None = None) -> Path:
        async with self._read_lock:
            return await to_thread.run_sync(self.mirror.export_tree, commit, dest)

    async def aclose(self) -> None:
        async with self._read_lock:
            await to_thread.run_sync(self.mirror.close)
