"""The rollout coordinator: waves, watched soaks, halts, rollbacks, pins, controls.

Workers are stand-ins (what the coordinator uses of one: its status, ``release`` and
its mailbox); the history store is a real SQLite file, so holds and halts are read back
by a second coordinator as a restarted daemon would.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import pytest

from fleet.adapters.git import Revision
from fleet.adapters.store import AsyncHistoryStore
from fleet.engine.rollout import RolloutPlan, RolloutStatus, RolloutWave
from fleet.runtime.mailbox import Trigger
from fleet.runtime.rollouts import RolloutActionError, RolloutCoordinator
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


REVISIONS = {r.sha: r for r in map(revision, "abcdefg")}


async def resolve(app: str, spec: str) -> Revision:
    return REVISIONS[spec]


@dataclass
class _Status:
    revision: str | None = None
    pinned_revision: str | None = None
    sync: str = "Synced"
    health: str = "Healthy"
    operation: str = ""
    last_result: str | None = "Succeeded"


@dataclass
class _Cluster:
    name: str


@dataclass
class _Mailbox:
    posted: list[Trigger] = field(default_factory=list)

    def post(self, trigger: Trigger) -> Trigger:
        self.posted.append(trigger)
        return trigger


@dataclass
class FakeWorker:
    """What the coordinator uses of a worker: its status, being released, its mailbox."""

    name: str
    status: _Status = field(default_factory=_Status)
    released: list[tuple[str, str]] = field(default_factory=list)
    woken: anyio.Event = field(default_factory=anyio.Event)
    mailbox: _Mailbox = field(default_factory=_Mailbox)
    target: Revision | None = None

    @property
    def cluster(self) -> _Cluster:
        return _Cluster(self.name)

    def release(self, rev: Revision, reason: str) -> None:
        self.target = rev
        self.released.append((rev.sha[:1], reason))
        self.woken.set()
        self.woken = anyio.Event()


PLAN = RolloutPlan(
    waves=(
        RolloutWave("dev", ("dev",), soak_seconds=0.2),
        RolloutWave("prod", ("prod-1", "prod-2"), max_parallel=1),
    )
)


class Events:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str, Mapping[str, Any]]] = []

    async def __call__(
        self, kind: str, message: str, app: str | None, cluster: str | None, details: Any
    ) -> None:
        self.seen.append((kind, message, details))

    def kinds(self) -> list[str]:
        return [k for k, _, _ in self.seen]


def workers() -> dict[str, FakeWorker]:
    return {n: FakeWorker(n) for n in ("dev", "prod-1", "prod-2")}


def done(
    coordinator: RolloutCoordinator,
    worker: FakeWorker,
    sha: str,
    ok: bool = True,
    sync_id: int = 1,
) -> None:
    """The worker's sync of ``sha`` ended (and, if it succeeded, the worker is there)."""
    if ok:
        worker.status.revision = sha * 40
    coordinator.report(SyncOutcome("web", worker.name, sha * 40, ok, "", sync_id))


async def eventually(check: Any, what: str, timeout: float = 3.0) -> None:  # noqa: ASYNC109
    with anyio.move_on_after(timeout):
        while True:
            if check():
                return
            await anyio.sleep(0.02)
    raise AssertionError(f"never: {what}")


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[AsyncHistoryStore]:
    async with await AsyncHistoryStore.open(tmp_path / "history.sqlite3") as opened:
        yield opened


async def record_sync(store: AsyncHistoryStore, cluster: str, sha: str, result: str) -> int:
    sync_id = await store.start_sync("web", cluster, sha * 40, "poll")
    await store.finish_sync(sync_id, result)
    return sync_id


# -- waves -------------------------------------------------------------------------------


