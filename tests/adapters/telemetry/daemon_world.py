"""A real daemon, in-process, on simulated clusters and a real Git server, for telemetry tests.

The daemon runs in the test's event loop (as ``fleet demo`` runs it), so a test can read
its telemetry objects directly while everything it exports still goes over real sockets:
the Git source is ``git http-backend`` behind basic auth (so a credential exists that must
never show up in a trace), the clusters are :class:`fleet.sim.SimFleet` API servers, and
``/metrics`` is scraped through the daemon's own HTTP API.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import anyio
import yaml

from fleet.config import Settings
from fleet.config.settings import OtelSettings
from fleet.runtime.daemon import Daemon
from fleet.sim import SimFleet
from tests.e2e.daemon_support import GitSource, eventually, git_source, seed_app
from tests.support.gitservers import free_port

NAMESPACE = "web"
#: A Secret the app deploys: its value must never appear in a trace or a metric.
SECRET_VALUE = "s3cr3t-" + secrets.token_hex(6)
SECRET_YAML = f"""\
apiVersion: v1
kind: Secret
metadata:
  name: web-credentials
  namespace: {NAMESPACE}
stringData:
  password: {SECRET_VALUE}
"""


def app_files() -> dict[str, str]:
    """The seed's web app with a Secret added to its base."""
    files = seed_app(NAMESPACE)
    kustomization = yaml.safe_load(files["apps/web/base/kustomization.yaml"])
    kustomization["resources"].append("secret.yaml")
    files["apps/web/base/kustomization.yaml"] = yaml.safe_dump(kustomization, sort_keys=False)
    files["apps/web/base/secret.yaml"] = SECRET_YAML
    return files


def failing_migration() -> dict[str, str]:
    """A commit whose PreSync migration Job fails (the simulator's failing image).

    It changes the ConfigMap too: a commit that changes only hooks has nothing to apply.
    """
    seed = seed_app(NAMESPACE)
    job = seed["apps/web/base/migrate-job.yaml"]
    config = seed["apps/web/base/configmap.yaml"]
    return {
        "apps/web/base/migrate-job.yaml": job.replace("web-migrate:1.0.0", "fail:1.0.0"),
        "apps/web/base/configmap.yaml": config.replace("LOG_LEVEL: info", "LOG_LEVEL: debug"),
    }


@dataclass
class DaemonWorld:
    daemon: Daemon
    sim: SimFleet
    source: GitSource
    clusters: Sequence[str]
    port: int
    password: str
    token: str
    seed_sha: str

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def commit(self, message: str, changes: Mapping[str, str | None]) -> str:
        return await self.source.commit(message, changes)

    async def converged(self, revision: str, clusters: Sequence[str] | None = None) -> None:
        wanted = set(clusters or self.clusters)

        async def done() -> bool:
            rows = {r["cluster"]: r for r in await self.daemon.status()}
            return all(
                c in rows
                and rows[c]["revision"] == revision
                and rows[c]["sync"] == "Synced"
                and rows[c]["health"] == "Healthy"
                and not rows[c]["operation"]
                for c in wanted
            )

        await eventually(done, timeout=60, what=f"{revision[:8]} synced on {sorted(wanted)}")

    async def finished_sync(
        self, cluster: str, revision: str, *, result: str, after: int = 0, trigger: str = ""
    ) -> dict[str, Any]:
        async def found() -> dict[str, Any] | None:
            for row in await self.daemon.history("web", cluster, 50, None):
                if (
                    row["id"] > after
                    and row["revision"] == revision
                    and row["result"] == result
                    and (not trigger or row["trigger"] == trigger)
                ):
                    return dict(row)
            return None

        return await eventually(
            found, timeout=60, what=f"a {result} sync of {revision[:8]} on {cluster}"
        )

    async def scrape(self) -> str:
        async with (
            aiohttp.ClientSession(trust_env=False) as session,
            session.get(
                self.url + "/metrics", headers={"Authorization": f"Bearer {self.token}"}
            ) as response,
        ):
            assert response.status == 200
            assert response.headers["Content-Type"].startswith("text/plain")
            return await response.text()


@asynccontextmanager
async def daemon_world(
    directory: Path,
    *,
    clusters: Sequence[str] = ("dev", "prod"),
    otel: OtelSettings | None = None,
    waves: bool = True,
) -> AsyncIterator[DaemonWorld]:
    """Clusters, a served Git repository with the app, and a running daemon."""
    async with AsyncExitStack() as stack:
        source = stack.enter_context(git_source(directory / "git", "http"))
        password = (directory / "git" / "git-password").read_text()
        seed_sha = await source.commit("seed: web app", app_files())
        sim = await stack.enter_async_context(
            SimFleet.start(
                directory / "sim",
                names=list(clusters),
                labels={name: {"env": name} for name in clusters},
                ready_delay=0.1,
            )
        )
        config: dict[str, Any] = {
            "clusters": [
                {
                    "name": name,
                    "kubeconfig": str(sim.kubeconfig_path),
                    "context": name,
                    "labels": {"env": name},
                }
                for name in clusters
            ],
            "sources": [
                {
                    "name": "platform",
                    "url": source.url,
                    "branch": "main",
                    "interval": "1s",
                    "auth": source.auth,
                }
            ],
            "apps": [
                {
                    "name": "web",
                    "source": "platform",
                    "path": "apps/web/overlays/{cluster.labels.env}",
                    "namespace": NAMESPACE,
                    "syncPolicy": {"automated": True, "prune": True, "selfHeal": True},
                }
            ],
        }
        if waves:
            config["rollout"] = {
                "waves": [
                    {"name": name, "selector": {"matchLabels": {"env": name}}} for name in clusters
                ]
            }
        config_path = directory / "fleet.yaml"
        config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        token = secrets.token_hex(16)
        (directory / "api-token").write_text(token + "\n")
        (directory / "api-token").chmod(0o600)
        port = free_port()
        options: dict[str, Any] = {}
        if otel is not None:
            options["otel"] = otel
        settings = Settings(
            state_dir=directory / "state",
            api_address=f"127.0.0.1:{port}",
            api_token_file=directory / "api-token",
            **options,
        )
        daemon = Daemon(settings, config_path)
        tasks = await stack.enter_async_context(anyio.create_task_group())
        tasks.start_soon(daemon.run)

        async def ready() -> bool:
            return daemon.ready()[0]

        await eventually(ready, timeout=30, what="daemon ready")
        world = DaemonWorld(daemon, sim, source, clusters, port, password, token, seed_sha)
        try:
            yield world
        finally:
            with anyio.CancelScope(shield=True), anyio.move_on_after(30):
                await daemon.stop()
            tasks.cancel_scope.cancel()


def parse_metrics(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Samples of a Prometheus text page: (name, labels) -> value."""
    from prometheus_client.parser import text_string_to_metric_families

    samples: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def sample(
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def total(
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    """Sum over the samples of ``name`` whose labels include ``labels``."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= ls)
