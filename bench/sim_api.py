"""Benchmark of the simulated API servers: one process, many clusters, many objects.

Starts ``fleet sim up`` (without controllers) in a child process, fills every cluster
with objects by server-side apply, then drives it from this process over HTTPS and
prints the serving process's CPU per write for a GitOps-like update (every object
changed by a server-side dry run and an apply; with ``--controllers`` every Deployment
also rolls out), requests per second for list, get, apply and watch fan-out, and the
peak RSS of the serving process (VmHWM)::

    .venv/bin/python -m bench.sim_api --clusters 200 --objects 100
    .venv/bin/python -m bench.sim_api --clusters 20 --objects 50 --controllers \
        --rounds 3 --only-updates

The client is plain aiohttp (not kubernetes_asyncio) so that the figures measure the
server, not the client's model classes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import yaml


@dataclass(frozen=True)
class Target:
    name: str
    url: str
    token: str


def targets(directory: Path) -> list[Target]:
    config = yaml.safe_load((directory / "kubeconfig").read_text())
    servers = {c["name"]: c["cluster"]["server"] for c in config["clusters"]}
    tokens = {u["name"]: u["user"]["token"] for u in config["users"]}
    return [
        Target(c["name"], servers[c["context"]["cluster"]], tokens[c["context"]["user"]])
        for c in config["contexts"]
    ]


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def config_map(i: int) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": f"cm-{i}",
            "namespace": "default",
            "labels": {"bench": "yes", "n": str(i % 10)},
        },
        "data": {"key": f"value-{i}", "blob": "x" * 200},
    }


def deployment(i: int, replicas: int = 2) -> dict[str, Any]:
    labels = {"app": f"web-{i}"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": f"web-{i}",
            "namespace": "default",
            "labels": {"bench": "yes", **labels},
        },
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [
                        {
                            "name": "web",
                            "image": "nginx:1.27",
                            "ports": [{"containerPort": 80}],
                            "env": [{"name": "N", "value": str(i)}],
                        }
                    ]
                },
            },
        },
    }


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (``/proc/PID/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def object_path(obj: dict[str, Any]) -> str:
    name = obj["metadata"]["name"]
    if obj["kind"] == "ConfigMap":
        return f"/api/v1/namespaces/default/configmaps/{name}"
    return f"/apis/apps/v1/namespaces/default/deployments/{name}"


class Client:
    def __init__(self, ca_file: Path, concurrency: int, admin: dict[str, str]) -> None:
        self.admin = admin
        self.ssl = ssl.create_default_context(cafile=str(ca_file))
        # Like one API client per cluster: a few keep-alive connections per server.
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=concurrency, limit_per_host=2, ssl=self.ssl),
            trust_env=False,
        )
        # Watches hold their connection for as long as they run: a pool of their own.
        self.watch_session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, ssl=self.ssl), trust_env=False
        )
        self.limit = asyncio.Semaphore(concurrency)
        self.errors = 0

    async def request(
        self,
        target: Target,
        method: str,
        path: str,
        body: Any = None,
        content_type: str = "application/json",
    ) -> bytes:
        headers = {"Authorization": f"Bearer {target.token}", "Content-Type": content_type}
        data = json.dumps(body).encode() if body is not None else None
        async with (
            self.limit,
            self.session.request(method, target.url + path, data=data, headers=headers) as r,
        ):
            payload = await r.read()
            if r.status >= 400:
                self.errors += 1
            return payload

    async def controller_requests(self) -> dict[str, int]:
        """Requests the simulator's status controllers made, every cluster, by verb."""
        headers = {"Authorization": f"Bearer {self.admin['token']}"}
        async with self.session.get(self.admin["url"] + "/requests", headers=headers) as r:
            every = await r.json()
        total: dict[str, int] = {}
        for by_client in every.values():
            for verb, count in by_client.get("fleet-sim-controllers", {}).items():
                total[verb] = total.get(verb, 0) + count
        return total

    async def apply(self, target: Target, obj: dict[str, Any], dry_run: bool = False) -> bytes:
        query = "?fieldManager=bench&fieldValidation=Strict" + ("&dryRun=All" if dry_run else "")
        return await self.request(
            target, "PATCH", object_path(obj) + query, obj, "application/apply-patch+yaml"
        )