async def test_waves_release_in_order_with_soak_and_parallelism() -> None:
    events = Events()
    fleet = workers()
    async with anyio.create_task_group() as tasks:
        coordinator = RolloutCoordinator(tasks, events)
        coordinator.register("web", PLAN, list(fleet.values()), automated=True)  # type: ignore[arg-type]
        coordinator.new_revision("web", revision("a"), "webhook")
        assert fleet["dev"].released == [("a", "webhook")]
        assert fleet["prod-1"].released == []
        done(coordinator, fleet["dev"], "a")
        assert fleet["prod-1"].released == [], "the dev wave soaks first"
        assert coordinator.status("web")["status"] == "Soaking"
        with anyio.fail_after(3):
            await fleet["prod-1"].woken.wait()
        assert fleet["prod-2"].released == [], "max_parallel 1"
        done(coordinator, fleet["prod-1"], "a", sync_id=2)
        assert fleet["prod-2"].released == [("a", "webhook")]
        done(coordinator, fleet["prod-2"], "a", sync_id=3)
        assert coordinator.rollouts["web"].status == RolloutStatus.COMPLETE
        tasks.cancel_scope.cancel()
    assert events.kinds() == []


async def test_a_failed_wave_halts_says_so_once_and_stays_halted() -> None:
    events = Events()
    fleet = workers()
    async with anyio.create_task_group() as tasks:
        coordinator = RolloutCoordinator(tasks, events)
        coordinator.register("web", PLAN, list(fleet.values()), automated=True)  # type: ignore[arg-type]
        coordinator.new_revision("web", revision("b"), "poll")
        done(coordinator, fleet["dev"], "b", ok=False)
        done(coordinator, fleet["dev"], "b", ok=False, sync_id=2)
        await anyio.sleep(0.3)
        assert fleet["prod-1"].released == []
        status = coordinator.status("web")
        assert status["status"] == "Halted"
        assert "dev (sync 1 failed)" in status["halt_reason"]
        # A retry that succeeds later does not lift the halt: a user or a commit does.
        done(coordinator, fleet["dev"], "b", sync_id=3)
        await anyio.sleep(0.3)
        assert fleet["prod-1"].released == []
        assert coordinator.status("web")["status"] == "Halted"
        tasks.cancel_scope.cancel()
    assert events.kinds() == ["rollout_halted"]


async def test_clusters_already_there_are_told_but_not_waited_for() -> None:
    fleet = workers()
    fleet["dev"].status.revision = "c" * 40
    async with anyio.create_task_group() as tasks:
        coordinator = RolloutCoordinator(tasks, Events())
        coordinator.register("web", PLAN, list(fleet.values()), automated=True)  # type: ignore[arg-type]
        coordinator.new_revision("web", revision("c"), "poll")
        assert fleet["dev"].released == [("c", "poll")]
        assert fleet["prod-1"].released == [("c", "poll")], "dev is done: prod starts"
        tasks.cancel_scope.cancel()


async def test_an_app_that_syncs_by_hand_gets_a_commit_everywhere() -> None:
    fleet = workers()
    async with anyio.create_task_group() as tasks:
        coordinator = RolloutCoordinator(tasks, Events())
        coordinator.register("web", PLAN, list(fleet.values()), automated=False)  # type: ignore[arg-type]
        coordinator.new_revision("web", revision("d"), "poll")
        assert all(w.released == [("d", "poll")] for w in fleet.values())
        assert all(not w.mailbox.posted for w in fleet.values()), "no sync is forced"
        tasks.cancel_scope.cancel()


# -- watched soak ------------------------------------------------------------------------


