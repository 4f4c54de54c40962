"""One end-to-end test's world: clusters, a Git server serving the app, daemons to run.

:func:`world` commits the demo's ``apps/web`` (base, dev/staging/prod overlays, a PreSync
migration Job and a PostSync smoke test) into a namespace of the test's own, so tests can
run side by side and against real clusters, pushes it to a bare repository that a real
Git server on loopback serves (``git daemon``, or ``git http-backend`` with basic auth),
and starts :class:`~tests.e2e.daemon_process.FleetDaemon` processes on request. Test
code reads the clusters through :class:`Kube` (kubernetes_asyncio's typed APIs), never
through fleet's own client. When the test body ends, every daemon is stopped and its log
is checked for internal errors (a bug caught by the daemon itself must fail the test).
"""

from __future__ import annotations

import contextlib
import re
import secrets
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import yaml

from fleet.model.tracking import PREFIX as FLEET_PREFIX
from tests.e2e.conftest import ClusterHandle
from tests.e2e.daemon_process import JSON, FleetDaemon, NotYet, eventually
from tests.support.gitrepos import WorkRepo, git, init_bare
from tests.support.gitservers import GitDaemon, GitHttpServer

__all__ = [
    "ENVIRONMENTS",
    "JSON",
    "REPLICAS",
    "FleetDaemon",
    "GitSource",
    "Kube",
    "Milestones",
    "NotYet",
    "World",
    "by_cluster",
    "edit_yaml",
    "eventually",
    "seed_app",
    "world",
]

REPO_ROOT = Path(__file__).resolve().parents[2]
SEED = REPO_ROOT / "fleet" / "runtime" / "seed"
ENVIRONMENTS = ("dev", "staging", "prod")
#: Replicas of web per environment, as the seed's overlays set them.
REPLICAS = {"dev": 1, "staging": 2, "prod": 3}


# -- the app ---------------------------------------------------------------------------


def seed_app(namespace: str) -> dict[str, str]:
    """The seed's ``apps/web`` files, moved into ``namespace``: {path in repo: text}."""
    files: dict[str, str] = {}
    for path in sorted((SEED / "apps" / "web").rglob("*.yaml")):
        text = path.read_text()
        text = re.sub(r"(?m)^(\s*namespace:) web$", rf"\1 {namespace}", text)
        if path.name == "namespace.yaml":
            text = re.sub(r"(?m)^(\s*name:) web$", rf"\1 {namespace}", text)
        files[str(path.relative_to(SEED))] = text
    return files


def edit_yaml(text: str, change: Callable[[JSON], None]) -> str:
    """Load one YAML document, let ``change`` edit it, dump it again."""
    doc = yaml.safe_load(text)
    change(doc)
    return yaml.safe_dump(doc, sort_keys=False)


# -- Git -------------------------------------------------------------------------------


@dataclass
class GitSource:
    """A working repository whose pushes a loopback Git server serves at ``url``."""

    work: WorkRepo
    url: str
    auth: JSON = field(default_factory=dict)

    async def commit(self, message: str, changes: Mapping[str, str | None]) -> str:
        """Write (or, for None, delete) files, commit, push; the new commit's SHA."""

        def run() -> str:
            for relative, text in changes.items():
                if text is None:
                    self.work.remove(relative)
                else:
                    self.work.write(relative, text)
            sha = self.work.commit(message)
            self.work.push()
            return sha

        return await anyio.to_thread.run_sync(run)

    async def revert(self, sha: str) -> str:
        def run() -> str:
            git(self.work.path, "revert", "--no-edit", sha)
            self.work.push()
            return self.work.head()

        return await anyio.to_thread.run_sync(run)

    def read(self, relative: str) -> str:
        return (self.work.path / relative).read_text()


