"""The mirror for async code: each call runs in a worker thread, one at a time per kind.

pygit2 blocks (network, disk, zlib), so every call goes through ``anyio.to_thread`` and
the event loop keeps serving other clusters meanwhile. A fetch and reads of the same
mirror may overlap (Git's on-disk format allows readers during a fetch, and they use
separate libgit2 handles), but two fetches, or two reads, of one mirror queue on an
:class:`anyio.Lock` rather than on a worker thread. Calls are not abandoned when
cancelled: a cancelled fetch finishes (bounded by the timeouts) before the cancel lands,
so no thread is left running behind the caller's back.

:meth:`AsyncGitMirror.compact` holds both locks: ``git gc`` deletes the packs it merged,
which a reader's open handles would still name, so readers wait and then reopen.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
from anyio import to_thread

from fleet.adapters.git.exports import TreeLease
from fleet.adapters.git.listing import Listing
from fleet.adapters.git.mirror import GitMirror
from fleet.adapters.git.packs import COMPACT_TIMEOUT, PACK_LIMIT, Compaction, compact, pack_count
from fleet.adapters.git.specs import GitSourceSpec, GitTimeouts, Revision


class AsyncGitMirror:
    """Async face of :class:`GitMirror`; same methods, same errors."""

    def __init__(self, mirror: GitMirror) -> None:
        self.mirror = mirror
        self._fetch_lock = anyio.Lock()
        self._read_lock = anyio.Lock()
        #: Pack count at which to compact next; raised after a failure, so a mirror git
        #: cannot compact (too big for the time limit, no git) is not retried at every fetch.
        self._compact_at: int | None = None

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

    async def list_directories(
        self,
        commit: str,
        roots: Sequence[str],
        depth: int | None,
        keep: Callable[[str], bool],
        limit: int,
    ) -> Listing:
        async with self._read_lock:
            return await to_thread.run_sync(
                lambda: self.mirror.list_directories(commit, roots, depth, keep, limit)
            )

    async def export_tree(self, commit: str, dest: Path | None = None) -> Path:
        async with self._read_lock:
            return await to_thread.run_sync(self.mirror.export_tree, commit, dest)

    @asynccontextmanager
    async def lease_tree(self, commit: str) -> AsyncIterator[TreeLease]:
        """``async with mirror.lease_tree(sha) as lease``: ``lease.path`` is not pruned
        until the block ends (see :meth:`GitMirror.lease_tree`)."""
        async with self._read_lock:
            # Shielded: a lease a thread acquired after a cancel would never be released.
            with anyio.CancelScope(shield=True):
                lease = await to_thread.run_sync(self.mirror.lease_tree, commit)
        try:  # nothing above can be cancelled between the lease and here
            yield lease
        finally:
            lease.release()

    async def compact(
        self, pack_limit: int = PACK_LIMIT, time_limit: float = COMPACT_TIMEOUT
    ) -> Compaction:
        """Run ``git gc --auto`` once fetches have left more than ``pack_limit`` packs.

        After a failure the next attempt waits for ``pack_limit`` more packs.
        """
        threshold = pack_limit if self._compact_at is None else self._compact_at
        count = await to_thread.run_sync(pack_count, self.mirror.path)
        if count <= threshold:
            return Compaction(count, count, ran=False)
        async with self._fetch_lock, self._read_lock:
            await to_thread.run_sync(self.mirror.close)
            result = await compact(self.mirror.path, pack_limit, time_limit)
        failed = result.error is not None or result.packs_after > pack_limit
        self._compact_at = result.packs_after + pack_limit if failed else None
        return result

    async def aclose(self) -> None:
        async with self._read_lock:
            await to_thread.run_sync(self.mirror.close)
