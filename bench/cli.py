"""Benchmark of the CLI: wall time of the commands that ask the daemon something.

Run: ``.venv/bin/python -m bench.cli [--runs 10] [--apps 10] [--clusters 10]``.

It serves the daemon's real HTTP API (``build_app``) over the CLI tests' fake daemon
(tests/cli/fakedaemon.py) on a loopback port, in a thread of its own, with a fleet of
``--apps`` x ``--clusters`` status rows, 500 syncs, 1,000 events, the CLI tests' plans
and a rollout of app ``web`` (rolled back on every run). Then it runs each
command as a user does, ``python -m fleet ...`` in a fresh process, ``--runs`` times,
and prints the wall time of each (min, median, max): interpreter start, imports, the
requests and the printing, everything a user waits for. The target is 0.3 s.

The figures are printed, not asserted: tests check which modules the fast path imports
(tests/cli/test_fast_path.py), which is what keeps these times where they are.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio
from aiohttp import web

from fleet.adapters.http.ratelimit import RateLimiter
from fleet.adapters.http.routes import ApiAccess
from fleet.adapters.http.server import build_app
from tests.cli.fakedaemon import FakeDaemon, iso, resource_result, status_row, sync_record
from tests.cli.harness import seed_plans

TARGET_SECONDS = 0.3
COMMANDS: tuple[tuple[str, ...], ...] = (
    ("status",),
    ("status", "--json"),
    ("history",),
    ("history", "show", "500"),
    ("events",),
    ("plan",),
    ("plan", "web", "--diff"),
    ("rollout", "status", "web"),
    ("rollback", "web", "--now"),
    ("--help",),
)
#: Exit codes of a command that did its work (1: done, and the answer is "changes").
DONE = (0, 1)


def seed(fake: FakeDaemon, apps: int, clusters: int) -> None:
    now = datetime.now(UTC)
    for a in range(apps):
        for c in range(clusters):
            fake.statuses.append(status_row(f"app-{a:02d}", f"cluster-{c:03d}"))
    for sync_id in range(1, 501):
        fake.add_sync(
            sync_record(sync_id, f"app-{sync_id % apps:02d}", f"cluster-{sync_id % clusters:03d}"),
            [resource_result(sync_id, i, name=f"object-{i}") for i in range(1, 21)],
        )
    for index in range(1000):
        event = fake.add_event("drift", f"{index % 7} object(s) differ from Git", app="app-00")
        event["at"] = iso(now - timedelta(seconds=1000 - index))


@contextmanager
def served(apps: int, clusters: int, token_file: Path) -> Iterator[str]:
    """The fake daemon on a free loopback port, its event loop in a thread."""
    ready = threading.Event()
    stop = threading.Event()
    address: list[str] = []

    async def serve() -> None:
        async with anyio.create_task_group() as tasks:
            fake = FakeDaemon(tasks)
            seed(fake, apps, clusters)
            fake.plans = seed_plans()
            # Plans are rate-limited per token (api_dry_run_rate): not what is measured here.
            access = replace(ApiAccess.single_token(token_file), limiter=RateLimiter(6e4, 1000))
            runner = web.AppRunner(build_app(fake, access), handle_signals=False, access_log=None)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", 0).start()
            address.append(f"127.0.0.1:{runner.addresses[0][1]}")
            ready.set()
            await anyio.to_thread.run_sync(stop.wait)
            await runner.cleanup()
            tasks.cancel_scope.cancel()

    thread = threading.Thread(target=anyio.run, args=(serve,), daemon=True)
    thread.start()
    if not ready.wait(30):
        raise RuntimeError("the fake daemon did not start")
    try:
        yield address[0]
    finally:
        stop.set()
        thread.join(10)


def wall_times(argv: list[str], runs: int, environment: dict[str, str]) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        done = subprocess.run(argv, capture_output=True, env=environment, check=False)
        times.append(time.perf_counter() - started)
        if done.returncode not in DONE:
            raise RuntimeError(f"{' '.join(argv)} failed: {done.stderr.decode()[-500:]}")
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--apps", type=int, default=10)
    parser.add_argument("--clusters", type=int, default=10)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="fleet-bench-cli-") as scratch:
        token_file = Path(scratch) / "token"
        token_file.write_text("bench-token\n")
        environment = {
            **{k: v for k, v in os.environ.items() if not k.startswith("FLEET_")},
            "FLEET_API_TOKEN_FILE": str(token_file),
            "NO_COLOR": "1",
        }
        with served(options.apps, options.clusters, token_file) as address:
            environment["FLEET_API_ADDRESS"] = address
            baseline = wall_times([sys.executable, "-c", "pass"], options.runs, environment)
            print(
                f"{options.apps * options.clusters} status rows, 500 syncs, 1000 events; "
                f"{options.runs} runs each; python start-up alone: "
                f"{statistics.median(baseline) * 1000:.0f} ms (median)\n"
            )
            print(f"{'command':<32} {'min':>8} {'median':>8} {'max':>8}  target")
            slow = []
            for command in COMMANDS:
                argv = [sys.executable, "-m", "fleet", *command]
                times = wall_times(argv, options.runs, environment)
                median = statistics.median(times)
                verdict = "ok" if median < TARGET_SECONDS else "SLOW"
                if median >= TARGET_SECONDS:
                    slow.append(" ".join(command))
                print(
                    f"{'fleet ' + ' '.join(command):<32} {min(times) * 1000:>6.0f}ms "
                    f"{median * 1000:>6.0f}ms {max(times) * 1000:>6.0f}ms  {verdict}"
                )
    if slow:
        print(f"\nover {TARGET_SECONDS}s (median): {', '.join(slow)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
