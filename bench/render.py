"""Render cost: a Kustomize overlay and a Helm chart, cold and cached, and one overlay for
a hundred clusters (which must cost about one render, not a hundred).

Run: ``.venv/bin/python -m bench.render``. "Cold" is a renderer with an empty cache (the
tool itself already loaded, as in a running daemon); "cached" is the same request again,
hashing the inputs to find the key ("self-hashed") or with a root content key from Git
("content key"). Figures are medians. Renders run in render processes (a warm pool, as
in a running daemon); CPU figures add their CPU time to this process's.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import textwrap
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio

from fleet.adapters.render import HelmOptions, Renderer, RenderRequest, find_backend
from fleet.adapters.render.isolation import shared_pool

FILES = {
    "apps/web/base/kustomization.yaml": """
        resources: [deployment.yaml, service.yaml, configmap.yaml]
        labels: [{pairs: {app: web}}]
    """,
    "apps/web/base/deployment.yaml": """
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: web}
        spec:
          replicas: 1
          selector: {matchLabels: {app: web}}
          template:
            metadata: {labels: {app: web}}
            spec:
              containers:
                - name: web
                  image: nginx:1.27
                  resources: {limits: {cpu: 100m, memory: 64Mi}}
    """,
    "apps/web/base/service.yaml": """
        apiVersion: v1
        kind: Service
        metadata: {name: web}
        spec: {selector: {app: web}, ports: [{port: 80}]}
    """,
    "apps/web/base/configmap.yaml": """
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: web-config}
        data: {LOG_LEVEL: info}
    """,
    "apps/web/overlays/prod/kustomization.yaml": """
        resources: [../../base]
        namePrefix: prod-
        patches:
          - target: {kind: Deployment, name: web}
            patch: |-
              - {op: replace, path: /spec/replicas, value: 5}
        configMapGenerator:
          - name: settings
            literals: [ENV=prod]
    """,
    "apps/api/chart/Chart.yaml": "apiVersion: v2\nname: api\nversion: 0.1.0\n",
    "apps/api/chart/values.yaml": "replicas: 1\nimage: {repository: api, tag: '1.0'}\n",
    "apps/api/chart/templates/deployment.yaml": """
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: {{ .Release.Name }}-api}
        spec:
          replicas: {{ .Values.replicas }}
          template:
            spec:
              containers:
                - name: api
                  image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"
        ---
        apiVersion: v1
        kind: Service
        metadata: {name: {{ .Release.Name }}-api}
        spec: {ports: [{port: 80}]}
    """,
    "apps/api/chart/templates/migrate.yaml": """
        apiVersion: batch/v1
        kind: Job
        metadata:
          name: {{ .Release.Name }}-migrate
          annotations: {helm.sh/hook: pre-install}
        spec:
          template:
            spec:
              restartPolicy: Never
              containers: [{name: m, image: "api:{{ .Values.image.tag }}"}]
    """,
    "apps/api/values/prod.yaml": "replicas: 4\n",
}

OVERLAY = "apps/web/overlays/prod"
CHART = "apps/api/chart"
HELM = HelmOptions(values_files=["apps/api/values/prod.yaml"], release_name="api")


def lay_out(root: Path) -> None:
    for rel, text in FILES.items():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(textwrap.dedent(text).lstrip("\n"))


async def median_ms(action: Callable[[], Awaitable[object]], runs: int) -> float:
    timings = []
    for _ in range(runs):
        start = time.perf_counter()
        await action()
        timings.append((time.perf_counter() - start) * 1000)
    return statistics.median(timings)


async def cold_and_cached(root: Path, request: RenderRequest, backend: str = "auto") -> str:
    async def cold() -> object:
        return await Renderer(kustomize_backend=backend).render(request)  # type: ignore[arg-type]

    warm = Renderer(kustomize_backend=backend)  # type: ignore[arg-type]
    await warm.render(request)
    keyed = RenderRequest(
        root, request.path, request.renderer, request.namespace, request.helm, "root-tree"
    )
    await warm.render(keyed)
    cold_ms = await median_ms(cold, 15)
    hashed_ms = await median_ms(lambda: warm.render(request), 200)
    keyed_ms = await median_ms(lambda: warm.render(keyed), 200)
    return (
        f"cold {cold_ms:7.2f} ms | cached, self-hashed {hashed_ms:6.3f} ms"
        f" | cached, content key {keyed_ms:6.3f} ms"
    )


def cpu_seconds() -> float:
    """CPU time of this process and of the (idle) render processes of the shared pool."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = time.process_time()
    for worker in shared_pool()._idle:
        fields = (Path("/proc") / str(worker.process.pid) / "stat").read_text().rsplit(")", 1)[1]
        user, system = fields.split()[11:13]
        total += (int(user) + int(system)) / ticks
    return total


async def fleet_of(root: Path, clusters: int, content_key: str | None) -> tuple[float, float, int]:
    """Wall and CPU time (ms) for ``clusters`` concurrent renders of one overlay by a
    renderer with an empty cache, and how many renders it actually ran."""
    renderer = Renderer()
    request = RenderRequest(root, OVERLAY, namespace="web", content_key=content_key)
    wall, cpu = time.perf_counter(), cpu_seconds()
    async with anyio.create_task_group() as group:
        for _ in range(clusters):
            group.start_soon(renderer.render, request)
    wall, cpu = time.perf_counter() - wall, cpu_seconds() - cpu
    return wall * 1000, cpu * 1000, renderer.cache.stats.misses


async def main() -> None:
    with tempfile.TemporaryDirectory(prefix="fleet-bench-render-") as directory:
        root = Path(directory)
        lay_out(root)
        kustomize = RenderRequest(root, OVERLAY, namespace="web")
        helm = RenderRequest(root, CHART, namespace="api", helm=HELM)
        await Renderer().render(helm)  # load the Helm library once, as a daemon would
        print("render benchmark (medians)")
        backends = ["pykustomize", "kubectl"]
        for backend in backends:
            try:
                find_backend(backend)  # type: ignore[arg-type]
            except Exception:
                print(f"  kustomize overlay via {backend:11}: not installed")
                continue
            figures = await cold_and_cached(root, kustomize, backend)
            print(f"  kustomize overlay via {backend:11}: {figures}")
        print(f"  helm chart (helm-python)           : {await cold_and_cached(root, helm)}")
        print("  one overlay for N clusters at once, empty cache (wall / CPU):")
        for key in (None, "root-tree"):
            by_size: dict[int, tuple[float, float, int]] = {}
            for clusters in (1, 100):
                runs = [await fleet_of(root, clusters, key) for _ in range(9)]
                wall = statistics.median(run[0] for run in runs)
                cpu = statistics.median(run[1] for run in runs)
                by_size[clusters] = (wall, cpu, max(run[2] for run in runs))
            (wall1, cpu1, _), (wall100, cpu100, renders) = by_size[1], by_size[100]
            mode = "content key" if key else "self-hashed"
            print(
                f"    {mode:11}: 1 cluster {wall1:6.2f} / {cpu1:6.2f} ms"
                f" | 100 clusters {wall100:6.2f} / {cpu100:6.2f} ms, {renders} render(s)"
                f" | CPU ratio {cpu100 / cpu1:4.2f}x"
            )


if __name__ == "__main__":
    anyio.run(main)