@contextmanager
def git_source(directory: Path, transport: str = "git") -> Iterator[GitSource]:
    """A bare repository behind ``git daemon`` ("git") or ``git http-backend`` ("http")."""
    served = directory / "served"
    bare = init_bare(served / "platform.git")
    work = WorkRepo(directory / "work", bare)
    if transport == "git":
        with GitDaemon(served) as daemon:
            yield GitSource(work, daemon.url("platform.git"))
    elif transport == "http":
        username, password = "fleet", secrets.token_hex(8)
        (directory / "git-username").write_text(username)
        (directory / "git-password").write_text(password)
        (directory / "git-password").chmod(0o600)
        with GitHttpServer(served, username, password) as server:
            auth = {
                "usernameFile": str(directory / "git-username"),
                "passwordFile": str(directory / "git-password"),
                # The test server is plain http on loopback: nothing on the path to read it.
                "allowInsecureHttp": True,
            }
            yield GitSource(work, server.url("platform.git"), auth)
    else:
        raise ValueError(f"unknown transport {transport}")


# -- the fleet config ------------------------------------------------------------------


def fleet_name(context: str) -> str:
    """A valid fleet cluster name for a kubeconfig context (real ones can hold ':' or '/')."""
    return re.sub(r"[^a-z0-9.-]+", "-", context.lower()).strip("-.")[:63] or "cluster"


def cluster_entries(clusters: list[ClusterHandle]) -> list[JSON]:
    """Clusters labelled env=dev, staging, prod in turn."""
    return [
        {
            "name": fleet_name(handle.name),
            "kubeconfig": str(handle.kubeconfig),
            "context": handle.context,
            "labels": {"env": ENVIRONMENTS[index % len(ENVIRONMENTS)]},
        }
        for index, handle in enumerate(clusters)
    ]


def fleet_config(
    clusters: list[ClusterHandle],
    source: GitSource,
    namespace: str,
    *,
    sync_policy: Mapping[str, Any] | None = None,
    interval: str = "1s",
    **app_extra: Any,
) -> JSON:
    source_entry: JSON = {"name": "platform", "url": source.url, "branch": "main"}
    source_entry["interval"] = interval
    if source.auth:
        source_entry["auth"] = source.auth
    policy = {"automated": True, "prune": True, "selfHeal": True}
    policy.update(sync_policy or {})
    app: JSON = {
        "name": "web",
        "source": "platform",
        "path": "apps/web/overlays/{cluster.labels.env}",
        "namespace": namespace,
        "syncPolicy": policy,
    }
    app.update(app_extra)
    return {"clusters": cluster_entries(clusters), "sources": [source_entry], "apps": [app]}


# -- kube reads, independent of fleet's own client --------------------------------------


