"""Running a simulated fleet in the foreground until SIGINT or SIGTERM (``fleet sim up``)."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from fleet.sim.fleet import SimFleet
from fleet.sim.heap import settle_after_startup


async def serve_until_signalled(
    directory: Path,
    names: Sequence[str],
    labels: Mapping[str, Mapping[str, str]],
    latency: float = 0.0,
    ready_delay: float = 1.0,
    controllers: bool = True,
) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with SimFleet.start(
            directory,
            names=names,
            labels=labels,
            latency=latency,
            controllers=controllers,
            ready_delay=ready_delay,
        ) as fleet:
            settle_after_startup()  # what start-up built is never walked by the collector
            print(f"fleet sim: {len(fleet.clusters)} clusters serving", flush=True)
            for cluster in fleet.clusters.values():
                label_text = ",".join(f"{k}={v}" for k, v in cluster.labels.items())
                print(f"  {cluster.name:<16} {cluster.url}  {label_text}".rstrip(), flush=True)
            print(f"kubeconfig: {fleet.kubeconfig_path}", flush=True)
            print(f"  export KUBECONFIG={fleet.kubeconfig_path}", flush=True)
            print(f"admin endpoint: {fleet.directory / 'admin.json'}", flush=True)
            print("press Ctrl-C to stop", flush=True)
            await stop.wait()
            print("fleet sim: stopping", file=sys.stderr, flush=True)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    return 0
