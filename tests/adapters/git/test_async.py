"""The async face: calls run in worker threads, so the event loop keeps going meanwhile."""

from __future__ import annotations

import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest

from fleet.adapters.git import AsyncGitMirror, GitSourceSpec, GitTimeout, GitTimeouts
from tests.adapters.git.conftest import DEPLOYMENT, Served
from tests.support.gitrepos import WorkRepo
from tests.support.gitservers import LOOPBACK

pytestmark = pytest.mark.anyio


@pytest.fixture
async def opened(state_dir: Path) -> AsyncIterator[list[AsyncGitMirror]]:
    mirrors: list[AsyncGitMirror] = []
    yield mirrors
    for mirror in mirrors:
        await mirror.aclose()


async def test_every_operation_works_through_worker_threads(
    served: Served, origin: WorkRepo, state_dir: Path, opened: list[AsyncGitMirror]
) -> None:
    mirror = AsyncGitMirror.open(served.spec(branch="main"), state_dir)
    opened.append(mirror)

    revision = await mirror.fetch()
    assert (await mirror.resolve("v1.0.0")).sha == revision.sha
    assert await mirror.read_file(revision.sha, "apps/web/deployment.yaml") == DEPLOYMENT.encode()
    assert await mirror.tree_id(revision.sha) == revision.tree
    exported = await mirror.export_tree(revision.sha)
    assert (exported / "apps/web/current.yaml").is_symlink()


async def test_a_slow_fetch_does_not_block_the_event_loop(
    state_dir: Path, opened: list[AsyncGitMirror]
) -> None:
    with socket.socket() as silent:
        silent.bind((LOOPBACK, 0))
        silent.listen(8)
        url = f"git://{LOOPBACK}:{silent.getsockname()[1]}/platform.git"
        mirror = AsyncGitMirror.open(
            GitSourceSpec("silent", url), state_dir, GitTimeouts(connect=1, transfer=1)
        )
        opened.append(mirror)
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await anyio.sleep(0.05)

        started = time.monotonic()
        async with anyio.create_task_group() as group:
            group.start_soon(tick)
            with pytest.raises(GitTimeout):
                await mirror.fetch()
            group.cancel_scope.cancel()

    assert ticks >= (time.monotonic() - started) / 0.05 * 0.5


async def test_mirrors_of_different_sources_fetch_concurrently(
    origin: WorkRepo,
    served_root: Path,
    tmp_path: Path,
    state_dir: Path,
    opened: list[AsyncGitMirror],
) -> None:
    specs = [GitSourceSpec(f"copy-{n}", origin.origin.as_uri(), branch="main") for n in range(4)]
    mirrors = [AsyncGitMirror.open(spec, state_dir) for spec in specs]
    opened.extend(mirrors)
    shas: list[str] = []

    async def fetch(mirror: AsyncGitMirror) -> None:
        shas.append((await mirror.fetch()).sha)

    async with anyio.create_task_group() as group:
        for mirror in mirrors:
            group.start_soon(fetch, mirror)

    assert shas == [origin.head()] * 4
    assert len(list((state_dir / "git").iterdir())) == 4
