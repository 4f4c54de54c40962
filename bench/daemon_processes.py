"""The two processes the benchmark drives: ``fleet sim up`` and ``fleet run``.

Each runs as a child process so that its CPU time and memory are its own: CPU seconds
come from ``/proc/<pid>/stat`` (utime + stime, plus children waited for), memory from
``/proc/<pid>/status`` (VmRSS now, VmHWM the peak). The benchmark talks to them over
plain HTTP on loopback with urllib (no proxy): the simulator's admin endpoint for request
counts, the daemon's API for status, webhooks and sync requests.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
#: The sim's request-counter names of clients that are not the daemon.
CONTROLLERS = "fleet-sim-controllers"
KUBECTL = "kubectl"


def http(
    method: str,
    url: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 30.0,
) -> tuple[int, Any]:
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, raw.decode(errors="replace")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def child_env() -> dict[str, str]:
    """The environment without FLEET_* settings that would change what is measured."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLEET_")}
    env["NO_PROXY"] = "127.0.0.1,localhost"
    return env


@dataclass(frozen=True, slots=True)
class Usage:
    cpu_seconds: float
    rss_mib: float
    peak_rss_mib: float
    #: Open sockets (mostly TLS connections to the API servers, kept alive for reuse).
    sockets: int


def usage(pid: int) -> Usage:
    stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = sum(int(stat[i]) for i in (11, 12, 13, 14))  # utime stime cutime cstime
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    sockets = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            sockets += os.readlink(fd).startswith("socket:")
        except OSError:
            continue  # closed meanwhile
    return Usage(
        ticks / _CLOCK_TICKS,
        int(fields["VmRSS"].split()[0]) / 1024,
        int(fields["VmHWM"].split()[0]) / 1024,
        sockets,
    )


def _stop(process: subprocess.Popen[bytes], timeout: float) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            return process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
    return process.wait()