async def update_rounds(
    client: Client, clusters: list[Target], half: int, objects: int, rounds: int, pid: int
) -> None:
    """What a GitOps sync does to a fleet: every object changed, each by a server-side
    dry run then an apply; with controllers, every Deployment rolls out a new Pod.
    Prints the serving process's CPU seconds per apply (its dry run and the controllers'
    work included), from the first write until every Deployment is rolled out."""
    writes = 0
    counted_before = await client.controller_requests()
    before = cpu_seconds(pid)
    start = time.perf_counter()
    for round_ in range(rounds):
        tag = f"r{round_}-{time.time()}"

        async def sync(target: Target, obj: dict[str, Any]) -> None:
            await client.apply(target, obj, dry_run=True)
            await client.apply(target, obj)

        changed = []
        for i in range(objects - half):
            cm = config_map(i)
            cm["data"]["key"] = tag
            changed.append(cm)
        for i in range(half):
            d = deployment(i)
            d["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"] = tag
            changed.append(d)
        await asyncio.gather(*(sync(t, o) for t in clusters for o in changed))
        writes += len(clusters) * len(changed)
        await rolled_out(client, clusters, half)
    elapsed = time.perf_counter() - start
    used = cpu_seconds(pid) - before
    counted = await client.controller_requests()
    by_controllers = sum(counted.values()) - sum(counted_before.values())
    print(
        f"{'update rounds (dry run + apply)':<34} {used / writes * 1000:10.2f} ms CPU/write "
        f"({writes} writes, {used:.1f} CPU s, {elapsed:.1f} s; "
        f"{by_controllers / writes:.1f} controller requests/write)",
        flush=True,
    )


async def rolled_out(client: Client, clusters: list[Target], deployments: int) -> None:
    """Wait until every Deployment of every cluster has observed and rolled out its spec
    (returns at once when the simulator runs without controllers)."""
    pending = list(clusters)
    deadline = time.perf_counter() + 600
    while pending and time.perf_counter() < deadline:
        still = []
        for target in pending:
            listing = json.loads(
                await client.request(target, "GET", "/apis/apps/v1/namespaces/default/deployments")
            )
            for item in listing["items"][:deployments]:
                status = item.get("status") or {}
                if status.get("observedGeneration") is None:
                    return  # no controllers: nothing rolls out
                if (
                    status.get("observedGeneration") != item["metadata"]["generation"]
                    or status.get("updatedReplicas") != item["spec"]["replicas"]
                    or status.get("readyReplicas") != item["spec"]["replicas"]
                    or status.get("replicas") != item["spec"]["replicas"]
                ):
                    still.append(target)
                    break
        pending = still
        if pending:
            await asyncio.sleep(1.0)  # seldom: the polls are CPU of the measured process


async def rate(
    label: str, duration: float, make: Callable[[], Awaitable[Any]], workers: int
) -> float:
    count = 0
    stop = time.perf_counter() + duration

    async def worker() -> None:
        nonlocal count
        while time.perf_counter() < stop:
            await make()
            count += 1

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(workers)))
    per_second = count / (time.perf_counter() - start)
    print(f"{label:<34} {per_second:10.0f} req/s   ({count} requests)", flush=True)
    return per_second


async def watch_fanout(
    client: Client, clusters: list[Target], watchers_per_cluster: int, changes_per_cluster: int
) -> None:
    """Open watches on every cluster, change objects, count events delivered per second."""
    received = 0
    expected = len(clusters) * watchers_per_cluster * changes_per_cluster
    ready = 0
    all_ready = asyncio.Event()
    done = asyncio.Event()

    async def watch(target: Target, rv: str) -> None:
        nonlocal received, ready
        headers = {"Authorization": f"Bearer {target.token}"}
        query = f"watch=1&resourceVersion={rv}&timeoutSeconds=120"
        url = f"{target.url}/api/v1/namespaces/default/configmaps?{query}"
        async with client.watch_session.get(url, headers=headers) as response:
            ready += 1
            if ready == len(clusters) * watchers_per_cluster:
                all_ready.set()
            async for _line in response.content:
                received += 1
                if received >= expected:
                    done.set()
                if done.is_set():
                    return

    listing = {
        t.name: json.loads(
            await client.request(t, "GET", "/api/v1/namespaces/default/configmaps?limit=1")
        )
        for t in clusters
    }
    tasks = [
        asyncio.create_task(watch(t, listing[t.name]["metadata"]["resourceVersion"]))
        for t in clusters
        for _ in range(watchers_per_cluster)
    ]
    await asyncio.wait_for(all_ready.wait(), 120)
    start = time.perf_counter()
    writes = [
        client.request(
            t,
            "PATCH",
            f"/api/v1/namespaces/default/configmaps/cm-{i}",
            {"data": {"key": f"changed-{time.time()}"}},
            "application/merge-patch+json",
        )
        for t in clusters
        for i in range(changes_per_cluster)
    ]
    await asyncio.gather(*writes)
    written = time.perf_counter() - start
    try:
        await asyncio.wait_for(done.wait(), 120)
    finally:
        elapsed = time.perf_counter() - start
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    print(
        f"{'watch fan-out (events delivered)':<34} {received / elapsed:10.0f} events/s "
        f"({len(tasks)} watchers, {received} events, {len(writes)} writes at "
        f"{len(writes) / written:.0f}/s, last event {elapsed - written:.2f} s after last write)",
        flush=True,
    )


