"""Compacting a mirror: ``git gc --auto`` once fetches have piled up packs, never blocking."""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest

from fleet.adapters.git import AsyncGitMirror, GitSourceSpec
from fleet.adapters.git.packs import pack_count
from tests.adapters.git.conftest import DEPLOYMENT
from tests.support.gitrepos import WorkRepo

pytestmark = pytest.mark.anyio


@pytest.fixture
async def mirror(origin: WorkRepo, state_dir: Path) -> AsyncIterator[AsyncGitMirror]:
    mirror = AsyncGitMirror.open(GitSourceSpec("platform", str(origin.origin)), state_dir)
    await mirror.fetch()
    yield mirror
    await mirror.aclose()


async def push_and_fetch(origin: WorkRepo, mirror: AsyncGitMirror, times: int) -> list[str]:
    """One commit pushed and fetched at a time: libgit2 writes a pack per fetch."""
    shas = []
    for n in range(times):
        origin.write("apps/web/deployment.yaml", f"{DEPLOYMENT}spec:\n  replicas: {n + 2}\n")
        shas.append(origin.commit(f"scale to {n + 2}"))
        origin.push()
        await mirror.fetch()
    return shas


def fake_git(directory: Path, script: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Put a ``git`` running ``script`` (sh) first on PATH."""
    directory.mkdir()
    git = directory / "git"
    git.write_text(f"#!/bin/sh\n{script}\n")
    git.chmod(0o755)
    monkeypatch.setenv("PATH", f"{directory}{os.pathsep}{os.environ['PATH']}")


async def test_a_mirror_with_many_packs_is_repacked_and_stays_readable(
    origin: WorkRepo, mirror: AsyncGitMirror
) -> None:
    first = origin.head()
    shas = await push_and_fetch(origin, mirror, 5)
    before = pack_count(mirror.mirror.path)
    assert before >= 6
    tree = await mirror.tree_id(shas[-1])  # an open reader, which must let go of old packs

    result = await mirror.compact(pack_limit=3)

    assert (result.ran, result.error, result.packs_before) == (True, None, before)
    assert result.packs_after == pack_count(mirror.mirror.path) == 1
    assert await mirror.read_file(first, "apps/web/deployment.yaml") == DEPLOYMENT.encode()
    assert await mirror.tree_id(shas[-1]) == tree
    assert (await mirror.resolve()).sha == shas[-1]
    async with mirror.lease_tree(shas[2]) as lease:
        assert (lease.path / "apps/web/deployment.yaml").read_text().endswith("replicas: 4\n")
    # Fetching on top of the compacted mirror works as before.
    (newest,) = await push_and_fetch(origin, mirror, 1)
    assert (await mirror.resolve()).sha == newest
    assert pack_count(mirror.mirror.path) == 2


async def test_below_the_pack_limit_git_is_not_run(
    origin: WorkRepo, mirror: AsyncGitMirror, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await push_and_fetch(origin, mirror, 2)
    fake_git(tmp_path / "bin", f"touch {tmp_path}/ran", monkeypatch)

    result = await mirror.compact(pack_limit=50)

    assert not result.ran
    assert result.packs_before == result.packs_after == 3
    assert not (tmp_path / "ran").exists()


async def test_without_git_compaction_is_skipped_and_not_retried_at_every_fetch(
    origin: WorkRepo, mirror: AsyncGitMirror, monkeypatch: pytest.MonkeyPatch
) -> None:
    await push_and_fetch(origin, mirror, 3)
    with monkeypatch.context() as patch:
        patch.setenv("PATH", "/nonexistent")
        skipped = await mirror.compact(pack_limit=2)
        again = await mirror.compact(pack_limit=2)

    assert (skipped.ran, skipped.error) == (False, "the git command is not installed")
    assert skipped.packs_after == skipped.packs_before == 4
    assert (again.ran, again.error) == (False, None)  # waits for more than 2 more packs
    await push_and_fetch(origin, mirror, 3)
    with monkeypatch.context() as patch:
        patch.setenv("PATH", "/nonexistent")
        assert (await mirror.compact(pack_limit=2)).error == "the git command is not installed"


async def test_a_failing_git_is_reported_with_its_message(
    origin: WorkRepo, mirror: AsyncGitMirror, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (head,) = await push_and_fetch(origin, mirror, 1)
    fake_git(tmp_path / "bin", "echo 'fatal: gc is already running' >&2; exit 128", monkeypatch)

    result = await mirror.compact(pack_limit=1)

    assert result.ran
    assert result.error == "git gc exited with status 128: fatal: gc is already running"
    assert (await mirror.resolve()).sha == head


async def test_git_over_its_time_limit_is_stopped_with_every_process_it_started(
    origin: WorkRepo, mirror: AsyncGitMirror, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await push_and_fetch(origin, mirror, 2)
    pid_file = tmp_path / "child.pid"
    fake_git(tmp_path / "bin", f"sleep 30 & echo $! > {pid_file}; wait", monkeypatch)

    started = time.monotonic()
    result = await mirror.compact(pack_limit=1, time_limit=2)

    assert time.monotonic() - started < 10
    assert result.error == "git gc did not finish within 2 s and was stopped"
    assert_gone(int(pid_file.read_text()))


async def test_a_cancelled_compaction_stops_git_at_once(
    origin: WorkRepo, mirror: AsyncGitMirror, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (head,) = await push_and_fetch(origin, mirror, 1)
    pid_file = tmp_path / "child.pid"
    fake_git(tmp_path / "bin", f"sleep 30 & echo $! > {pid_file}; wait", monkeypatch)

    async with anyio.create_task_group() as group:
        group.start_soon(mirror.compact, 1)
        for _ in range(500):  # until git's child is running
            if pid_file.exists() and pid_file.read_text().strip():
                break
            await anyio.sleep(0.02)
        group.cancel_scope.cancel()

    assert_gone(int(pid_file.read_text()))
    assert (await mirror.resolve()).sha == head


def assert_gone(pid: int) -> None:
    """The process is gone (reaped by init once its parent was killed)."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    pytest.fail(f"process {pid} is still running")
