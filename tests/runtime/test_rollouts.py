"""The rollout coordinator releases clusters wave by wave, soaks, and halts."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import anyio
import pytest

from fleet.adapters.git import Revision
from fleet.engine.rollout import RolloutPlan, RolloutStatus, RolloutWave
from fleet.runtime.rollouts import RolloutCoordinator
from fleet.runtime.worker import SyncOutcome

pytestmark = pytest.mark.anyio


def revision(sha: str) -> Revision:
    return Revision(
        sha=sha * 40,
        tree="t" * 40,
        ref="refs/heads/main",
        message=f"commit {sha}",
        author="A <a@example.com>",
        committed_at=dt.datetime.now(dt.UTC),
    )


@dataclass
class _Status:
    revision: str | None = None
    pinned_revision: str | None = None


@dataclass
class _Cluster:
    name: str


@dataclass
class FakeWorker:
    """What the coordinator uses of a worker: its status, and being released."""

    name: str
    status: _Status = field(default_factory=_Status)
    released: list[tuple[str, str]] = field(default_factory=list)
    woken: anyio.Event = field(default_factory=anyio.Event)

    @property
    def cluster(self) -> _Cluster:
        return _Cluster(self.name)

    def release(self, rev: Revision, reason: str) -> None:
        self.released.append((rev.sha[:1], reason))
        self.woken.set()


PLAN = RolloutPlan(
    waves=(
        RolloutWave("dev", ("dev",), soak_seconds=0.2),
        RolloutWave("prod", ("prod-1", "prod-2"), max_parallel=1),
    )
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_waves_release_in_order_with_soak_and_parallelism() -> None:
    events: list[tuple[str, str]] = []

    async def event(
        kind: str, message: str, app: str | None, cluster: str | None, details: Mapping[str, Any]
    ) -> None:
        events.append((kind, message))

    workers = {n: FakeWorker(n) for n in ("dev", "prod-1", "prod-2")}
    async with anyio.create_task_group() as tasks:
        coordinator = RolloutCoordinator(tasks, event)
        coordinator.register("web", PLAN, list(workers.values()), automated=True)  # type: ignore[arg-type]
        coordinator.new_revision("web", revision("a"), "webhook")
        assert workers["dev"].released == [("a", "webhook")]
        assert workers["prod-1"].released == []
        coordinator.report(SyncOutcome("web", "dev", "a" * 40, True, "", 1))
        assert workers["prod-1"].released == [], "the dev wave soaks first"
        with anyio.fail_after(3):
            await workers["prod-1"].woken.wait()
        assert workers["prod-2"].released == [], "max_parallel 1"
        coordinator.report(SyncOutcome("web", "prod-1", "a" * 40, True, "", 2))
        assert workers["prod-2"].released == [("a", "webhook")]
        coordinator.report(SyncOutcome("web", "prod-2", "a" * 40, True, "", 3))
        assert coordinator.rollouts["web"].status is RolloutStatus.COMPLETE
        tasks.cancel_scope.cancel()
    assert events == []


async def test_a_failed_wave_halts_and_says_so_once() -> None:
    events: list[str] = []

    async def event(
        kind: str, message: str, app: str | None, cluster: str | None, details: Mapping[str, Any]
    ) -> None:
        events.append(kind)

    workers = {n: FakeWorker(n) for n in ("dev", "prod-1", "prod-2")}
    async with anyio.create_task_group() as tasks:
        coordinator = RolloutCoordinator(tasks, event)
        coordinator.register("web", PLAN, list(workers.values()), automated=True)  # type: ignore[arg-type]
        coordinator.new_revision("web", revision("b"), "poll")
        coordinator.report(SyncOutcome("web", "dev", "b" * 40, False, "hook failed", 1))
        coordinator.report(SyncOutcome("web", "dev", "b" * 40, False, "hook failed", 2))
        await anyio.sleep(0.3)
        assert workers["prod-1"].released == []
        assert coordinator.rollouts["web"].status is RolloutStatus.HALTED
        tasks.cancel_scope.cancel()
    assert events == ["rollout_halted"]


async def test_clusters_already_there_are_told_but_not_waited_for() -> None:
    async def event(*args: Any) -> None:
        return None

    workers = {n: FakeWorker(n) for n in ("dev", "prod-1", "prod-2")}
    workers["dev"].status.revision = "c" * 40
    async with anyio.create_task_group() as tasks:
        coordinator = RolloutCoordinator(tasks, event)
        coordinator.register("web", PLAN, list(workers.values()), automated=True)  # type: ignore[arg-type]
        coordinator.new_revision("web", revision("c"), "poll")
        assert workers["dev"].released == [("c", "poll")]
        assert workers["prod-1"].released == [("c", "poll")], "dev is done: prod starts"
        tasks.cancel_scope.cancel()


async def test_an_app_that_syncs_by_hand_gets_the_revision_everywhere() -> None:
    async def event(*args: Any) -> None:
        return None

    workers = {n: FakeWorker(n) for n in ("dev", "prod-1", "prod-2")}
    async with anyio.create_task_group() as tasks:
        coordinator = RolloutCoordinator(tasks, event)
        coordinator.register("web", PLAN, list(workers.values()), automated=False)  # type: ignore[arg-type]
        coordinator.new_revision("web", revision("d"), "poll")
        assert all(w.released == [("d", "poll")] for w in workers.values())
        tasks.cancel_scope.cancel()