async def test_a_cluster_degrading_during_its_soak_halts_the_rollout() -> None:
    events = Events()
    fleet = workers()
    plan = RolloutPlan(waves=(RolloutWave("dev", ("dev",), soak_seconds=30), PLAN.waves[1]))
    async with anyio.create_task_group() as tasks:
        coordinator = RolloutCoordinator(tasks, events, watch_interval=0.02)
        coordinator.register("web", plan, list(fleet.values()), automated=True)  # type: ignore[arg-type]
        coordinator.new_revision("web", revision("a"), "poll")
        done(coordinator, fleet["dev"], "a")
        await anyio.sleep(0.1)
        assert coordinator.status("web")["status"] == "Soaking", "healthy: still soaking"
        fleet["dev"].status.health = "Degraded"
        await eventually(lambda: coordinator.status("web")["status"] == "Halted", "halted")
        wave = coordinator.status("web")["waves"][0]
        assert wave["failed"] == [{"cluster": "dev", "reason": "turned Degraded during the soak"}]
        assert wave["budget_used"] == 1
        await eventually(lambda: "rollout_halted" in events.kinds(), "the halt event")
        assert fleet["prod-1"].released == []
        tasks.cancel_scope.cancel()


async def test_out_of_sync_during_a_soak_within_budget_only_spends_it() -> None:
    fleet = {n: FakeWorker(n) for n in ("a", "b", "c")}
    plan = RolloutPlan(
        waves=(
            RolloutWave("one", ("a", "b"), soak_seconds=30, failure_budget=1),
            RolloutWave("two", ("c",)),
        )
    )
    async with anyio.create_task_group() as tasks:
        coordinator = RolloutCoordinator(tasks, Events(), watch_interval=0.02)
        coordinator.register("web", plan, list(fleet.values()), automated=True)  # type: ignore[arg-type]
        coordinator.new_revision("web", revision("a"), "poll")
        done(coordinator, fleet["a"], "a")
        done(coordinator, fleet["b"], "a")
        fleet["a"].status.sync = "OutOfSync"
        await eventually(
            lambda: coordinator.status("web")["waves"][0]["budget_used"] == 1, "budget spent"
        )
        assert coordinator.status("web")["status"] == "Soaking"
        await coordinator.promote("web")
        assert fleet["c"].released == [("a", "poll")], "promoted past the soak"
        tasks.cancel_scope.cancel()


# -- rollback on halt, and what survives a restart ----------------------------------------


async def test_rollback_on_halt_restores_holds_and_survives_a_restart(
    store: AsyncHistoryStore,
) -> None:
    plan = RolloutPlan(
        waves=(RolloutWave("dev", ("dev",), soak_seconds=30), PLAN.waves[1]),
        rollback_on_halt=True,
    )
    await record_sync(store, "dev", "a", "Succeeded")
    await record_sync(store, "dev", "b", "Failed")
    fleet = workers()
    fleet["dev"].status.revision = "a" * 40
    events = Events()
    async with anyio.create_task_group() as tasks:
        coordinator = RolloutCoordinator(
            tasks, events, store=store, resolve=resolve, watch_interval=0.02
        )
        await coordinator.load()
        coordinator.register("web", plan, list(fleet.values()), automated=True)  # type: ignore[arg-type]
        coordinator.new_revision("web", revision("c"), "poll")
        assert fleet["dev"].released == [("c", "poll")]
        await record_sync(store, "dev", "c", "Succeeded")
        done(coordinator, fleet["dev"], "c")
        fleet["dev"].status.health = "Degraded"
        await eventually(lambda: ("a", "rollback") in fleet["dev"].released, "rolled back")
        assert fleet["prod-1"].released == []
        status = coordinator.status("web")
        assert status["status"] == "Halted"
        assert status["rolled_back"] == {"dev": "a" * 40}
        assert status["holds"] == [
            {"cluster": "dev", "revision": "a" * 40, "reason": "rollbackOnHalt"}
        ]
        await eventually(lambda: "rollback" in events.kinds(), "the rollback event")
        _, message, details = events.seen[-1]
        assert details["clusters"] == {"dev": "a" * 40}
        assert "dev to aaaaaaaaaaaa" in message
        tasks.cancel_scope.cancel()
    assert [(h.cluster, h.revision, h.reason) for h in await store.holds("web")] == [
        ("dev", "a" * 40, "rollbackOnHalt")
    ]
    assert (await store.rollout_state("web") or {}).get("status") == "Halted"

    # A restart: the same head, the hold and the halt stand; nothing goes to prod.
    restarted = workers()
    restarted["dev"].status.revision = "a" * 40
    async with anyio.create_task_group() as tasks:
        coordinator = RolloutCoordinator(tasks, Events(), store=store, resolve=resolve)
        await coordinator.load()
        coordinator.register("web", plan, list(restarted.values()), automated=True)  # type: ignore[arg-type]
        coordinator.new_revision("web", revision("c"), "poll")
        await eventually(lambda: restarted["dev"].released, "dev told its target")
        assert restarted["dev"].released == [("a", "poll")]
        assert coordinator.status("web")["status"] == "Halted"
        assert restarted["prod-1"].released == []
        # A new commit ends the halt and lifts the hold.
        coordinator.new_revision("web", revision("d"), "webhook")
        assert restarted["dev"].released[-1] == ("d", "webhook")
        await anyio.sleep(0.1)  # the store forgets the hold in a task
        tasks.cancel_scope.cancel()
    assert await store.holds("web") == []
    assert await store.rollout_state("web") is None


