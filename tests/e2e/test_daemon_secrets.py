"""SOPS-encrypted and host-side Secrets through the daemon, and the plain values nowhere.

Each overlay holds a Secret encrypted (by fleet's own SOPS writer, with real age keys
made by pyrage) for its environment's key only, and the daemon reads the keys from
``$CREDENTIALS_DIRECTORY`` as systemd's ``LoadCredential=`` hands them over. Every
cluster gets its environment's value, decrypted. New data keys for every file (``fleet
secrets rotate``) make a commit but change nothing live. A dev Secret encrypted for prod
only fails web on the dev clusters with the file and the prod recipient named, applies
and prunes nothing of it there, while the other clusters and another app go on.

A host-side Secret (``secretRefs``, an env file per environment) reaches each cluster,
and rewriting dev's file, with no commit, re-syncs dev within a poll interval and rolls
the Deployment that reads it (``secretChecksums``), and only there.

After each, no plain value (nor its base64) is found in the state directory, the
daemon's log, the API's answers (status, history with each sync's detail, events, diff,
plan, /metrics), or the traces the daemon exported over OTLP/HTTP to a real receiver on
loopback (span names, attributes, events, status messages, resource).
"""

from __future__ import annotations

import base64
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from pyrage import x25519

from fleet.adapters.secrets import encrypt_text, rotate_text
from tests.adapters.telemetry.otlp_receivers import Collected, http_receiver
from tests.e2e.conftest import ClusterHandle
from tests.e2e.daemon_support import (
    ENVIRONMENTS,
    JSON,
    FleetDaemon,
    Kube,
    World,
    eventually,
    world,
)

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

SECRET_FILE = "overlays/{env}/db-secret.enc.yaml"


@asynccontextmanager
async def traced_world(
    clusters: list[ClusterHandle], tmp_path: Path
) -> AsyncIterator[tuple[World, dict[str, str], Collected]]:
    """A world, the ``otel`` settings that send its daemon's traces to a real OTLP/HTTP
    receiver on loopback, and what that receiver collected."""
    async with http_receiver() as (endpoint, collected), world(clusters, tmp_path) as w:
        yield w, {"endpoint": endpoint, "protocol": "http/protobuf"}, collected


@pytest.fixture
def cluster_count() -> int:
    return 3


def age_key(directory: Path, env: str) -> str:
    """A fresh age key for ``env`` written as ``age-ENV.txt`` (0600); its recipient."""
    identity = x25519.Identity.generate()
    path = directory / f"age-{env}.txt"
    path.write_text(f"# public key: {identity.to_public()}\n{identity}\n")
    path.chmod(0o600)
    return str(identity.to_public())


def secret_file(namespace: str, password: str, recipient: str, env: str) -> str:
    text = (
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n"
        f"  namespace: {namespace}\ntype: Opaque\nstringData:\n"
        f"  password: {password}\n  user: app\n"
    )
    data = encrypt_text(
        text.encode(),
        "yaml",
        [recipient],
        path=SECRET_FILE.format(env=env),
        encrypted_regex="^(data|stringData)$",
    )
    return data.decode()


def overlay(env: str) -> str:
    return (
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        "resources:\n  - ../../base\n  - db-secret.enc.yaml\n"
        "patches:\n  - path: deployment-patch.yaml\n"
    )


async def secret_version(kube: Kube, namespace: str) -> str:
    secret = await kube._maybe(kube.core.read_namespaced_secret("db", namespace))
    assert secret is not None
    return str(secret["metadata"]["resourceVersion"])


async def live_password(kube: Kube, namespace: str) -> str | None:
    secret = await kube._maybe(kube.core.read_namespaced_secret("db", namespace))
    if secret is None:
        return None
    return base64.b64decode(secret["data"]["password"]).decode()


def notes_app(w: World, namespace: str) -> JSON:
    return {
        "name": "notes",
        "source": "platform",
        "path": "apps/notes",
        "namespace": namespace,
        "syncPolicy": {"automated": True, "prune": True, "createNamespace": True},
    }


def notes_file(namespace: str, text: str) -> str:
    return (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes\n"
        f"  namespace: {namespace}\ndata:\n  TEXT: {text}\n"
    )


