"""After each fetch the poller tidies the state directory: stale trees go, wanted ones stay."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from fleet.adapters.git import Revision
from fleet.config import FleetConfig
from fleet.runtime.desired import DesiredStateBuilder
from fleet.runtime.sources import SourcePoller
from tests.support.gitrepos import WorkRepo, init_bare

pytestmark = pytest.mark.anyio

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: {replicas}
"""


@pytest.fixture
def origin(tmp_path: Path) -> WorkRepo:
    work = WorkRepo(tmp_path / "work", init_bare(tmp_path / "served" / "platform.git"))
    work.write("apps/web/deployment.yaml", DEPLOYMENT.format(replicas=1))
    work.commit("web with 1 replica")
    work.push()
    return work


@pytest.fixture
def config(origin: WorkRepo) -> FleetConfig:
    return FleetConfig.model_validate(
        {
            "clusters": [
                {"name": "dev-1", "server": "https://127.0.0.1:6443", "tokenFile": "/no/token"}
            ],
            "sources": [{"name": "platform", "url": origin.origin.as_uri(), "branch": "main"}],
            "apps": [{"name": "web", "source": "platform", "path": "apps/web", "namespace": "web"}],
        }
    )


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "state"


@pytest.fixture
async def builder(config: FleetConfig, state_dir: Path) -> AsyncIterator[DesiredStateBuilder]:
    async with DesiredStateBuilder(config, state_dir, recent_trees=0) as builder:
        yield builder


class Poller:
    """A source poller whose new revisions and events are recorded."""

    def __init__(self, config: FleetConfig, builder: DesiredStateBuilder) -> None:
        self.revisions: list[Revision] = []
        self.events: list[str] = []
        self.poller = SourcePoller(
            config.source("platform"), builder, 60.0, self._revision, self._event
        )

    def _revision(self, source: str, revision: Revision, reason: str) -> None:
        self.revisions.append(revision)

    async def _event(
        self,
        kind: str,
        message: str,
        app: str | None,
        cluster: str | None,
        details: Mapping[str, Any],
    ) -> None:
        self.events.append(message)

    async def fetch(self) -> Revision:
        await self.poller.fetch("poll")
        assert self.poller.revision is not None
        return self.poller.revision


async def push(origin: WorkRepo, poller: Poller, replicas: int) -> Revision:
    origin.write("apps/web/deployment.yaml", DEPLOYMENT.format(replicas=replicas))
    origin.commit(f"scale to {replicas}")
    origin.push()
    return await poller.fetch()


async def replicas(builder: DesiredStateBuilder, config: FleetConfig, revision: Revision) -> int:
    state = await builder.render(config.app("web"), config.cluster("dev-1"), revision)
    (manifest,) = state.manifests
    value: int = manifest.body["spec"]["replicas"]
    return value


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def trees(state_dir: Path) -> set[str]:
    return set(os.listdir(state_dir / "trees"))


async def two_renders(
    origin: WorkRepo, config: FleetConfig, builder: DesiredStateBuilder
) -> tuple[Poller, Revision, Revision]:
    """The seed fetched and rendered, then a second commit fetched and rendered."""
    poller = Poller(config, builder)
    first = await poller.fetch()
    assert await replicas(builder, config, first) == 1
    second = await push(origin, poller, 2)
    assert await replicas(builder, config, second) == 2
    return poller, first, second


async def test_a_fetch_prunes_what_no_worker_wants_and_keeps_what_they_do(
    origin: WorkRepo, config: FleetConfig, builder: DesiredStateBuilder, state_dir: Path
) -> None:
    poller, first, second = await two_renders(origin, config, builder)
    third = await push(origin, poller, 3)
    mirror = builder.mirror(config.source("platform"))
    await mirror.export_tree(third.sha)  # exported, but no worker renders it
    assert trees(state_dir) == {first.tree, second.tree, third.tree}

    fourth = await push(origin, poller, 4)

    # The app's current and previous render stay (a rollback reads the previous one);
    # the source's head is wanted too, though not exported yet.
    assert trees(state_dir) == {first.tree, second.tree}
    assert builder.wanted_trees() == {first.tree, second.tree, fourth.tree}

    assert await replicas(builder, config, fourth) == 4
    await poller.poller.upkeep()
    assert trees(state_dir) == {second.tree, fourth.tree}


async def test_a_config_reload_keeps_wanting_what_the_old_builder_wanted(
    origin: WorkRepo, config: FleetConfig, builder: DesiredStateBuilder, state_dir: Path
) -> None:
    _, first, second = await two_renders(origin, config, builder)
    wanted = builder.wanted_trees()
    async with DesiredStateBuilder(config, state_dir, recent_trees=0) as reloaded:
        reloaded.remember_wanted_trees(builder)
        assert reloaded.wanted_trees() == wanted == {first.tree, second.tree}
        await Poller(config, reloaded).poller.upkeep()
        assert trees(state_dir) == {first.tree, second.tree}, "a reload deletes nothing"


async def test_a_rollback_to_a_pruned_revision_exports_it_again(
    origin: WorkRepo, config: FleetConfig, builder: DesiredStateBuilder, state_dir: Path
) -> None:
    poller = Poller(config, builder)
    first = await poller.fetch()
    assert await replicas(builder, config, first) == 1
    for count in (2, 3):
        assert await replicas(builder, config, await push(origin, poller, count)) == count
    await push(origin, poller, 4)
    assert first.tree not in trees(state_dir)

    assert await replicas(builder, config, first) == 1
    assert first.tree in trees(state_dir)


async def test_leftovers_of_a_crash_are_removed_after_the_first_fetch(
    config: FleetConfig, builder: DesiredStateBuilder, state_dir: Path
) -> None:
    for name in (".trash-" + "a" * 40 + "-0badc0de", ".tmp-" + "b" * 40 + "-0badc0de"):
        write(state_dir / "trees" / name / "apps" / "x.yaml", "kind: Leftover\n")

    await Poller(config, builder).fetch()

    assert trees(state_dir) == set()


async def test_a_failed_upkeep_is_logged_and_changes_nothing_else(
    config: FleetConfig,
    builder: DesiredStateBuilder,
    state_dir: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    write(state_dir / "trees", "not a directory\n")
    poller = Poller(config, builder)

    with caplog.at_level(logging.WARNING, logger="fleet.runtime.sources"):
        revision = await poller.fetch()

    assert poller.revisions == [revision]
    assert poller.events == []
    assert "source platform: cleaning up the state directory failed" in caplog.text
