"""What the CLI tests share: a served fake daemon, captured runs of ``fleet``, seed data."""

from __future__ import annotations

import io
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import pytest
from aiohttp import web

from fleet.adapters.http.server import build_app
from fleet.cli import main
from fleet.engine.plan_report import AppPlan, ClusterPlan
from fleet.engine.preview import ClusterPreview, PlannedAction, PlannedObject
from fleet.engine.rollout import RolloutPlan, RolloutWave
from fleet.model.refs import ObjectRef
from tests.cli.fakedaemon import (
    DIFF_TEXT,
    SHA_A,
    SHA_B,
    FakeDaemon,
    iso,
    resource_result,
    status_row,
    sync_record,
)

TOKEN = "t0ken-for-tests-only"
PLAN_DIFF = (
    "--- live/ConfigMap/web/web-config\n"
    "+++ desired/ConfigMap/web/web-config\n"
    "@@ -1,3 +1,3 @@\n"
    "-  GREETING: hello\n"
    "+  GREETING: hi\n"
)


@dataclass
class Served:
    fake: FakeDaemon
    address: str
    token_file: Path


@dataclass
class Outcome:
    code: int
    out: str
    err: str


Invoke = Callable[..., Awaitable[Outcome]]


class FakeTerminal(io.StringIO):
    """A captured stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def seed(fake: FakeDaemon) -> None:
    """Three clusters running web, one running api; a little history and a few events."""
    now = datetime.now(UTC)
    fake.statuses += [
        status_row("api", "prod"),
        status_row("web", "dev"),
        status_row(
            "web",
            "prod",
            sync="OutOfSync",
            health="Degraded",
            message="out of sync: apps/Deployment web/web " + "and a very long reason " * 8,
            last_result="Failed",
            last_finished_at=iso(now - timedelta(hours=2)),
        ),
        status_row("web", "staging", revision=SHA_B, pinned_revision=SHA_B),
    ]
    fake.add_sync(sync_record(5, "web", "dev", trigger="webhook"))
    fake.add_sync(
        sync_record(6, "web", "prod", result="Failed", message="Deployment web: crash loop"),
        [
            resource_result(6, 1, phase="PreSync", kind="Job", name="db-migrate", action="hook"),
            resource_result(
                6,
                2,
                action="failed",
                health="Degraded",
                message="ProgressDeadlineExceeded",
                duration_ms=30000,
            ),
        ],
    )
    fake.add_sync(sync_record(7, "api", "prod", trigger="manual", dry_run=True))
    fake.diffs["web"] = [
        {"app": "web", "cluster": "dev", "revision": SHA_A, "objects": []},
        {
            "app": "web",
            "cluster": "prod",
            "revision": SHA_A,
            "objects": [
                {
                    "object": "apps/Deployment web/web",
                    "text": DIFF_TEXT,
                    "patch": [{"op": "replace", "path": "/spec/replicas", "value": 2}],
                }
            ],
        },
    ]
    fake.diffs["api"] = [{"app": "api", "cluster": "prod", "revision": SHA_A, "objects": []}]
    fake.plans.update(seed_plans())
    fake.add_event("cluster_unreachable", "connection refused", cluster="prod")
    fake.add_event("drift", "1 object(s) differ from Git", app="web", cluster="prod")
    fake.add_event("sync_failed", "crash loop", app="web", cluster="prod", sync_id=6)


def seed_plans() -> dict[str, AppPlan]:
    """``fleet plan`` of SHA_B: web changes on dev and prod (staging is pinned), api
    (automated sync off) changes nothing."""

    def obj(action: PlannedAction, kind: str, name: str, **fields: Any) -> PlannedObject:
        group = "apps" if kind == "Deployment" else "batch" if kind == "Job" else ""
        return PlannedObject(ObjectRef(group, kind, "web", name), action, **fields)

    dev = ClusterPreview(
        (
            obj(PlannedAction.HOOK, "Job", "web-migrate", phase="PreSync", detail="deleted"),
            obj(
                PlannedAction.CHANGE,
                "ConfigMap",
                "web-config",
                wave=-1,
                detail="/data/GREETING",
                diff=PLAN_DIFF,
            ),
            obj(PlannedAction.CREATE, "Service", "web-canary", diff="+kind: Service\n"),
            obj(PlannedAction.PRUNE, "ConfigMap", "web-old"),
            obj(PlannedAction.HOOK, "Job", "web-smoke-test", phase="PostSync"),
        ),
        unchanged=2,
        syncs=True,
    )
    prod = ClusterPreview(
        (obj(PlannedAction.CHANGE, "Deployment", "web", detail="/spec/replicas"),),
        unchanged=3,
        syncs=True,
    )
    waves = RolloutPlan(
        (
            RolloutWave("dev", ("dev",)),
            RolloutWave("staging", ("staging",), soak_seconds=300.0),
            RolloutWave("prod", ("prod",), max_parallel=1, soak_seconds=600.0),
        )
    )
    web = AppPlan(
        "web",
        "platform",
        SHA_B,
        True,
        waves,
        (
            ClusterPlan("dev", "dev", SHA_A, preview=dev),
            ClusterPlan("staging", "staging", SHA_A, SHA_A, ClusterPreview(unchanged=4)),
            ClusterPlan("prod", "prod", SHA_A, preview=prod),
        ),
        "raise the greeting",
    )
    api = AppPlan(
        "api",
        "platform",
        SHA_B,
        False,
        RolloutPlan((RolloutWave("all", ("prod",)),)),
        (ClusterPlan("prod", "all", SHA_B, preview=ClusterPreview(unchanged=3)),),
        "raise the greeting",
    )
    return {"web": web, "api": api}


async def serve_fake(
    fake: FakeDaemon, token_file: Path, site_of: Callable[..., web.BaseSite]
) -> web.AppRunner:
    # A short shutdown timeout: a test may end with a followed event stream still open.
    runner = web.AppRunner(
        build_app(fake, token_file), handle_signals=False, access_log=None, shutdown_timeout=0.5
    )
    await runner.setup()
    await site_of(runner).start()
    return runner


async def run_fleet(capsys: pytest.CaptureFixture[str], *argv: str) -> Outcome:
    """Run ``fleet.cli.main`` in a worker thread (it runs its own event loop)."""
    code = await anyio.to_thread.run_sync(_main, list(argv))
    captured = capsys.readouterr()
    return Outcome(code, captured.out, captured.err)


def _main(argv: list[str]) -> int:
    """``main`` as the process would end: argparse's usage errors exit with 2."""
    try:
        return main(argv)
    except SystemExit as stop:
        return stop.code if isinstance(stop.code, int) else 1