async def test_each_environment_gets_its_secret_and_a_prod_only_file_is_refused_on_dev(
    clusters: list[ClusterHandle], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    credentials = tmp_path / "credentials"
    credentials.mkdir(mode=0o700)
    recipients = {env: age_key(credentials, env) for env in ENVIRONMENTS}
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(credentials))
    passwords = {env: f"{env}-pw-{uuid.uuid4().hex}" for env in ENVIRONMENTS}

    async with traced_world(clusters, tmp_path) as (w, otel, traces):
        notes_namespace = f"{w.namespace}-notes"
        for handle, name in zip(clusters, w.names, strict=True):
            if handle.sim is None:
                w.stack.push_async_callback(w.kubes[name].delete_namespace, notes_namespace)
        files: dict[str, str | None] = {}
        for env in ENVIRONMENTS:
            files[f"overlays/{env}/kustomization.yaml"] = overlay(env)
            files[SECRET_FILE.format(env=env)] = secret_file(
                w.namespace, passwords[env], recipients[env], env
            )
        files["apps/notes/notes.yaml"] = notes_file(notes_namespace, "first")
        seeded = await w.commit("encrypted secrets per environment", files)
        config = w.config(
            decryption={
                "provider": "sops",
                "ageKeyFiles": ["${CREDENTIALS_DIRECTORY}/age-{cluster.labels.env}.txt"],
            }
        )
        config["apps"].append(notes_app(w, notes_namespace))
        daemon = await w.daemon(config, otel=otel)
        await daemon.wait_converged(w.names, seeded, timeout=60)
        await daemon.wait_converged(w.names, seeded, app="notes")
        for name in w.names:
            assert await live_password(w.kubes[name], w.namespace) == passwords[w.env_of(name)]

        # -- a new data key for every file (fleet secrets rotate): nothing changes live ----
        versions = {n: await secret_version(w.kubes[n], w.namespace) for n in w.names}
        rotated_files: dict[str, str | None] = {}
        for env in ENVIRONMENTS:
            path = SECRET_FILE.format(env=env)
            identity = (credentials / f"age-{env}.txt").read_text().splitlines()[-1]
            text = w.source.read(w.path(path)).encode()
            rotated_files[path] = rotate_text(text, "yaml", [identity], path=path).decode()
            assert rotated_files[path] != text.decode()
        rekeyed = await w.commit("rotate the data keys", rotated_files)
        await daemon.push_webhook()
        await daemon.wait_converged(w.names, rekeyed)
        for name in w.names:
            assert await secret_version(w.kubes[name], w.namespace) == versions[name]
            assert await live_password(w.kubes[name], w.namespace) == passwords[w.env_of(name)]
        seeded = rekeyed

        # -- dev's Secret re-encrypted for prod's key only -----------------------------
        syncs_before = await daemon.last_sync_id()
        leaked_try = f"dev-pw-{uuid.uuid4().hex}"
        bad = await w.commit(
            "dev secret for prod only",
            {
                SECRET_FILE.format(env="dev"): secret_file(
                    w.namespace, leaked_try, recipients["prod"], "dev"
                ),
                "apps/notes/notes.yaml": notes_file(notes_namespace, "second"),
            },
        )
        await daemon.push_webhook()
        dev = [n for n in w.names if w.env_of(n) == "dev"]
        others = [n for n in w.names if n not in dev]
        for name in dev:
            sync = await daemon.wait_sync(name, bad, result="Failed", after_id=syncs_before)
            assert w.path(SECRET_FILE.format(env="dev")) in sync["message"], sync
            assert recipients["prod"] in sync["message"], sync
            assert (await daemon.detail(sync["id"]))["results"] == []
            status = await daemon.status_of(name)
            assert status["revision"] == seeded, status
            assert await live_password(w.kubes[name], w.namespace) == passwords["dev"]
        if others:
            await daemon.wait_converged(others, bad)
        await daemon.wait_converged(w.names, bad, app="notes")

        await assert_nowhere(daemon, traces, [*passwords.values(), leaked_try])
        # the refusal's message was exported too, so the scan above read error messages
        refused = [
            span
            for span in traces.spans
            if span.is_error and w.path(SECRET_FILE.format(env="dev")) in span.status_message
        ]
        assert {span.attributes.get("k8s.cluster.name") for span in refused} >= set(dev)


