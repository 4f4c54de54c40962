"""A stand-in for the daemon behind the real HTTP API, for testing the CLI.

It implements ``DaemonApi`` with canned but realistic data (the shapes the runtime and
the history store produce), records what it was asked, and runs manual syncs as small
state machines in the test's task group: a sync is recorded Running, walks through a
few steps that ``/api/v1/status`` shows, then finishes with the result a test chose.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import anyio
from anyio.abc import TaskGroup

from fleet.adapters.http.server import ApiError
from fleet.adapters.http.webhooks import Push

if TYPE_CHECKING:
    from tests.cli.fakerollouts import FakeRollouts
from fleet.engine.plan_report import AppPlan, report

JSON = dict[str, Any]


def _rollouts() -> FakeRollouts:
    from tests.cli.fakerollouts import FakeRollouts, rollout_state

    return FakeRollouts({"web": rollout_state("web")})


SHA_A = "3f2a9c1d" + "0" * 32
SHA_B = "9b41e7aa" + "1" * 32
STEPS = ("PreSync hook db-migrate", "Sync wave 0", "waiting for Deployment web to be healthy")


def iso(moment: datetime) -> str:
    return moment.isoformat()


def status_row(app: str, cluster: str, **overrides: Any) -> JSON:
    """A status object as ``AppClusterStatus.as_json`` gives it."""
    now = datetime.now(UTC)
    row: JSON = {
        "app": app,
        "cluster": cluster,
        "revision": SHA_A,
        "target_revision": SHA_A,
        "sync": "Synced",
        "health": "Healthy",
        "message": "",
        "operation": "",
        "step": "",
        "last_sync_id": 7,
        "last_result": "Succeeded",
        "last_finished_at": iso(now - timedelta(minutes=5)),
        "pinned_revision": None,
        "reachable": True,
        "unreachable_since": None,
        "out_of_sync": [],
        "updated_at": iso(now),
    }
    row.update(overrides)
    return row


def sync_record(sync_id: int, app: str, cluster: str, **overrides: Any) -> JSON:
    """A sync as ``SyncRecord.as_json`` gives it."""
    started = datetime.now(UTC) - timedelta(minutes=10)
    record: JSON = {
        "id": sync_id,
        "app": app,
        "cluster": cluster,
        "revision": SHA_A,
        "trigger": "poll",
        "dry_run": False,
        "started_at": iso(started),
        "applied_at": iso(started + timedelta(seconds=2)),
        "healthy_at": iso(started + timedelta(seconds=8)),
        "finished_at": iso(started + timedelta(seconds=8, milliseconds=400)),
        "result": "Succeeded",
        "message": "",
        "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
        "resumed_from": None,
    }
    record.update(overrides)
    return record


def resource_result(sync_id: int, index: int, **overrides: Any) -> JSON:
    result: JSON = {
        "id": index,
        "sync_id": sync_id,
        "phase": "Sync",
        "wave": 0,
        "group": "apps",
        "kind": "Deployment",
        "namespace": "web",
        "name": "web",
        "action": "configured",
        "health": "Healthy",
        "message": "",
        "duration_ms": 1250,
        "at": iso(datetime.now(UTC)),
    }
    result.update(overrides)
    return result


DIFF_TEXT = (
    "--- live/apps/Deployment/web/web\n"
    "+++ desired/apps/Deployment/web/web\n"
    "@@ -5,3 +5,3 @@\n"
    " spec:\n"
    "-  replicas: 5\n"
    "+  replicas: 2\n"
)


@dataclass
class TriggerCall:
    app: str
    cluster: str | None
    revision: str | None
    clear_pin: bool
    dry_run: bool
    confirm_prune: bool
    force: bool = False
    now: bool = False


@dataclass
class FakeDaemon:
    """Implements ``DaemonApi``; tests arrange its state and read what it was asked."""

    tasks: TaskGroup
    statuses: list[JSON] = field(default_factory=list)
    syncs: dict[int, JSON] = field(default_factory=dict)
    results: dict[int, list[JSON]] = field(default_factory=dict)
    events_log: list[JSON] = field(default_factory=list)
    diffs: dict[str, list[JSON]] = field(default_factory=dict)
    #: ``fleet plan``'s answers, by app, made by the engine's own report (plan_report).
    plans: dict[str, AppPlan] = field(default_factory=dict)
    plan_queries: list[JSON] = field(default_factory=list)
    calls: list[TriggerCall] = field(default_factory=list)
    #: Rollouts (tests/cli/fakerollouts.py): canned states, and what was asked of them.
    rollouts: FakeRollouts = field(default_factory=lambda: _rollouts())
    history_queries: list[JSON] = field(default_factory=list)
    event_queries: list[JSON] = field(default_factory=list)
    #: The result each cluster's manual sync ends with; "hang" never ends.
    outcomes: dict[str, str] = field(default_factory=dict)
    #: Clusters whose sync starts only after the trigger was answered (no id in it).
    late_start: set[str] = field(default_factory=set)
    step_delay: float = 0.15
    #: What ``GET /api/v1/config`` answers (a local file, nothing refused, by default).
    config_state: JSON = field(
        default_factory=lambda: {"file": "/etc/fleet/fleet.yaml", "source": None, "rejected": None}
    )
    #: What ``GET /api/v1/generators`` answers.
    generator_rows: list[JSON] = field(default_factory=list)
    _changed: anyio.Event = field(default_factory=anyio.Event)

    # -- arranging -----------------------------------------------------------------

    def add_sync(self, record: JSON, results: list[JSON] | None = None) -> None:
        self.syncs[int(record["id"])] = record
        self.results[int(record["id"])] = results or []

    def add_event(self, kind: str, message: str, **fields: Any) -> JSON:
        event: JSON = {
            "id": len(self.events_log) + 1,
            "at": iso(datetime.now(UTC)),
            "kind": kind,
            "app": fields.get("app"),
            "cluster": fields.get("cluster"),
            "sync_id": fields.get("sync_id"),
            "message": message,
            "details": fields.get("details", {}),
        }
        self.events_log.append(event)
        self._changed.set()
        self._changed = anyio.Event()
        return event

    def _status(self, app: str, cluster: str) -> JSON:
        for row in self.statuses:
            if row["app"] == app and row["cluster"] == cluster:
                return row
        raise ApiError(404, f"app {app} does not run on cluster {cluster}")

    # -- DaemonApi -----------------------------------------------------------------

    def ready(self) -> tuple[bool, list[str]]:
        return True, []

    async def status(self) -> list[JSON]:
        return [dict(row) for row in self.statuses]

    def config_status(self) -> JSON:
        return dict(self.config_state)

    def generators(self) -> list[JSON]:
        return [dict(row) for row in self.generator_rows]

    async def diff(self, app: str, cluster: str | None) -> list[JSON]:
        if app not in self.diffs:
            raise ApiError(404, f"no app named {app}")
        return [d for d in self.diffs[app] if cluster is None or d["cluster"] == cluster]

    async def plan(self, app: str | None, revision: str | None, with_diff: bool) -> JSON:
        self.plan_queries.append({"app": app, "revision": revision, "diff": with_diff})
        if app is not None and app not in self.plans:
            raise ApiError(404, f"no app named {app}")
        plans = [p for name, p in sorted(self.plans.items()) if app in (None, name)]
        if revision == "no-such-branch":
            plans = [
                replace(p, revision=None, clusters=(), error=f"revision {revision!r}: not found")
                for p in plans
            ]
        answer = report(plans)
        for planned in answer["apps"]:
            for cluster in planned["clusters"]:
                for obj in cluster["objects"]:
                    obj["diff"] = obj["diff"] if with_diff else ""
        return answer

    async def history(
        self, app: str | None, cluster: str | None, limit: int, before: int | None
    ) -> list[JSON]:
        self.history_queries.append(
            {"app": app, "cluster": cluster, "limit": limit, "before": before}
        )
        rows = [
            dict(r)
            for _, r in sorted(self.syncs.items(), reverse=True)
            if (app is None or r["app"] == app)
            and (cluster is None or r["cluster"] == cluster)
            and (before is None or r["id"] < before)
        ]
        return rows[:limit]

    async def sync_detail(self, sync_id: int) -> JSON:
        if sync_id not in self.syncs:
            raise ApiError(404, f"no sync with id {sync_id}")
        return {**self.syncs[sync_id], "results": self.results[sync_id]}

    async def events(
        self, since: int, app: str | None, cluster: str | None, limit: int
    ) -> list[JSON]:
        self.event_queries.append({"since": since, "app": app, "cluster": cluster, "limit": limit})
        rows = [
            e
            for e in self.events_log
            if e["id"] > since
            and (app is None or e["app"] == app)
            and (cluster is None or e["cluster"] == cluster)
        ]
        return rows[:limit]

    async def wait_for_events(self, since: int) -> None:
        await self._changed.wait()

    async def trigger_sync(
        self,
        app: str,
        cluster: str | None,
        revision: str | None,
        clear_pin: bool,
        dry_run: bool,
        confirm_prune: bool,
        force: bool = False,
        now: bool = False,
    ) -> JSON:
        self.calls.append(
            TriggerCall(app, cluster, revision, clear_pin, dry_run, confirm_prune, force, now)
        )
        targets = [r for r in self.statuses if r["app"] == app]
        if not targets:
            raise ApiError(404, f"no app named {app}")
        if cluster is not None:
            targets = [self._status(app, cluster)]
        if revision == "no-such-branch":
            raise ApiError(400, f"revision {revision!r}: not found in the source")
        queued = []
        for row in targets:
            name = row["cluster"]
            if name in self.late_start:
                self.tasks.start_soon(self._late, app, name, dry_run)
                queued.append({"cluster": name, "sync_id": None})
            else:
                queued.append({"cluster": name, "sync_id": self._start(app, name, dry_run)})
        return {"app": app, "queued": queued}

    async def rollout_status(self, app: str) -> JSON:
        return self.rollouts.status(app)

    async def rollout_action(self, app: str, action: str) -> JSON:
        return self.rollouts.act(app, action)

    async def rollback(
        self,
        app: str,
        cluster: str | None,
        to_sync_id: int | None,
        revision: str | None,
        now: bool,
    ) -> JSON:
        return self.rollouts.rollback(app, cluster, to_sync_id, revision, now)

    def webhook_secrets(self, forge: str) -> list[bytes]:
        return []

    async def push(self, push: Push) -> JSON:
        return {"sources": []}

    def metrics(self) -> tuple[bytes, str]:
        return b"", "text/plain; version=0.0.4"

    # -- running manual syncs -------------------------------------------------------

    def _start(self, app: str, cluster: str, dry_run: bool) -> int:
        sync_id = max([*self.syncs, 100]) + 1
        self.add_sync(
            sync_record(
                sync_id,
                app,
                cluster,
                revision=SHA_B,
                trigger="manual",
                dry_run=dry_run,
                started_at=iso(datetime.now(UTC)),
                applied_at=None,
                healthy_at=None,
                finished_at=None,
                result="Running",
            )
        )
        self._status(app, cluster).update(operation="Syncing", step="")
        self.tasks.start_soon(self._run, app, cluster, sync_id)
        return sync_id

    async def _late(self, app: str, cluster: str, dry_run: bool) -> None:
        await anyio.sleep(self.step_delay)
        self._start(app, cluster, dry_run)

    async def _run(self, app: str, cluster: str, sync_id: int) -> None:
        status = self._status(app, cluster)
        for step in STEPS:
            status["step"] = step
            await anyio.sleep(self.step_delay)
        outcome = self.outcomes.get(cluster, "Succeeded")
        if outcome == "hang":
            await anyio.sleep_forever()
        record = self.syncs[sync_id]
        finished = iso(datetime.now(UTC))
        if record["dry_run"]:
            # What fleet.runtime.dryrun records: what the sync would do, nothing done.
            self.results[sync_id] = [
                resource_result(
                    sync_id, 1, action="configured", health=None, message=(
                        "would change: spec.replicas"
                    )
                ),
                resource_result(
                    sync_id, 2, kind="ConfigMap", group="", name="web-config",
                    action="created", health=None, message="would create",
                ),
            ]  # fmt: skip
            record.update(
                result="Succeeded",
                finished_at=finished,
                message="dry run, nothing changed: would create 1, change 1; 3 unchanged",
            )
            status.update(operation="", step="")
            return
        self.results[sync_id] = [
            resource_result(
                sync_id, 1, phase="PreSync", kind="Job", name="db-migrate", action="hook"
            ),
            resource_result(
                sync_id, 2, action="configured" if outcome == "Succeeded" else "failed"
            ),
            resource_result(sync_id, 3, kind="Service", group="", action="unchanged"),
        ]
        message = "" if outcome == "Succeeded" else "Deployment web/web: ProgressDeadlineExceeded"
        record.update(result=outcome, finished_at=finished, message=message)
        status.update(
            operation="",
            step="",
            last_sync_id=sync_id,
            last_result=outcome,
            last_finished_at=finished,
        )