async def test_resume_lifts_the_hold_and_retries_the_revision(store: AsyncHistoryStore) -> None:
    plan = RolloutPlan(waves=(RolloutWave("dev", ("dev",)), PLAN.waves[1]), rollback_on_halt=True)
    await record_sync(store, "dev", "a", "Succeeded")
    fleet = workers()
    events = Events()
    async with anyio.create_task_group() as tasks:
        coordinator = RolloutCoordinator(tasks, events, store=store, resolve=resolve)
        coordinator.register("web", plan, list(fleet.values()), automated=True)  # type: ignore[arg-type]
        coordinator.new_revision("web", revision("b"), "poll")
        done(coordinator, fleet["dev"], "b", ok=False)
        await eventually(lambda: ("a", "rollback") in fleet["dev"].released, "rolled back")
        done(coordinator, fleet["dev"], "a")
        with pytest.raises(RolloutActionError, match="no soak to skip"):
            await coordinator.promote("web")
        await coordinator.resume("web")
        assert fleet["dev"].released[-1] == ("b", "poll")
        # Its last sync was the rollback's: the worker takes b again by itself.
        assert fleet["dev"].mailbox.posted == []
        assert coordinator.status("web")["holds"] == []
        done(coordinator, fleet["dev"], "b", sync_id=5)
        assert fleet["prod-1"].released == [("b", "poll")]
        await anyio.sleep(0.1)
        tasks.cancel_scope.cancel()
    assert await store.holds("web") == []
    assert "rollout_resumed" in events.kinds()


async def test_resume_without_a_rollback_forces_a_retry_of_the_failed_cluster() -> None:
    fleet = workers()
    async with anyio.create_task_group() as tasks:
        coordinator = RolloutCoordinator(tasks, Events())
        coordinator.register("web", PLAN, list(fleet.values()), automated=True)  # type: ignore[arg-type]
        coordinator.new_revision("web", revision("b"), "poll")
        done(coordinator, fleet["dev"], "b", ok=False)
        assert coordinator.status("web")["status"] == "Halted"
        await coordinator.resume("web")
        # The worker tried b and failed: only a manual sync makes it try again.
        assert [t.reason for t in fleet["dev"].mailbox.posted] == ["manual"]
        assert coordinator.status("web")["status"] == "Progressing"
        with pytest.raises(RolloutActionError, match="nothing to resume"):
            await coordinator.resume("web")
        tasks.cancel_scope.cancel()


