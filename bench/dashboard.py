"""Benchmark of the dashboard's Fleet page: server-side rendering of 200 clusters x 30 apps.

Run: ``.venv/bin/python -m bench.dashboard [--clusters 200] [--apps 30] [--rounds 20]
[--charts]``; ``--charts`` gives every app a chart source's revision with values from
Git (``chart@version@sha256:...~values@commit``), the longest short form a cell shows.
The page's handler runs as the daemon runs it (status rows and the fleet overview from
a ``DaemonApi``, the matrix, the template), on a mocked request: no network. Aims
(issue 13): under 150 ms and under 1 MB of HTML.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from typing import Any

import anyio
from aiohttp.test_utils import make_mocked_request

from fleet.adapters.http.dashboard.stream import SharedFingerprint
from fleet.adapters.http.dashboard.views import DashboardOptions, Pages

JSON = dict[str, Any]
SYNCS = ("Synced",) * 17 + ("OutOfSync", "Unknown")
HEALTHS = ("Healthy",) * 17 + ("Progressing", "Degraded")


class FleetReads:
    """The two reads the Fleet page makes, with a realistic large fleet's answers."""

    def __init__(self, clusters: int, apps: int, charts: bool = False) -> None:
        shas = [f"{n:07x}" + "a" * 33 for n in range(3)]
        if charts:
            digest = "sha256:" + "5d" * 32
            shas = [f"chart@1.{n}.0@{digest}~values@{sha}" for n, sha in enumerate(shas)]
        self.rows: list[JSON] = []
        for c in range(clusters):
            for a in range(apps):
                n = c * apps + a
                self.rows.append(
                    {
                        "app": f"app-{a:02}",
                        "cluster": f"cluster-{c:03}",
                        "revision": shas[n % 3],
                        "target_revision": shas[0],
                        "sync": SYNCS[n % len(SYNCS)],
                        "health": HEALTHS[n % len(HEALTHS)],
                        "message": "",
                        "operation": "",
                        "pinned_revision": shas[1] if n % 97 == 0 else None,
                        "suspended": n % 101 == 0,
                        "reachable": c % 50 != 7,
                    }
                )
        waves = [
            {"name": "canary", "clusters": [f"cluster-{c:03}" for c in range(5)]},
            {"name": "early", "clusters": [f"cluster-{c:03}" for c in range(5, 50)]},
            {"name": "rest", "clusters": [f"cluster-{c:03}" for c in range(50, clusters)]},
        ]
        self.overview: JSON = {
            "clusters": [
                {
                    "name": f"cluster-{c:03}",
                    "labels": {"region": ("eu", "us", "ap")[c % 3], "tier": str(c % 4)},
                    "reachable": c % 50 != 7,
                    "message": "" if c % 50 != 7 else "unreachable since ...: timed out",
                }
                for c in range(clusters)
            ],
            "apps": [{"name": f"app-{a:02}", "waves": waves} for a in range(apps)],
            "commits": {
                sha: {"sha": sha, "summary": self.subject(i, sha, charts)}
                for i, sha in enumerate(shas)
            },
        }

    @staticmethod
    def subject(index: int, sha: str, charts: bool) -> str:
        if charts:  # as the chart fetcher writes it (fleet.adapters.charts.fetcher)
            digest = sha.split("@")[2].split("~")[0]
            return f"chart chart 1.{index}.0 from oci://registry.example.com/charts ({digest})"
        return f"Release {index}: bump images and config"

    async def status(self) -> list[JSON]:
        return self.rows

    async def fleet_overview(self) -> JSON:
        return self.overview

    async def last_event_id(self) -> int:
        return 0


async def measure(
    clusters: int, apps: int, rounds: int, query: str, charts: bool = False
) -> tuple[list[float], list[float], int]:
    reads = FleetReads(clusters, apps, charts)
    pages = Pages(reads, DashboardOptions(), SharedFingerprint(reads))  # type: ignore[arg-type]
    times: list[float] = []
    cpu: list[float] = []
    size = 0
    for _ in range(rounds):
        request = make_mocked_request("GET", "/" + query)
        started, started_cpu = time.perf_counter(), time.process_time()
        response = await pages.fleet(request)
        times.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - started_cpu) * 1000)
        size = len(response.body)  # type: ignore[attr-defined]
    return times, cpu, size


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clusters", type=int, default=200)
    parser.add_argument("--apps", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--charts", action="store_true", help="chart revisions in every cell")
    args = parser.parse_args()
    kind = "chart revisions with valuesFrom" if args.charts else "Git revisions"
    print(f"dashboard Fleet page, {args.clusters} clusters x {args.apps} apps, {kind}")
    print(f"  python {platform.python_version()} on {platform.machine()}")
    failed = False
    cases = (("by wave", ""), ("by label", "?group=region"), ("OutOfSync", "?state=OutOfSync"))
    for label, query in cases:
        times, cpu, size = anyio.run(
            measure, args.clusters, args.apps, args.rounds, query, args.charts
        )
        median, cpu_median = statistics.median(times), statistics.median(cpu)
        print(
            f"  {label:<10} median {median:6.1f} ms (CPU {cpu_median:6.1f} ms), best "
            f"{min(times):6.1f}, worst {max(times):6.1f}; HTML {size / 1024:7.1f} KiB ({size:,} B)"
        )
        # CPU time: on a shared machine the wall clock measures the neighbours too.
        if label == "by wave" and (cpu_median > 150 or size >= 1_000_000):
            failed = True
    if failed:
        print("  above the aim: 150 ms and 1 MB for the whole page")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