class Kube:
    """Reads and writes one cluster with kubernetes_asyncio's typed APIs, as dicts."""

    def __init__(self, handle: ClusterHandle, api: Any) -> None:
        from kubernetes_asyncio import client

        self.handle = handle
        self.api = api
        self.core = client.CoreV1Api(api)
        self.apps = client.AppsV1Api(api)
        self.batch = client.BatchV1Api(api)

    def _dict(self, obj: Any) -> JSON:
        result: JSON = self.api.sanitize_for_serialization(obj)
        return result

    async def _maybe(self, call: Awaitable[Any]) -> JSON | None:
        from kubernetes_asyncio.client.exceptions import ApiException

        try:
            return self._dict(await call)
        except ApiException as error:
            if error.status == 404:
                return None
            raise

    async def deployment(self, namespace: str, name: str) -> JSON | None:
        return await self._maybe(self.apps.read_namespaced_deployment(name, namespace))

    async def config_map(self, namespace: str, name: str) -> JSON | None:
        return await self._maybe(self.core.read_namespaced_config_map(name, namespace))

    async def service(self, namespace: str, name: str) -> JSON | None:
        return await self._maybe(self.core.read_namespaced_service(name, namespace))

    async def job(self, namespace: str, name: str) -> JSON | None:
        return await self._maybe(self.batch.read_namespaced_job(name, namespace))

    async def namespace(self, name: str) -> JSON | None:
        return await self._maybe(self.core.read_namespace(name))

    async def scale(self, namespace: str, name: str, replicas: int) -> None:
        await self.apps.patch_namespaced_deployment_scale(
            name, namespace, {"spec": {"replicas": replicas}}
        )

    async def patch_config_map(self, namespace: str, name: str, data: Mapping[str, str]) -> None:
        await self.core.patch_namespaced_config_map(name, namespace, {"data": dict(data)})

    async def delete_namespace(self, name: str) -> None:
        """Delete a namespace of the test's, first freeing its objects of fleet's
        finalizers: a test that failed mid-sync must not leave it Terminating forever on
        a cluster the next test uses."""
        from kubernetes_asyncio.client.exceptions import ApiException

        with contextlib.suppress(ApiException):
            await self.strip_fleet_finalizers(name)
        with contextlib.suppress(ApiException):
            await self.core.delete_namespace(name)

    async def _rest(self, method: str, path: str, body: Any = None) -> JSON:
        """One raw request (discovery and kinds the typed APIs do not cover)."""
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/merge-patch+json"
        answer: JSON = await self.api.call_api(
            path,
            method,
            header_params=headers,
            body=body,
            response_types_map={200: "object"},
            auth_settings=["BearerToken"],
            _return_http_data_only=True,
        )
        return answer

    async def _namespaced_collections(self) -> list[str]:
        """The API path of every namespaced kind the server lists and patches."""
        bases = ["/api/v1"]
        groups = await self._rest("GET", "/apis")
        for group in groups.get("groups") or []:
            preferred = (group.get("preferredVersion") or {}).get("groupVersion")
            if preferred:
                bases.append(f"/apis/{preferred}")
        out = []
        for base in bases:
            for resource in (await self._rest("GET", base)).get("resources") or []:
                verbs = set(resource.get("verbs") or ())
                collection = resource.get("namespaced") and "/" not in resource["name"]
                if collection and {"list", "patch"} <= verbs:
                    out.append(f"{base}/namespaces/{{namespace}}/{resource['name']}")
        return out

    async def strip_fleet_finalizers(self, namespace: str) -> list[str]:
        """Remove every ``fleet.dev/`` finalizer from the objects in ``namespace``, of
        every namespaced kind the server lists; the objects freed, as ``path/name``."""
        from kubernetes_asyncio.client.exceptions import ApiException

        freed: list[str] = []
        for collection in await self._namespaced_collections():
            path = collection.format(namespace=namespace)
            try:
                listed = await self._rest("GET", path)
            except ApiException:
                continue  # a kind this user may not list: nothing of ours can be in it
            for item in listed.get("items") or []:
                meta = item.get("metadata") or {}
                finalizers = list(meta.get("finalizers") or [])
                kept = [f for f in finalizers if not f.startswith(FLEET_PREFIX)]
                if kept == finalizers:
                    continue
                patch = {"metadata": {"finalizers": kept or None}}
                with contextlib.suppress(ApiException):
                    await self._rest("PATCH", f"{path}/{meta['name']}", patch)
                    freed.append(f"{path}/{meta['name']}")
        return freed


# -- one test's world ------------------------------------------------------------------


@dataclass
class World:
    """Clusters, a Git source with the seed app, a namespace, and daemons to start."""

    clusters: list[ClusterHandle]
    names: list[str]
    source: GitSource
    namespace: str
    directory: Path
    kubes: dict[str, Kube]
    stack: AsyncExitStack
    seed_sha: str = ""
    daemons: list[FleetDaemon] = field(default_factory=list)

    def config(self, **kwargs: Any) -> JSON:
        return fleet_config(self.clusters, self.source, self.namespace, **kwargs)

    def path(self, relative: str) -> str:
        """A file of the app in the repository (relative to apps/web)."""
        return f"apps/web/{relative}"

    def edited(self, relative: str, change: Callable[[JSON], None]) -> str:
        """The app's file (relative to apps/web) as committed, changed by ``change``."""
        return edit_yaml(self.source.read(self.path(relative)), change)

    def env_of(self, cluster: str) -> str:
        return ENVIRONMENTS[self.names.index(cluster) % len(ENVIRONMENTS)]

    async def daemon(self, config: JSON | None = None, **settings: Any) -> FleetDaemon:
        daemon = FleetDaemon(
            self.directory / f"daemon-{len(self.daemons) + 1}",
            config if config is not None else self.config(),
            **settings,
        )
        self.daemons.append(daemon)
        self.stack.push_async_callback(daemon.aclose)
        await daemon.start()
        return daemon

    async def commit(self, message: str, changes: Mapping[str, str | None]) -> str:
        return await self.source.commit(
            message,
            {self.path(k) if not k.startswith("apps/") else k: v for k, v in changes.items()},
        )