async def test_abort_stops_releases_and_survives_a_restart(store: AsyncHistoryStore) -> None:
    fleet = workers()
    async with anyio.create_task_group() as tasks:
        coordinator = RolloutCoordinator(tasks, Events(), store=store, resolve=resolve)
        coordinator.register("web", PLAN, list(fleet.values()), automated=True)  # type: ignore[arg-type]
        coordinator.new_revision("web", revision("b"), "poll")
        await coordinator.abort("web")
        done(coordinator, fleet["dev"], "b")
        await anyio.sleep(0.4)
        assert fleet["prod-1"].released == []
        assert coordinator.status("web")["status"] == "Aborted"
        tasks.cancel_scope.cancel()
    restarted = workers()
    async with anyio.create_task_group() as tasks:
        coordinator = RolloutCoordinator(tasks, Events(), store=store, resolve=resolve)
        await coordinator.load()
        coordinator.register("web", PLAN, list(restarted.values()), automated=True)  # type: ignore[arg-type]
        coordinator.new_revision("web", revision("b"), "poll")
        assert coordinator.status("web")["status"] == "Aborted"
        assert all(not w.released for w in restarted.values())
        with pytest.raises(RolloutActionError, match="nothing to abort"):
            await coordinator.abort("web")
        tasks.cancel_scope.cancel()


# -- pins, unpins and rollbacks follow the waves -----------------------------------------


async def test_a_pin_goes_wave_by_wave_unless_now() -> None:
    fleet = workers()
    async with anyio.create_task_group() as tasks:
        coordinator = RolloutCoordinator(tasks, Events())
        coordinator.register("web", PLAN, list(fleet.values()), automated=True)  # type: ignore[arg-type]
        for worker in fleet.values():
            worker.status.revision = "a" * 40
        coordinator.new_revision("web", revision("a"), "poll")
        moved = coordinator.set_pins("web", sorted(fleet), revision("b"))
        assert moved == {"released": ["dev"], "waiting": ["prod-1", "prod-2"]}
        assert fleet["prod-1"].released == [("a", "poll")]
        # A commit during the pin changes nothing for the pinned clusters.
        coordinator.new_revision("web", revision("c"), "poll")
        assert [r for w in fleet.values() for r in w.released if r[0] == "c"] == []
        moved = coordinator.set_pins("web", sorted(fleet), None)
        assert moved == {"released": ["dev"], "waiting": ["prod-1", "prod-2"]}
        assert fleet["dev"].released[-1] == ("c", "unpin")
        moved = coordinator.set_pins("web", sorted(fleet), revision("d"), now=True)
        assert moved["released"] == ["dev", "prod-1", "prod-2"]
        assert all(w.released[-1] == ("d", "pin") for w in fleet.values())
        tasks.cancel_scope.cancel()


async def test_a_user_rollback_holds_in_waves_until_a_new_commit(
    store: AsyncHistoryStore,
) -> None:
    fleet = workers()
    events = Events()
    async with anyio.create_task_group() as tasks:
        coordinator = RolloutCoordinator(tasks, events, store=store, resolve=resolve)
        coordinator.register("web", PLAN, list(fleet.values()), automated=True)  # type: ignore[arg-type]
        for worker in fleet.values():
            worker.status.revision = "b" * 40
        coordinator.new_revision("web", revision("b"), "poll")
        moved = await coordinator.roll_back("web", {c: revision("a") for c in fleet})
        assert moved == {"released": ["dev"], "waiting": ["prod-1", "prod-2"]}
        assert fleet["dev"].released[-1] == ("a", "rollback")
        assert events.kinds() == ["rollback"]
        assert len(await store.holds("web")) == 3
        coordinator.new_revision("web", revision("c"), "poll")
        assert fleet["dev"].released[-1] == ("c", "poll")
        await anyio.sleep(0.1)  # the store forgets the hold in a task
        tasks.cancel_scope.cancel()
    assert await store.holds("web") == []


