"""The daemon as a user runs it, for end-to-end tests: a process, a Git server, clusters.

:class:`FleetDaemon` starts ``python -m fleet run`` as a real subprocess (so SIGTERM,
SIGHUP and SIGKILL are real), with a fleet config and settings written for the test, and
talks to it over its HTTP API on loopback. :class:`GitSource` is a working repository
pushed to a bare one that a real Git server on loopback serves (``git daemon`` or
``git http-backend`` with basic auth). :func:`seed_app` writes the demo's ``apps/web``
(base, dev/staging/prod overlays, PreSync and PostSync Jobs) into a namespace of the
test's own, so tests can run side by side, and against real clusters.

Everything waits by polling with a deadline (:func:`eventually`); nothing sleeps longer
than it must. The waiting helpers take a ``timeout`` (ruff's ASYNC109 is silenced for
them): they poll and, on expiry, say what they waited for and what they saw last, which a
bare ``fail_after`` cannot.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import anyio
import yaml
from anyio.abc import Process

from tests.e2e.conftest import ClusterHandle
from tests.support.gitrepos import WorkRepo, git, init_bare
from tests.support.gitservers import GitDaemon, GitHttpServer, free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
SEED = REPO_ROOT / "fleet" / "runtime" / "seed"
ENVIRONMENTS = ("dev", "staging", "prod")
#: Replicas of web per environment, as the seed's overlays set them.
REPLICAS = {"dev": 1, "staging": 2, "prod": 3}

T = TypeVar("T")
#: What the daemon logs when it catches a bug in itself (as opposed to bad input).
INTERNAL_ERRORS = ("reconcile failed", "internal error", "failed; trying again", "Traceback")
JSON = dict[str, Any]


# -- waiting ---------------------------------------------------------------------------


class NotYet(AssertionError):
    """Raised by :func:`eventually` when the condition never held."""


async def eventually(
    probe: Callable[[], Awaitable[T | None]],
    *,
    timeout: float,  # noqa: ASYNC109
    what: str,
    interval: float = 0.1,
    explain: Callable[[], str] | None = None,
) -> T:
    """Call ``probe`` until it returns something truthy; fail after ``timeout`` seconds."""
    last: T | None = None
    with anyio.move_on_after(timeout):
        while True:
            last = await probe()
            if last:
                return last
            await anyio.sleep(interval)
    extra = f"\n{explain()}" if explain is not None else ""
    raise NotYet(f"after {timeout}s still not: {what}\nlast seen: {last!r}{extra}")


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


def annotate(text: str, **annotations: str) -> str:
    def change(doc: JSON) -> None:
        doc.setdefault("metadata", {}).setdefault("annotations", {}).update(annotations)

    return edit_yaml(text, change)


def kustomize_resources(text: str, resources: list[str]) -> str:
    def change(doc: JSON) -> None:
        doc["resources"] = resources

    return edit_yaml(text, change)


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


# -- the daemon ------------------------------------------------------------------------


class ApiAnswer:
    def __init__(self, status: int, body: Any) -> None:
        self.status = status
        self.body = body

    def __repr__(self) -> str:
        return f"ApiAnswer({self.status}, {self.body!r})"


class FleetDaemon:
    """``fleet run`` in a subprocess, with its files in ``directory``."""

    def __init__(self, directory: Path, config: JSON, **settings: Any) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.config_path = directory / "fleet.yaml"
        self.settings_path = directory / "settings.yaml"
        self.state_dir = directory / "state"
        self.log_path = directory / "daemon.log"
        self.token = secrets.token_hex(16)
        self.webhook_secret = secrets.token_hex(16)
        (directory / "api-token").write_text(self.token + "\n")
        (directory / "webhook-secret").write_text(self.webhook_secret + "\n")
        for name in ("api-token", "webhook-secret"):
            (directory / name).chmod(0o600)
        self.port = free_port()
        self.settings: JSON = {
            "state_dir": str(self.state_dir),
            "api_address": f"127.0.0.1:{self.port}",
            "api_token_file": str(directory / "api-token"),
            "webhook_secret_file": str(directory / "webhook-secret"),
            "poll_interval": "1s",
            "log_format": "json",
            "shutdown_timeout": "10s",
        }
        self.settings.update(settings)
        self.write_config(config)
        self.settings_path.write_text(yaml.safe_dump(self.settings))
        self.process: Process | None = None
        self._log: Any = None
        self._session: aiohttp.ClientSession | None = None
        self.starts = 0

    # -- files -------------------------------------------------------------------------

    def write_config(self, config: JSON | str) -> None:
        self.config = config
        text = config if isinstance(config, str) else yaml.safe_dump(config, sort_keys=False)
        self.config_path.write_text(text)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_records(self) -> list[JSON]:
        records = []
        for line in self.log_text().splitlines():
            with contextlib.suppress(ValueError):
                record = json.loads(line)
                if isinstance(record, dict):
                    records.append(record)
        return records

    def internal_errors(self) -> list[str]:
        """Log lines that show a bug rather than bad input: anything not logged as JSON
        (a traceback on stderr), and errors the daemon caught from its own code."""
        found = []
        for line in self.log_text().splitlines():
            if line.startswith("--- start") or not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError:
                found.append(line)
                continue
            message = str(record.get("message", "")) if isinstance(record, dict) else line
            if any(mark in message for mark in INTERNAL_ERRORS):
                found.append(line)
        return found

    def log_tail(self, lines: int = 40) -> str:
        return "daemon log (tail):\n" + "\n".join(self.log_text().splitlines()[-lines:])

    # -- process -----------------------------------------------------------------------

    async def start(self, *, wait_ready: bool = True) -> None:
        assert self.process is None or self.process.returncode is not None
        self._log = self.log_path.open("ab")
        self._log.write(f"--- start {self.starts + 1}\n".encode())
        self._log.flush()
        env = {**os.environ, "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1"}
        self.process = await anyio.open_process(
            [
                sys.executable,
                "-m",
                "fleet",
                "run",
                "--config",
                str(self.config_path),
                "--settings",
                str(self.settings_path),
            ],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=self._log,
            env=env,
            cwd=str(self.directory),
        )
        self.starts += 1
        if wait_ready:
            await self.wait_ready()

    async def wait_ready(self, timeout: float = 30.0) -> None:  # noqa: ASYNC109
        async def ready() -> bool:
            self._check_alive()
            answer = await self.request("GET", "/readyz", expect=None)
            return answer.status == 200

        await eventually(ready, timeout=timeout, what="daemon ready", explain=self.log_tail)

    def _check_alive(self) -> None:
        assert self.process is not None
        if self.process.returncode is not None:
            raise AssertionError(
                f"the daemon exited with {self.process.returncode}\n{self.log_tail()}"
            )

    def send(self, signum: signal.Signals) -> None:
        assert self.process is not None
        self.process.send_signal(signum)

    async def wait_exit(self, timeout: float) -> int:  # noqa: ASYNC109
        assert self.process is not None
        with anyio.fail_after(timeout):
            code = await self.process.wait()
        await self._closed()
        return code

    async def stop(self, timeout: float = 15.0) -> int | None:  # noqa: ASYNC109
        """SIGTERM, then SIGKILL if it does not end in time; its exit code."""
        if self.process is None:
            return None
        if self.process.returncode is None:
            self.process.terminate()
            try:
                with anyio.fail_after(timeout):
                    await self.process.wait()
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        await self._closed()
        return self.process.returncode

    async def kill(self) -> None:
        """kill -9."""
        assert self.process is not None
        self.process.kill()
        await self.process.wait()
        await self._closed()

    async def _closed(self) -> None:
        assert self.process is not None
        await self.process.aclose()
        if self._log is not None:
            self._log.close()
            self._log = None

    async def aclose(self) -> None:
        await self.stop()
        if self._session is not None:
            await self._session.close()
            self._session = None

    # -- HTTP --------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        data: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        expect: int | None = 200,
    ) -> ApiAnswer:
        """One request; with ``expect`` None, any answer (a refused connection: status 0)."""
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=30), trust_env=False
            )
        query = {k: str(v) for k, v in (params or {}).items() if v is not None}
        try:
            async with self._session.request(
                method, self.url + path, params=query, json=body, data=data, headers=headers
            ) as response:
                text = await response.text()
                try:
                    parsed: Any = json.loads(text)
                except ValueError:
                    parsed = text
                answer = ApiAnswer(response.status, parsed)
        except aiohttp.ClientConnectionError as error:
            if expect is None:
                return ApiAnswer(0, str(error))
            raise
        if expect is not None and answer.status != expect:
            raise AssertionError(f"{method} {path}: expected {expect}, got {answer}")
        return answer

    async def get(self, path: str, **params: Any) -> Any:
        return (await self.request("GET", path, params=params)).body

    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def sync(self, app: str = "web", expect: int = 202, **body: Any) -> Any:
        answer = await self.request(
            "POST", f"/api/v1/apps/{app}/sync", body=body, headers=self.auth(), expect=expect
        )
        return answer.body

    async def push_webhook(self, repository: str = "", secret: str | None = None) -> ApiAnswer:
        """fleet's generic push webhook, signed with the daemon's secret (or ``secret``)."""
        payload = json.dumps({"repository": repository, "ref": "refs/heads/main"}).encode()
        key = (secret if secret is not None else self.webhook_secret).encode()
        signature = hmac.new(key, payload, hashlib.sha256).hexdigest()
        return await self.request(
            "POST",
            "/webhooks/generic",
            data=payload,
            headers={
                "X-Fleet-Signature": f"sha256={signature}",
                "Content-Type": "application/json",
            },
            expect=None,
        )

    # -- reading state -----------------------------------------------------------------

    async def status(self) -> list[JSON]:
        result: list[JSON] = await self.get("/api/v1/status")
        return result

    async def status_of(self, cluster: str, app: str = "web") -> JSON:
        for row in await self.status():
            if row["app"] == app and row["cluster"] == cluster:
                return row
        raise AssertionError(f"no status row for {app} on {cluster}")

    async def history(self, **params: Any) -> list[JSON]:
        params.setdefault("limit", 200)
        result: list[JSON] = await self.get("/api/v1/history", **params)
        return result

    async def detail(self, sync_id: int) -> JSON:
        result: JSON = await self.get(f"/api/v1/history/{sync_id}")
        return result

    async def events(self, **params: Any) -> list[JSON]:
        params.setdefault("limit", 1000)
        result: list[JSON] = await self.get("/api/v1/events", **params)
        return result

    async def wait_converged(
        self,
        clusters: list[str],
        revision: str,
        timeout: float = 30.0,  # noqa: ASYNC109
        app: str = "web",
    ) -> list[JSON]:
        """Every cluster Synced and Healthy at ``revision``; their status rows."""

        async def converged() -> list[JSON] | None:
            self._check_alive()
            rows = {r["cluster"]: r for r in await self.status() if r["app"] == app}
            done = [
                rows[c]
                for c in clusters
                if c in rows
                and rows[c]["revision"] == revision
                and rows[c]["sync"] == "Synced"
                and rows[c]["health"] == "Healthy"
                and not rows[c]["operation"]
            ]
            return done if len(done) == len(clusters) else None

        last_rows: list[JSON] = []

        async def converged_rows() -> list[JSON] | None:
            last_rows[:] = await self.status()
            return await converged()

        def explain() -> str:
            rows = "\n".join(json.dumps(r, default=str) for r in last_rows)
            return f"status:\n{rows}\n{self.log_tail()}"

        return await eventually(
            converged_rows,
            timeout=timeout,
            what=f"{app} synced and healthy at {revision[:10]} on {', '.join(clusters)}",
            explain=explain,
        )

    async def wait_sync(
        self,
        cluster: str,
        revision: str,
        *,
        result: str | None = None,
        timeout: float = 30.0,  # noqa: ASYNC109
        after_id: int = 0,
        app: str = "web",
        trigger: str | None = None,
    ) -> JSON:
        """The first finished sync of ``revision`` on ``cluster`` newer than ``after_id``."""

        async def finished() -> JSON | None:
            self._check_alive()
            rows = await self.history(app=app, cluster=cluster)
            for row in sorted(rows, key=lambda r: r["id"]):
                if (
                    row["id"] > after_id
                    and row["revision"] == revision
                    and row["result"] != "Running"
                    and (trigger is None or row["trigger"] == trigger)
                ):
                    return row
            return None

        row = await eventually(
            finished,
            timeout=timeout,
            what=f"a finished sync of {revision[:10]} on {cluster}",
            explain=self.log_tail,
        )
        if result is not None:
            assert row["result"] == result, f"sync {row} is not {result}\n{self.log_tail()}"
        return row

    async def wait_event(
        self,
        kind: str,
        timeout: float = 15.0,  # noqa: ASYNC109
        after_id: int = 0,
        **match: Any,
    ) -> JSON:
        async def found() -> JSON | None:
            self._check_alive()
            for event in await self.events(since=after_id):
                if event["kind"] == kind and all(event.get(k) == v for k, v in match.items()):
                    return event
            return None

        return await eventually(
            found, timeout=timeout, what=f"an event {kind} {match}", explain=self.log_tail
        )

    async def last_event_id(self) -> int:
        events = await self.events()
        return max((int(e["id"]) for e in events), default=0)

    async def last_sync_id(self) -> int:
        rows = await self.history()
        return max((int(r["id"]) for r in rows), default=0)


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

    async def jobs(self, namespace: str) -> list[JSON]:
        listed = await self.batch.list_namespaced_job(namespace)
        return [self._dict(item) for item in listed.items]

    async def scale(self, namespace: str, name: str, replicas: int) -> None:
        await self.apps.patch_namespaced_deployment_scale(
            name, namespace, {"spec": {"replicas": replicas}}
        )

    async def patch_config_map(self, namespace: str, name: str, data: Mapping[str, str]) -> None:
        await self.core.patch_namespaced_config_map(name, namespace, {"data": dict(data)})

    async def delete_namespace(self, name: str) -> None:
        from kubernetes_asyncio.client.exceptions import ApiException

        with contextlib.suppress(ApiException):
            await self.core.delete_namespace(name)


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