def trace_text(traces: Collected) -> bytes:
    """Every string of every exported span: names, attributes, events, status, resource."""
    texts: list[str] = []
    for span in traces.spans:
        texts.extend(span.every_text())
        texts.extend(name for name, _ in span.events)
    return "\n".join(texts).encode()


async def assert_nowhere(daemon: FleetDaemon, traces: Collected, plains: list[str]) -> None:
    """No plain value (nor its base64) in the API's answers, /metrics, the daemon's log,
    any file of its state directory or the traces it exported; stops the daemon (which
    flushes its spans) first."""
    answers: list[object] = [
        await daemon.get("/api/v1/status"),
        await daemon.get("/api/v1/history"),
        await daemon.get("/api/v1/events"),
        await daemon.get("/api/v1/apps/web/diff"),
        await daemon.get("/api/v1/plan"),
    ]
    for row in await daemon.history():
        answers.append(await daemon.detail(row["id"]))
    metrics = await daemon.request("GET", "/metrics", headers=daemon.auth(), expect=None)
    answers.append(metrics.body)
    finished = {row["id"] for row in await daemon.history() if row["result"] != "Running"}
    await daemon.stop()
    traced = {
        span.attributes.get("fleet.sync.id")
        for span in traces.spans
        if span.name.startswith("sync ")
    }
    assert finished, "no finished sync to look for in the traces"
    assert finished <= traced, (finished - traced, traces.requests)
    assert any(span.name.startswith("render") for span in traces.spans), "no render span"
    haystacks: dict[str, bytes] = {"log": daemon.log_path.read_bytes()}
    haystacks["traces"] = trace_text(traces)
    haystacks["api"] = repr(answers).encode()
    files = [path for path in daemon.state_dir.rglob("*") if path.is_file()]
    assert files, "the state directory is empty"
    for path in files:
        haystacks[str(path)] = path.read_bytes()
    for plain in plains:
        for needle in (plain.encode(), base64.b64encode(plain.encode())):
            for where, haystack in haystacks.items():
                assert needle not in haystack, f"{plain} found in {where}"


def with_env_from_secret(deployment: str, secret: str) -> str:
    return deployment.replace(
        "          envFrom:\n",
        f"          envFrom:\n            - secretRef:\n                name: {secret}\n",
    )


async def template_checksum(kube: Kube, namespace: str) -> str | None:
    deployment = await kube.deployment(namespace, "web")
    if deployment is None:
        return None
    annotations = deployment["spec"]["template"]["metadata"].get("annotations") or {}
    value = annotations.get("fleet.dev/secret-checksum")
    return str(value) if value else None