async def run(args: argparse.Namespace, directory: Path, pid: int) -> None:
    clusters = targets(directory)
    admin = json.loads((directory / "admin.json").read_text())
    client = Client(directory / "ca.crt", args.concurrency, admin)
    try:
        half = args.objects // 2
        objects = [config_map(i) for i in range(args.objects - half)] + [
            deployment(i) for i in range(half)
        ]
        start = time.perf_counter()
        await asyncio.gather(*(client.apply(t, o) for t in clusters for o in objects))
        elapsed = time.perf_counter() - start
        total = len(clusters) * len(objects)
        print(
            f"{'initial apply (create)':<34} {total / elapsed:10.0f} req/s   ({total} objects)",
            flush=True,
        )
        print(f"{'peak RSS after fill':<34} {peak_rss_mib(pid):10.1f} MiB", flush=True)

        if args.controllers:
            await rolled_out(client, clusters, half)
        rounds = args.rounds if args.rounds is not None else int(args.controllers)
        if rounds:
            await update_rounds(client, clusters, half, len(objects), rounds, pid)
        if args.only_updates:
            return

        def pick() -> Target:
            return random.choice(clusters)

        workers = args.concurrency
        await rate(
            "list deployments (50 items)",
            args.duration,
            lambda: client.request(pick(), "GET", "/apis/apps/v1/namespaces/default/deployments"),
            workers,
        )
        await rate(
            "list configmaps by label",
            args.duration,
            lambda: client.request(
                pick(), "GET", "/api/v1/namespaces/default/configmaps?labelSelector=n%3D3"
            ),
            workers,
        )
        await rate(
            "get deployment",
            args.duration,
            lambda: client.request(
                pick(),
                "GET",
                f"/apis/apps/v1/namespaces/default/deployments/web-{random.randrange(half)}",
            ),
            workers,
        )
        await rate(
            "apply deployment (no change)",
            args.duration,
            lambda: client.apply(pick(), deployment(random.randrange(half))),
            workers,
        )
        await rate(
            "apply deployment (change)",
            args.duration,
            lambda: client.apply(
                pick(), deployment(random.randrange(half), random.randrange(1, 9))
            ),
            workers,
        )
        await watch_fanout(client, clusters, args.watchers, args.changes)
        print(f"{'peak RSS':<34} {peak_rss_mib(pid):10.1f} MiB", flush=True)
        if client.errors:
            print(f"errors: {client.errors}", flush=True)
    finally:
        await client.session.close()
        await client.watch_session.close()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clusters", type=int, default=200)
    parser.add_argument(
        "--objects", type=int, default=100, help="objects per cluster (half ConfigMaps)"
    )
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per measured phase")
    parser.add_argument("--concurrency", type=int, default=32, help="requests in flight")
    parser.add_argument(
        "--watchers", type=int, default=5, help="watches per cluster for the fan-out"
    )
    parser.add_argument(
        "--changes", type=int, default=5, help="changes per cluster for the fan-out"
    )
    parser.add_argument(
        "--controllers",
        action="store_true",
        help="run the simulator's status controllers (Deployments roll out Pods)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=None,
        help="update rounds for CPU/write (default: 1 with --controllers, else none)",
    )
    parser.add_argument("--only-updates", action="store_true", help="stop after the update rounds")
    args = parser.parse_args()
    os.environ["NO_PROXY"] = "127.0.0.1,localhost"
    with tempfile.TemporaryDirectory(prefix="fleet-bench-") as tmp:
        directory = Path(tmp)
        command = [
            sys.executable,
            "-m",
            "fleet",
            "sim",
            "up",
            "--clusters",
            str(args.clusters),
            "--dir",
            str(directory),
            *(["--ready-delay", "0.2"] if args.controllers else ["--no-controllers"]),
        ]
        started = time.perf_counter()
        with subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) as server:
            try:
                while not (directory / "admin.json").exists():
                    if server.poll() is not None:
                        error = server.stderr.read().decode() if server.stderr else ""
                        raise SystemExit(f"fleet sim up failed: {error}")
                    time.sleep(0.05)
                label = f"start-up of {args.clusters} clusters"
                print(f"{label:<34} {time.perf_counter() - started:10.2f} s", flush=True)
                print(f"{'peak RSS idle':<34} {peak_rss_mib(server.pid):10.1f} MiB", flush=True)
                asyncio.run(run(args, directory, server.pid))
            finally:
                server.send_signal(signal.SIGINT)
                try:
                    server.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    server.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