async def test_a_pin_of_a_manual_app_goes_in_waves_and_forces_each_sync() -> None:
    fleet = workers()
    async with anyio.create_task_group() as tasks:
        coordinator = RolloutCoordinator(tasks, Events())
        coordinator.register("web", PLAN, list(fleet.values()), automated=False)  # type: ignore[arg-type]
        coordinator.new_revision("web", revision("a"), "poll")
        moved = coordinator.set_pins("web", sorted(fleet), revision("b"))
        assert moved["released"] == ["dev"]
        assert [t.reason for t in fleet["dev"].mailbox.posted] == ["manual"]
        assert fleet["prod-1"].mailbox.posted == []
        tasks.cancel_scope.cancel()


async def test_a_closed_sync_window_pauses_the_rollout_at_the_wave_boundary() -> None:
    fleet = workers()
    closed = {"prod-1", "prod-2"}

    def gate(app: str, cluster: str) -> tuple[float, str] | None:
        return (anyio.current_time() + 60, "window night is closed") if cluster in closed else None

    async with anyio.create_task_group() as tasks:
        coordinator = RolloutCoordinator(tasks, Events())
        coordinator.start_gate = gate
        coordinator.register("web", PLAN, list(fleet.values()), automated=True)  # type: ignore[arg-type]
        coordinator.new_revision("web", revision("a"), "poll")
        done(coordinator, fleet["dev"], "a")
        await anyio.sleep(0.4)
        assert fleet["prod-1"].released == []
        assert "window night is closed" in coordinator.status("web")["message"]
        closed.clear()
        coordinator.poke("web")
        assert fleet["prod-1"].released == [("a", "poll")]
        tasks.cancel_scope.cancel()


async def test_a_released_cluster_that_turns_out_to_be_there_already_is_done() -> None:
    """The worker learnt its revision only after the release: it syncs nothing, reports
    nothing; the coordinator sees it there and goes on."""
    fleet = workers()
    async with anyio.create_task_group() as tasks:
        coordinator = RolloutCoordinator(tasks, Events(), watch_interval=0.02)
        coordinator.register("web", PLAN, list(fleet.values()), automated=True)  # type: ignore[arg-type]
        coordinator.new_revision("web", revision("a"), "poll")
        assert coordinator.status("web")["clusters"]["dev"] == "Syncing"
        fleet["dev"].status.revision = "a" * 40
        await eventually(lambda: fleet["prod-1"].released, "the next wave released")
        assert coordinator.status("web")["clusters"]["dev"] == "Succeeded"
        tasks.cancel_scope.cancel()


async def test_after_a_restart_a_waiting_cluster_is_told_where_it_is(
    store: AsyncHistoryStore,
) -> None:
    """Halted before the restart: prod waits, but is compared (and healed) at its revision."""
    fleet = workers()
    async with anyio.create_task_group() as tasks:
        coordinator = RolloutCoordinator(tasks, Events(), store=store, resolve=resolve)
        coordinator.register("web", PLAN, list(fleet.values()), automated=True)  # type: ignore[arg-type]
        coordinator.new_revision("web", revision("b"), "poll")
        done(coordinator, fleet["dev"], "b", ok=False)
        await eventually(lambda: coordinator.status("web")["status"] == "Halted", "halted")
        await anyio.sleep(0.1)
        tasks.cancel_scope.cancel()
    restarted = workers()
    restarted["prod-1"].status.revision = "a" * 40
    async with anyio.create_task_group() as tasks:
        coordinator = RolloutCoordinator(tasks, Events(), store=store, resolve=resolve)
        await coordinator.load()
        coordinator.register("web", PLAN, list(restarted.values()), automated=True)  # type: ignore[arg-type]
        coordinator.new_revision("web", revision("b"), "poll")
        await eventually(lambda: restarted["prod-1"].released, "prod-1 told its revision")
        assert restarted["prod-1"].released == [("a", "poll")]
        assert restarted["prod-2"].released == [], "a cluster never synced has nothing to keep"
        assert coordinator.status("web")["status"] == "Halted"
        assert coordinator.status("web")["clusters"]["prod-1"] == "Pending"
        tasks.cancel_scope.cancel()
