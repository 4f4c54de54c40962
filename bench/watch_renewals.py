"""Client CPU per watch renewal on the lean pool, against one ``fleet sim up`` over TLS.

A daemon renews each watch at the server's ``timeoutSeconds``: with 1,000 clusters x 4
kinds, ~17 renewals a second. This starts one simulated cluster in its own process,
holds ``--watches`` watches on one ``LeanPool`` (as one cluster's client does), each
renewed every ``--timeout`` seconds, and after a warm-up prints, for a window of
``--seconds``: renewals, the client's and the simulator's CPU per renewal, and the TLS
handshakes the client started (``SSLContext.session_stats``).

    .venv/bin/python -m bench.watch_renewals --watches 200 --timeout 1 --seconds 30

Compare two trees side by side by running this file with ``PYTHONPATH`` set to each.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from fleet.adapters.kube.http1 import LeanPool, Origin


def start_sim(directory: Path) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "fleet", "sim", "up", "--clusters", "1", "--no-controllers"]
    with (directory / "sim.log").open("wb") as log:
        process = subprocess.Popen(
            [*command, "--dir", str(directory)], stdout=log, stderr=subprocess.STDOUT
        )
    started = time.monotonic()
    while b"press Ctrl-C" not in (directory / "sim.log").read_bytes():
        if process.poll() is not None or time.monotonic() - started > 60:
            raise SystemExit(f"fleet sim up did not start: see {directory / 'sim.log'}")
        time.sleep(0.1)
    return process


def cpu_seconds(pid: int) -> float:
    """User and system CPU of a process, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def measure(args: argparse.Namespace, kubeconfig: dict[str, Any], sim_pid: int) -> None:
    cluster = kubeconfig["clusters"][0]["cluster"]
    token = kubeconfig["users"][0]["user"]["token"]
    context = ssl.create_default_context(cafile=cluster["certificate-authority"])
    pool = LeanPool(Origin.of(cluster["server"]), ssl_context=context)
    auth = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    listing = await pool.request(
        pool.head("GET", "/api/v1/configmaps", "", auth),
        None,
        within=10,
        connect_within=10,
        idempotent=True,
    )
    version = json.loads(listing.body)["metadata"]["resourceVersion"]
    query = f"watch=true&allowWatchBookmarks=true&resourceVersion={version}"
    head = pool.head("GET", "/api/v1/configmaps", f"{query}&timeoutSeconds={args.timeout}", auth)
    renewals = 0
    stop = asyncio.Event()

    async def watcher(delay: float) -> None:
        nonlocal renewals
        await asyncio.sleep(delay)  # spread over one period, as watches are in a daemon
        while not stop.is_set():
            feed = await pool.stream(
                head, idle_timeout=args.timeout + 30, connect_within=10, max_line=1 << 21
            )
            try:
                async for _ in feed:
                    pass
            finally:
                feed.close()
            renewals += 1

    tasks = [
        asyncio.create_task(watcher(args.timeout * n / args.watches)) for n in range(args.watches)
    ]
    await asyncio.sleep(args.warmup)
    before = (renewals, time.process_time(), cpu_seconds(sim_pid), context.session_stats())
    began = time.monotonic()
    await asyncio.sleep(args.seconds)
    after = (renewals, time.process_time(), cpu_seconds(sim_pid), context.session_stats())
    took = time.monotonic() - began
    stop.set()
    await asyncio.gather(*tasks)
    pool.close()
    count = after[0] - before[0]
    handshakes = after[3]["connect"] - before[3]["connect"]
    print(
        f"loop={args.loop} watches={args.watches} timeoutSeconds={args.timeout} "
        f"window={took:.1f}s renewals={count} ({count / took:.0f}/s) "
        f"TLS handshakes={handshakes}\n"
        f"client CPU {after[1] - before[1]:.2f}s = {1e3 * (after[1] - before[1]) / count:.3f} ms"
        f" per renewal; sim CPU {after[2] - before[2]:.2f}s = "
        f"{1e3 * (after[2] - before[2]) / count:.3f} ms per renewal; "
        f"load average {' '.join(f'{n:.2f}' for n in os.getloadavg())}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--watches", type=int, default=200)
    parser.add_argument("--timeout", type=int, default=1, help="the watches' timeoutSeconds")
    parser.add_argument("--seconds", type=float, default=30.0, help="the measured window")
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--loop", choices=["uvloop", "asyncio"], default="uvloop")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="watch-renewals-") as directory:
        sim = start_sim(Path(directory))
        try:
            kubeconfig = yaml.safe_load((Path(directory) / "sim-1.kubeconfig").read_text())
            if args.loop == "uvloop":
                import uvloop

                uvloop.run(measure(args, kubeconfig, sim.pid))
            else:
                asyncio.run(measure(args, kubeconfig, sim.pid))
        finally:
            sim.send_signal(signal.SIGINT)
            sim.wait(30)


if __name__ == "__main__":
    main()