class Profiler:
    """``py-spy record`` of one process while a phase runs (collapsed stacks, for --profile)."""

    def __init__(self, pid: int, output: Path) -> None:
        self.output = output
        self.process: subprocess.Popen[bytes] | None = None
        if shutil.which("py-spy") is None and not (Path(sys.executable).parent / "py-spy").exists():
            raise RuntimeError("--profile needs py-spy: .venv/bin/pip install py-spy")
        spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        self.process = subprocess.Popen(
            [
                spy,
                "record",
                "--pid",
                str(pid),
                "--rate",
                "100",
                "--format",
                "raw",
                "--output",
                str(output),
                "--nonblocking",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(0.5)  # attached before the phase starts

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class SimProcess:
    """``fleet sim up`` in its own process: ``names`` (or ``sim-1``..``sim-N``)."""

    def __init__(
        self,
        directory: Path,
        clusters: int,
        ready_delay: float,
        names: list[str] | None = None,
        log: Path | None = None,
    ) -> None:
        self.directory = directory
        self.names = names or [f"sim-{i}" for i in range(1, clusters + 1)]
        self.clusters = len(self.names)
        self.log = log or directory.parent / "sim.log"
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "fleet",
                    "sim",
                    "up",
                    "--names",
                    ",".join(self.names),
                    "--dir",
                    str(directory),
                    "--ready-delay",
                    str(ready_delay),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=child_env(),
            )
        self._admin: dict[str, str] = {}

    @property
    def pids(self) -> list[int]:
        return [self.process.pid]

    def wait_ready(self, patience: float) -> float:
        """Seconds until it serves (its log says so); raise if it dies or takes too long."""
        started = time.monotonic()
        while time.monotonic() - started < patience:
            if self.process.poll() is not None:
                raise RuntimeError(f"fleet sim up exited: see {self.log}")
            if b"press Ctrl-C" in self.log.read_bytes():
                self._admin = json.loads((self.directory / "admin.json").read_text())
                return time.monotonic() - started
            time.sleep(0.1)
        raise TimeoutError(f"fleet sim up did not start within {patience}s: see {self.log}")

    @property
    def kubeconfig(self) -> Path:
        return self.directory / "kubeconfig"

    def requests(self) -> dict[str, dict[str, dict[str, int]]]:
        """``{cluster: {client: {verb: count}}}`` so far."""
        headers = {"Authorization": f"Bearer {self._admin['token']}"}
        status, body = http("GET", f"{self._admin['url']}/requests", headers=headers)
        if status != 200:
            raise RuntimeError(f"sim admin endpoint: {status} {body}")
        return body  # type: ignore[no-any-return]

    def usage(self) -> Usage:
        return usage(self.process.pid)

    def stop(self) -> None:
        _stop(self.process, 20.0)


class ShardedSim:
    """The simulated clusters split over several ``fleet sim up`` processes.

    One Python process serves its clusters on one core; with more cores than that, a
    simulator in one process is the benchmark's floor rather than anything a client does.
    Clusters are dealt round-robin; the kubeconfigs are merged into one, request counts
    are joined (cluster names are disjoint) and CPU and memory are summed.
    """

    def __init__(self, directory: Path, clusters: int, ready_delay: float, shards: int) -> None:
        self.directory = directory
        self.names = [f"sim-{i}" for i in range(1, clusters + 1)]
        self.clusters = clusters
        self.log = directory.parent / "sim.log"
        count = max(1, min(shards, clusters))
        self.shards = [
            SimProcess(
                directory / f"shard-{index}",
                0,
                ready_delay,
                names=self.names[index::count],
                log=directory.parent / f"sim-{index}.log",
            )
            for index in range(count)
        ]

    @property
    def pids(self) -> list[int]:
        return [shard.process.pid for shard in self.shards]

    def wait_ready(self, patience: float) -> float:
        started = time.monotonic()
        for shard in self.shards:
            shard.wait_ready(max(1.0, patience - (time.monotonic() - started)))
        self._merge_kubeconfigs()
        return time.monotonic() - started

    def _merge_kubeconfigs(self) -> None:
        merged: dict[str, Any] = {"apiVersion": "v1", "kind": "Config", "preferences": {}}
        for section in ("clusters", "users", "contexts"):
            merged[section] = []
        for shard in self.shards:
            part = yaml.safe_load(shard.kubeconfig.read_text())
            for section in ("clusters", "users", "contexts"):
                merged[section] += part.get(section) or []
        merged["current-context"] = self.names[0]
        self.kubeconfig.write_text(yaml.safe_dump(merged, sort_keys=False))

    @property
    def kubeconfig(self) -> Path:
        return self.directory / "kubeconfig"

    def requests(self) -> dict[str, dict[str, dict[str, int]]]:
        joined: dict[str, dict[str, dict[str, int]]] = {}
        for shard in self.shards:
            joined.update(shard.requests())
        return joined

    def usage(self) -> Usage:
        parts = [shard.usage() for shard in self.shards]
        return Usage(
            sum(p.cpu_seconds for p in parts),
            sum(p.rss_mib for p in parts),
            sum(p.peak_rss_mib for p in parts),
            sum(p.sockets for p in parts),
        )

    def stop(self) -> None:
        for shard in self.shards:
            shard.stop()


def requests_by(
    before: dict[str, dict[str, dict[str, int]]],
    after: dict[str, dict[str, dict[str, int]]],
    clients: set[str] | None = None,
    exclude: set[str] = frozenset(),  # type: ignore[assignment]
) -> Counter[str]:
    """Requests by verb between two snapshots, summed over clusters and chosen clients."""
    total: Counter[str] = Counter()
    for cluster, by_client in after.items():
        for client, verbs in by_client.items():
            if client in exclude or (clients is not None and client not in clients):
                continue
            earlier = before.get(cluster, {}).get(client, {})
            for verb, count in verbs.items():
                total[verb] += count - earlier.get(verb, 0)
    return +total


class DaemonProcess:
    """``fleet run --config --settings`` in its own process, and its HTTP API."""

    def __init__(
        self,
        directory: Path,
        config: Path,
        extra_settings: dict[str, str] | None = None,
        memprobe: Path | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.token = secrets.token_urlsafe(24)
        self.webhook_secret = secrets.token_urlsafe(24).encode()
        token_file = directory / "api-token"
        token_file.write_text(self.token + "\n")
        secret_file = directory / "webhook-secret"
        secret_file.write_bytes(self.webhook_secret + b"\n")
        lines = {
            "state_dir": str(directory / "state"),
            "api_address": f"127.0.0.1:{self.port}",
            "api_token_file": str(token_file),
            "webhook_secret_file": str(secret_file),
            "log_format": "json",
            **(extra_settings or {}),
        }
        self.settings = directory / "settings.yaml"
        self.settings.write_text("".join(f"{k}: {v}\n" for k, v in lines.items()))
        self.log = directory / "daemon.log"
        #: Where ``bench.memprobe`` writes its dumps (None: the daemon runs without it).
        self.memprobe = memprobe
        # With the probe, fleet runs under ``bench.memprobe`` (same arguments after --).
        command = ["-m", "bench.memprobe", str(memprobe), "--"] if memprobe else ["-m", "fleet"]
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    *command,
                    "run",
                    "--config",
                    str(config),
                    "--settings",
                    str(self.settings),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**child_env(), **(env or {})},
            )

    def wait_ready(self, patience: float) -> None:
        deadline = time.monotonic() + patience
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"fleet run exited with {self.process.returncode}: {self.log}")
            try:
                status, _ = http("GET", f"{self.url}/readyz", timeout=2.0)
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"fleet run not ready within {patience}s: see {self.log}")

    def status(self) -> list[dict[str, Any]]:
        headers = {"Authorization": f"Bearer {self.token}"}  # reads need it too
        status, body = http("GET", f"{self.url}/api/v1/status", headers=headers)
        if status != 200:
            raise RuntimeError(f"GET /api/v1/status: {status} {body}")
        return body  # type: ignore[no-any-return]

    def push_webhook(self, repository: str, after: str = "") -> None:
        """A generic push webhook, signed as fleet checks it."""
        # A delivery id makes each body unique: a body already received is a replay.
        delivery = secrets.token_hex(8)
        body = json.dumps(
            {
                "repository": repository,
                "ref": "refs/heads/main",
                "after": after,
                "delivery": delivery,
            }
        ).encode()
        signature = hmac.new(self.webhook_secret, body, hashlib.sha256).hexdigest()
        headers = {"Content-Type": "application/json", "X-Fleet-Signature": f"sha256={signature}"}
        status, answer = http("POST", f"{self.url}/webhooks/generic", body, headers)
        if status != 202:
            raise RuntimeError(f"webhook refused: {status} {answer}")

    def sync(self, app: str) -> None:
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}
        status, answer = http("POST", f"{self.url}/api/v1/apps/{app}/sync", b"{}", headers)
        if status != 202:
            raise RuntimeError(f"sync refused: {status} {answer}")

    def usage(self) -> Usage:
        return usage(self.process.pid)

    def stop(self) -> int:
        return _stop(self.process, 40.0)