async def test_a_rotated_host_secret_file_rolls_the_deployment_that_uses_it(
    clusters: list[ClusterHandle], tmp_path: Path
) -> None:
    secrets_dir = tmp_path / "host-secrets"
    values = {env: f"{env}-token-{uuid.uuid4().hex}" for env in ENVIRONMENTS}
    for env in ENVIRONMENTS:
        (secrets_dir / env).mkdir(parents=True)
        write_private(secrets_dir / env / "app.env", f"# {env}\nAPI_TOKEN={values[env]}\n")
    async with traced_world(clusters, tmp_path) as (w, otel, traces):
        deployment = w.source.read(w.path("base/deployment.yaml"))
        seeded = await w.commit(
            "web reads app-env",
            {"base/deployment.yaml": with_env_from_secret(deployment, "app-env")},
        )
        config = w.config(
            secretRefs=[
                {
                    "name": "app-env",
                    "fromEnvFile": f"{secrets_dir}/{{cluster.labels.env}}/app.env",
                    "annotations": {"fleet.dev/sync-wave": "-1"},
                }
            ],
            secretChecksums=True,
        )
        daemon = await w.daemon(config, otel=otel)
        await daemon.wait_converged(w.names, seeded)
        before: dict[str, str | None] = {}
        for name in w.names:
            kube = w.kubes[name]
            assert (
                await secret_value(kube, w.namespace, "app-env", "API_TOKEN")
                == values[w.env_of(name)]
            )
            before[name] = await template_checksum(kube, w.namespace)
            assert str(before[name]).startswith("hmac-sha256:")
        syncs = {s["id"] for s in await daemon.history()}
        assert all(s["trigger"] != "config" for s in await daemon.history())

        # -- dev's token rotated on the host, no commit ------------------------------------
        rotated = f"dev-token-{uuid.uuid4().hex}"
        write_private(secrets_dir / "dev" / "app.env", f"API_TOKEN={rotated}\n")
        dev = [n for n in w.names if w.env_of(n) == "dev"]

        async def rolled() -> bool:
            for name in dev:
                kube = w.kubes[name]
                if await secret_value(kube, w.namespace, "app-env", "API_TOKEN") != rotated:
                    return False
                if await template_checksum(kube, w.namespace) == before[name]:
                    return False
            return True

        await eventually(rolled, timeout=20, what="the rotated token applied and web rolled")
        for name in [n for n in w.names if n not in dev]:
            kube = w.kubes[name]
            assert await template_checksum(kube, w.namespace) == before[name]
        for name in dev:
            await daemon.wait_sync(
                name, seeded, result="Succeeded", after_id=max(syncs), trigger="config"
            )
        new = [s for s in await daemon.history() if s["id"] not in syncs]
        assert {s["cluster"] for s in new} == set(dev), new
        await daemon.wait_converged(w.names, seeded)
        await assert_nowhere(daemon, traces, [*values.values(), rotated])


def write_private(path: Path, text: str) -> None:
    temporary = path.with_suffix(".tmp")
    temporary.write_text(text)
    temporary.chmod(0o600)
    temporary.replace(path)


async def secret_value(kube: Kube, namespace: str, name: str, key: str) -> str | None:
    secret = await kube._maybe(kube.core.read_namespaced_secret(name, namespace))
    if secret is None:
        return None
    return base64.b64decode(secret["data"][key]).decode()


def generator_overlay() -> str:
    """An overlay whose Secret ``db`` a secretGenerator makes from an encrypted env file."""
    return (
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        "resources:\n  - ../../base\n"
        "patches:\n  - path: deployment-patch.yaml\n"
        "secretGenerator:\n  - name: db\n    envs: [db.enc.env]\n"
        "generatorOptions:\n  disableNameSuffixHash: true\n"
    )


def memory_render_dirs() -> set[Path]:
    found: set[Path] = set()
    for where in ("/dev/shm", os.environ.get("XDG_RUNTIME_DIR", "")):
        if where and Path(where).is_dir():
            found |= set(Path(where).glob("fleet-render-*"))
    return found


async def test_an_encrypted_secret_generator_file_is_decrypted_before_rendering(
    clusters: list[ClusterHandle], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    credentials = tmp_path / "credentials"
    credentials.mkdir(mode=0o700)
    recipients = {env: age_key(credentials, env) for env in ENVIRONMENTS}
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(credentials))
    passwords = {env: f"{env}-gen-{uuid.uuid4().hex}" for env in ENVIRONMENTS}
    before = memory_render_dirs()

    async with traced_world(clusters, tmp_path) as (w, otel, traces):
        files: dict[str, str | None] = {}
        for env in ENVIRONMENTS:
            env_file = f"overlays/{env}/db.enc.env"
            files[f"overlays/{env}/kustomization.yaml"] = generator_overlay()
            files[env_file] = encrypt_text(
                f"password={passwords[env]}\nuser=app\n".encode(),
                "dotenv",
                [recipients[env]],
                path=env_file,
            ).decode()
        seeded = await w.commit("secretGenerator env files, encrypted per environment", files)
        config = w.config(
            decryption={
                "provider": "sops",
                "ageKeyFiles": ["${CREDENTIALS_DIRECTORY}/age-{cluster.labels.env}.txt"],
            }
        )
        daemon = await w.daemon(config, otel=otel)
        await daemon.wait_converged(w.names, seeded, timeout=60)
        for name in w.names:
            assert await live_password(w.kubes[name], w.namespace) == passwords[w.env_of(name)]
        await assert_nowhere(daemon, traces, list(passwords.values()))
    assert memory_render_dirs() == before