@asynccontextmanager
async def world(
    clusters: list[ClusterHandle],
    directory: Path,
    *,
    transport: str = "git",
    files: Mapping[str, str | None] | None = None,
) -> AsyncIterator[World]:
    """The seed app committed to a served repository; namespaces cleaned up after."""
    namespace = f"web-{uuid.uuid4().hex[:6]}"
    async with AsyncExitStack() as stack:
        source = stack.enter_context(git_source(directory / "git", transport))
        kubes: dict[str, Kube] = {}
        names = [fleet_name(h.name) for h in clusters]
        for handle, name in zip(clusters, names, strict=True):
            api = await stack.enter_async_context(await handle.api_client())
            kube = Kube(handle, api)
            kubes[name] = kube
            if handle.sim is None:
                stack.push_async_callback(kube.delete_namespace, namespace)
        scenario = World(clusters, names, source, namespace, directory, kubes, stack)
        seed = {**seed_app(namespace), **{scenario.path(k): v for k, v in (files or {}).items()}}
        scenario.seed_sha = await source.commit("seed: web app", seed)
        yield scenario
        for daemon in scenario.daemons:
            await daemon.stop()
            errors = daemon.internal_errors()
            assert not errors, "the daemon hit internal errors:\n" + "\n".join(errors[:20])


def by_cluster(rows: list[JSON]) -> dict[str, list[JSON]]:
    out: dict[str, list[JSON]] = {}
    for row in rows:
        out.setdefault(row["cluster"], []).append(row)
    return out


# -- watching the order things happen in ----------------------------------------------


def _condition(obj: JSON | None, kind: str) -> bool:
    conditions = ((obj or {}).get("status") or {}).get("conditions") or []
    return any(c.get("type") == kind and c.get("status") == "True" for c in conditions)


def deployment_healthy(obj: JSON | None) -> bool:
    if obj is None:
        return False
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    replicas = spec.get("replicas", 1)
    return bool(
        status.get("observedGeneration", 0) >= obj["metadata"].get("generation", 1)
        and status.get("updatedReplicas", 0) == replicas
        and status.get("availableReplicas", 0) == replicas
        and status.get("replicas", 0) == replicas
    )


class Milestones:
    """When each step of the seed app's sync was first seen on one cluster (test clock).

    Polls the objects in the reverse of the order they should appear, so that a step
    seen in one round is never recorded later than a step it must follow.
    """

    def __init__(self, kube: Kube, namespace: str) -> None:
        self.kube = kube
        self.namespace = namespace
        self.seen: dict[str, float] = {}

    def _mark(self, name: str, now: float) -> None:
        self.seen.setdefault(name, now)

    async def run(self, interval: float = 0.05) -> None:
        ns, kube = self.namespace, self.kube
        while True:
            now = anyio.current_time()
            if await kube.job(ns, "web-smoke-test") is not None:
                self._mark("smoke_created", now)
            if await kube.service(ns, "web") is not None:
                self._mark("service_created", now)
            deployment = await kube.deployment(ns, "web")
            if deployment is not None:
                self._mark("deployment_created", now)
            if deployment_healthy(deployment):
                self._mark("deployment_healthy", now)
            if await kube.config_map(ns, "web-config") is not None:
                self._mark("configmap_created", now)
            migrate = await kube.job(ns, "web-migrate")
            if migrate is not None:
                self._mark("migrate_created", now)
            if _condition(migrate, "Complete"):
                self._mark("migrate_complete", now)
            await anyio.sleep(interval)

    def before(self, first: str, second: str) -> bool:
        return first in self.seen and second in self.seen and self.seen[first] <= self.seen[second]
