"""Benchmark of the SQLite history store: write rates, and query latency at 100k syncs.

Run: ``.venv/bin/python -m bench.store [--syncs 100000]``. Everything happens in a
temporary directory on the same file system as /tmp; the figures depend on its disk.
"""

from __future__ import annotations

import argparse
import os
import platform
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fleet.adapters.store import HistoryStore, ResourceResult, RetentionPolicy
from fleet.adapters.store.connection import Synchronous

APPS = 20
CLUSTERS = 50  # 1000 (app, cluster) targets
RESULTS_PER_SYNC = 50


def results(count: int, offset: int = 0) -> list[ResourceResult]:
    return [
        ResourceResult(
            "Sync", n % 3, "apps", "Deployment", "bench", f"obj-{offset + n}", "configured",
            health="Healthy", message="3/3 replicas available", duration_ms=4,
        )
        for n in range(count)
    ]  # fmt: skip


def rate(count: int, seconds: float) -> str:
    return f"{count / seconds:>10,.0f}/s"


def write_rates(folder: Path, synchronous: Synchronous) -> None:
    path = folder / f"writes-{synchronous}.sqlite3"
    with HistoryStore.open(path, synchronous=synchronous) as store:
        sync_id = store.start_sync("web", "dev", "abc", "poll")
        batches = 400
        started = time.perf_counter()
        for batch in range(batches):
            store.record_results(sync_id, results(RESULTS_PER_SYNC, batch * RESULTS_PER_SYNC))
        took = time.perf_counter() - started
        print(
            f"  [{synchronous:6}] resource results, batches of {RESULTS_PER_SYNC}:"
            f" {rate(batches * RESULTS_PER_SYNC, took)} rows"
        )

        singles = 2000
        started = time.perf_counter()
        for n in range(singles):
            store.record_results(sync_id, results(1, n))
        took = time.perf_counter() - started
        print(f"  [{synchronous:6}] resource results, one per call:   {rate(singles, took)} rows")

        syncs = 500
        started = time.perf_counter()
        for n in range(syncs):
            one = store.start_sync("web", f"c{n % 10}", "abc", "poll")
            store.record_results(one, results(RESULTS_PER_SYNC))
            store.mark_applied(one)
            store.mark_healthy(one)
            store.finish_sync(one, "Succeeded")
        took = time.perf_counter() - started
        print(
            f"  [{synchronous:6}] whole syncs (start, {RESULTS_PER_SYNC} results, 2 marks,"
            f" finish): {rate(syncs, took)}"
        )


def populate(store: HistoryStore, total: int) -> None:
    """``total`` finished syncs over APPS x CLUSTERS targets, a year apart from first to last."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    step = timedelta(days=365) / total
    rows: list[dict[str, Any]] = []
    for n in range(total):
        at = (start + step * n).isoformat(timespec="microseconds")
        rows.append(
            {
                "app": f"app-{n % APPS:02d}",
                "cluster": f"cluster-{(n // APPS) % CLUSTERS:02d}",
                "revision": f"{n:040x}",
                "triggered_by": "poll",
                "dry_run": 0,
                "started_at": at,
                "applied_at": at,
                "healthy_at": at,
                "finished_at": at,
                "result": "Failed" if n % 17 == 0 else "Succeeded",
                "message": "",
            }
        )
    with store.db.conn:
        store.db.conn.executemany(
            "INSERT INTO syncs (app, cluster, revision, triggered_by, dry_run, started_at,"
            " applied_at, healthy_at, finished_at, result, message) VALUES (:app, :cluster,"
            " :revision, :triggered_by, :dry_run, :started_at, :applied_at, :healthy_at,"
            " :finished_at, :result, :message)",
            rows,
        )
    for app in range(APPS):
        for cluster in range(CLUSTERS):
            store.set_status(f"app-{app:02d}", f"cluster-{cluster:02d}", sync="Synced")
    for n in range(5000):
        store.add_event("drift", f"event {n}", app=f"app-{n % APPS:02d}")
    detailed = store.start_sync("app-00", "cluster-00", "abc", "poll")
    store.record_results(detailed, results(RESULTS_PER_SYNC))
    store.finish_sync(detailed, "Succeeded")


def latency(name: str, call: Callable[[], object], repeat: int = 300) -> None:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    p99 = times[int(len(times) * 0.99) - 1]
    print(f"  {name:52} p50 {statistics.median(times):7.3f} ms   p99 {p99:7.3f} ms")


def query_latency(folder: Path, total: int) -> None:
    path = folder / "history.sqlite3"
    with HistoryStore.open(path) as store:
        started = time.perf_counter()
        populate(store, total)
        print(f"  loaded {total:,} syncs in {time.perf_counter() - started:.1f} s")
        newest = store.history(limit=1)[0].id
        middle = newest // 2
        latency(
            "history(app, cluster, limit=50)",
            lambda: store.history(app="app-07", cluster="cluster-07", limit=50),
        )
        latency("history(app, limit=50)", lambda: store.history(app="app-07", limit=50))
        latency("history(cluster, limit=50)", lambda: store.history(cluster="cluster-07", limit=50))
        latency("history(limit=50)", lambda: store.history(limit=50))
        latency(
            "history(app, limit=50, before_id=middle)",
            lambda: store.history(app="app-07", limit=50, before_id=middle),
        )
        latency("history(result='Failed', limit=50)", lambda: store.history(result="Failed"))
        latency(f"sync_detail (with {RESULTS_PER_SYNC} results)", lambda: store.sync_detail(newest))
        latency("latest_sync(app, cluster)", lambda: store.latest_sync("app-03", "cluster-09"))
        latency(f"status_table ({APPS * CLUSTERS} targets)", lambda: store.status_table(), 50)
        latency("events_after(id, limit=500)", lambda: store.events_after(4000))
        latency("running_syncs", lambda: store.running_syncs())

    with HistoryStore.open(path) as store:
        batches: list[float] = []
        policy = RetentionPolicy(max_age_days=None, keep_per_target=50, event_max_age_days=None)
        started = time.perf_counter()
        deleted = 0
        while True:
            batch_started = time.perf_counter()
            report = store.retention_batch(policy, batch_size=500)
            batches.append(time.perf_counter() - batch_started)
            if report.empty:
                break
            deleted += report.syncs
        took = time.perf_counter() - started
        print(
            f"  retention keep_per_target=50: deleted {deleted:,} syncs in {took:.1f} s,"
            f" longest batch (write lock held) {max(batches) * 1000:.0f} ms"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--syncs", type=int, default=100_000, help="history size for queries")
    args = parser.parse_args()
    print(
        f"history store benchmark: Python {platform.python_version()},"
        f" SQLite {sqlite3.sqlite_version}, {os.cpu_count()} CPUs, {platform.machine()}"
    )
    with tempfile.TemporaryDirectory(prefix="fleet-bench-store-") as folder:
        print("writes:")
        write_rates(Path(folder), "NORMAL")
        write_rates(Path(folder), "FULL")
        print(f"queries at {args.syncs:,} syncs:")
        query_latency(Path(folder), args.syncs)


if __name__ == "__main__":
    main()
