"""What the CLI tests share: a served fake daemon, captured runs of ``fleet``, seed data."""

from __future__ import annotations

import io
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio
import pytest
from aiohttp import web

from fleet.adapters.http.server import build_app
from fleet.cli import main
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
    fake.add_event("cluster_unreachable", "connection refused", cluster="prod")
    fake.add_event("drift", "1 object(s) differ from Git", app="web", cluster="prod")
    fake.add_event("sync_failed", "crash loop", app="web", cluster="prod", sync_id=6)


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
