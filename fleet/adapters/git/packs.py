"""Keeping a mirror's pack files few: ``git gc --auto`` once fetches have piled them up.

libgit2 writes every fetch that brings objects as a new pack and never repacks, so a
mirror polled for months holds thousands of small packs, and every object lookup walks
their indexes. libgit2 (hence pygit2) has no ``gc``; rewriting packs and deleting the old
ones safely is exactly what ``git gc`` is for, so fleet runs it when the ``git`` command is
installed and skips compaction (saying so) when it is not: fetching never needs it.

``git gc`` runs as an async child process, not in a worker thread, so a daemon that stops
kills it at once instead of waiting for it. It runs in its own process group, so a timeout
or a cancel also ends the ``git repack`` / ``pack-objects`` it started. ``gc.autoDetach``
is off, or git would fork into the background and outlive the call.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
from dataclasses import dataclass
from pathlib import Path
from subprocess import DEVNULL, PIPE

import anyio
from anyio.abc import Process

#: git's own default for ``gc.autoPackLimit``: more packs than this calls for a repack.
PACK_LIMIT = 50
#: Longest a compaction may take; a mirror too big for it is retried after more fetches.
COMPACT_TIMEOUT = 300.0
_STDERR_KEPT = 4096


@dataclass(frozen=True, slots=True)
class Compaction:
    """What a compaction did: pack files before and after, and why it failed if it did."""

    packs_before: int
    packs_after: int
    ran: bool
    error: str | None = None


def pack_count(mirror: Path) -> int:
    """The number of pack files in the mirror's object database."""
    try:
        return sum(1 for name in os.listdir(mirror / "objects" / "pack") if name.endswith(".pack"))
    except FileNotFoundError:
        return 0


def gc_command(mirror: Path, pack_limit: int) -> list[str] | None:
    """``git gc --auto`` for ``mirror`` with fleet's limits; None when git is not installed.

    The limits are given on the command line so that a user's or the system's Git
    configuration (``gc.auto=0``, ``gc.autoDetach``) cannot make the call a silent no-op
    or a background process.
    """
    git = shutil.which("git")
    if git is None:
        return None
    return [
        git,
        "-C",
        str(mirror),
        "-c",
        "gc.auto=6700",
        "-c",
        f"gc.autoPackLimit={pack_limit}",
        "-c",
        "gc.autoDetach=false",
        "gc",
        "--auto",
        "--quiet",
    ]


async def compact(
    mirror: Path, pack_limit: int = PACK_LIMIT, time_limit: float = COMPACT_TIMEOUT
) -> Compaction:
    """Repack ``mirror`` with ``git gc --auto`` if it holds more than ``pack_limit`` packs.

    The caller must keep fetches of this mirror out meanwhile. Never raises for git's
    failures: they are reported in :attr:`Compaction.error`.
    """
    before = await anyio.to_thread.run_sync(pack_count, mirror)
    if before <= pack_limit:
        return Compaction(before, before, ran=False)
    command = gc_command(mirror, pack_limit)
    if command is None:
        return Compaction(before, before, ran=False, error="the git command is not installed")
    # GIT_DIR and friends would point git at another repository than -C names.
    env = {key: value for key, value in os.environ.items() if not key.startswith("GIT_")}
    error: str | None = None
    try:
        process = await anyio.open_process(
            command, stdin=DEVNULL, stdout=DEVNULL, stderr=PIPE, env=env, start_new_session=True
        )
    except OSError as exc:
        error = f"cannot run git: {exc.strerror or exc}"
    else:
        error = await _wait(process, time_limit)
    after = await anyio.to_thread.run_sync(pack_count, mirror)
    return Compaction(before, after, ran=True, error=error)


async def _wait(process: Process, time_limit: float) -> str | None:
    """Wait for git (its stderr drained so it cannot block); kill its group on any exit."""
    stderr = bytearray()

    async def drain() -> None:
        assert process.stderr is not None
        async for chunk in process.stderr:
            stderr.extend(chunk[: max(0, _STDERR_KEPT - len(stderr))])

    try:
        with anyio.move_on_after(time_limit) as waiting:
            async with anyio.create_task_group() as group:
                group.start_soon(drain)
                await process.wait()
        if waiting.cancelled_caught:
            return f"git gc did not finish within {time_limit:g} s and was stopped"
    finally:
        if process.returncode is None:
            _kill_group(process.pid)
        with anyio.CancelScope(shield=True):
            await process.wait()
            await process.aclose()
    if process.returncode != 0:
        message = stderr.decode(errors="replace").strip() or "no message"
        return f"git gc exited with status {process.returncode}: {message}"
    return None


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
