"""The push-style baseline: ``kubectl apply --server-side`` per cluster, no GitOps tool.

What people script without a GitOps tool: for each cluster, apply the directory of
manifests, then ``kubectl rollout status`` until its Deployments are rolled out. Run
one cluster after another, and with a pool of 8 at once. Both runs change what is
already there (as the daemon's run does), so every Deployment rolls out new pods.
"""

from __future__ import annotations

import resource
import shutil
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

PARALLEL = 8


def kubectl_missing() -> str | None:
    return None if shutil.which("kubectl") else "kubectl is not on PATH"


@dataclass(frozen=True, slots=True)
class BaselineRun:
    seconds: float
    kubectl_cpu_seconds: float
    failures: list[str]


class KubectlBaseline:
    def __init__(
        self,
        kubeconfig: Path,
        cache_dir: Path,
        namespace: str,
        timeout: float,
        rollouts: bool = True,
    ) -> None:
        self.kubeconfig = kubeconfig
        self.cache_dir = cache_dir
        self.namespace = namespace
        self.timeout = timeout
        #: False when there is no Deployment to wait for.
        self.rollouts = rollouts

    def _kubectl(self, cluster: str, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                "kubectl",
                "--kubeconfig",
                str(self.kubeconfig),
                "--context",
                cluster,
                "--cache-dir",
                str(self.cache_dir),
                *args,
            ],
            capture_output=True,
            text=True,
            timeout=self.timeout + 30,
        )

    def deploy(self, cluster: str, manifests: Path) -> str | None:
        """Apply, then wait for every Deployment; an error message, or None."""
        applied = self._kubectl(cluster, "apply", "--server-side", "-f", str(manifests))
        if applied.returncode != 0:
            return f"{cluster}: apply: {applied.stderr.strip()[:300]}"
        if not self.rollouts:
            return None
        rolled = self._kubectl(
            cluster,
            "-n",
            self.namespace,
            "rollout",
            "status",
            "deployment",
            "-l",
            "bench=yes",
            f"--timeout={int(self.timeout)}s",
        )
        if rolled.returncode != 0:
            return f"{cluster}: rollout status: {rolled.stderr.strip()[:300]}"
        return None

    def run(self, clusters: list[str], manifests: Path, parallel: int) -> BaselineRun:
        """Deploy ``manifests`` to every cluster, ``parallel`` at a time."""
        cpu_before = _children_cpu()
        started = time.monotonic()
        if parallel <= 1:
            results = [self.deploy(c, manifests) for c in clusters]
        else:
            with ThreadPoolExecutor(parallel) as pool:
                results = list(pool.map(lambda c: self.deploy(c, manifests), clusters))
        seconds = time.monotonic() - started
        return BaselineRun(seconds, _children_cpu() - cpu_before, [r for r in results if r])


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime
