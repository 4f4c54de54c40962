"""SOPS-encrypted render inputs are decrypted before rendering, per cluster, off the disk.

Real renders (pykustomize, helm-python in the render processes), real age keys (pyrage)
and files encrypted by fleet's SOPS writer. After each render, the repository tree, the
test's whole tmp directory and the memory file systems are scanned for the plain values:
none may hold them, and the render cache keeps only the encrypted render.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pyrage import x25519

from fleet.adapters.render import Renderer, RenderError, RenderRequest, RenderResult, memtree
from fleet.adapters.render.memtree import filesystem_type, memory_directory, memory_tree
from fleet.adapters.secrets import encrypt_text, rotate_text
from fleet.config import App, Cluster
from fleet.runtime.prerender_secrets import render_with_secrets, with_decrypted_inputs
from fleet.runtime.secret_decryption import SecretDecryptionError, decrypt_manifests
from tests.adapters.render.conftest import write

pytestmark = pytest.mark.anyio

ENV_PLAIN = "pre-render-env-value-7c1e"
FILE_PLAIN = "pre-render-file-value-93ab"
HELM_PLAIN = "pre-render-helm-value-5d02"

KUSTOMIZATION = """
    apiVersion: kustomize.config.k8s.io/v1beta1
    kind: Kustomization
    namespace: web
    resources: [../../base]
    secretGenerator:
      - name: db
        envs: [db.enc.env]
      - name: tls
        files: [settings.yaml=settings.enc.yaml]
"""

BASE = """
    apiVersion: kustomize.config.k8s.io/v1beta1
    kind: Kustomization
    resources: [deployment.yaml]
"""

DEPLOYMENT = """
    apiVersion: apps/v1
    kind: Deployment
    metadata: {name: web}
    spec:
      selector: {matchLabels: {app: web}}
      template:
        metadata: {labels: {app: web}}
        spec:
          containers:
            - name: web
              image: nginx:1.27
              envFrom: [{secretRef: {name: db}}]
"""

CHART = {
    "charts/db/Chart.yaml": "apiVersion: v2\nname: db\nversion: 0.1.0\n",
    "charts/db/values.yaml": "password: unset\nport: 5432\n",
    "charts/db/templates/secret.yaml": """
        apiVersion: v1
        kind: Secret
        metadata:
          name: {{ .Release.Name }}-db
        stringData:
          password: {{ .Values.password | quote }}
          port: {{ .Values.port | quote }}
    """,
}


def identity_file(directory: Path, env: str) -> str:
    identity = x25519.Identity.generate()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{env}.txt"
    path.write_text(f"{identity}\n")
    path.chmod(0o600)
    return str(identity.to_public())


@pytest.fixture
def keys(tmp_path: Path) -> dict[str, str]:
    return {env: identity_file(tmp_path / "age", env) for env in ("dev", "prod")}


def cluster(env: str) -> Cluster:
    return Cluster(
        name=f"{env}-1", server="https://127.0.0.1:6443", token_file=Path("/t"), labels={"env": env}
    )


def app(tmp_path: Path, *, decryption: bool = True, **extra: Any) -> App:
    settings: dict[str, Any] = {"name": "web", "source": "s", "path": "x", **extra}
    if decryption:
        settings["decryption"] = {
            "provider": "sops",
            "ageKeyFiles": [f"{tmp_path}/age/{{cluster.labels.env}}.txt"],
        }
    return App.model_validate(settings)


def seal(plain: str, fmt: Any, recipients: list[str], path: str) -> str:
    return encrypt_text(plain.encode(), fmt, recipients, path=path).decode()


def kustomize_repo(root: Path, recipients: list[str]) -> None:
    overlay = "apps/web/overlays/dev"
    write(root, "apps/web/base/kustomization.yaml", BASE)
    write(root, "apps/web/base/deployment.yaml", DEPLOYMENT)
    write(root, f"{overlay}/kustomization.yaml", KUSTOMIZATION)
    env = seal(f"PASSWORD={ENV_PLAIN}\nUSER=web\n", "dotenv", recipients, f"{overlay}/db.enc.env")
    (root / overlay / "db.enc.env").write_text(env)
    settings = seal(f"key: {FILE_PLAIN}\n", "yaml", recipients, f"{overlay}/settings.enc.yaml")
    (root / overlay / "settings.enc.yaml").write_text(settings)


def helm_repo(root: Path, recipients: list[str]) -> None:
    for rel, text in CHART.items():
        write(root, rel, text)
    values = seal(f"password: {HELM_PLAIN}\n", "yaml", recipients, "env/dev/values.enc.yaml")
    write(root, "env/dev/values.enc.yaml", values)
    write(root, "env/dev/plain.yaml", "port: 6543\n")


def memory_leftovers() -> list[Path]:
    found: list[Path] = []
    for where in ("/dev/shm", os.environ.get("XDG_RUNTIME_DIR", "")):
        if where and Path(where).is_dir():
            found += list(Path(where).glob("fleet-render-*"))
    return found


def files_holding(roots: list[Path], *values: str) -> Iterator[Path]:
    """Every readable file under ``roots`` whose bytes hold one of ``values`` (or its base64)."""
    needles = [v.encode() for v in values] + [base64.b64encode(v.encode()) for v in values]
    for root in roots:
        for directory, _, names in os.walk(root):
            for name in names:
                path = Path(directory) / name
                try:
                    data = path.read_bytes()
                except OSError:
                    continue
                if any(needle in data for needle in needles):
                    yield path


def secret_data(manifests: Any, name_prefix: str) -> dict[str, str]:
    [secret] = [
        m for m in manifests if m.ref.kind == "Secret" and m.ref.name.startswith(name_prefix)
    ]
    data = secret.body.get("data") or {}
    decoded = {k: base64.b64decode(v).decode() for k, v in data.items()}
    return {**decoded, **(secret.body.get("stringData") or {})}


async def test_kustomize_secret_generator_files_are_decrypted_off_the_disk(
    tmp_path: Path, keys: dict[str, str]
) -> None:
    root = tmp_path / "repo"
    kustomize_repo(root, [keys["dev"]])
    before = memory_leftovers()
    renderer = Renderer(kustomize_backend="pykustomize")
    request = RenderRequest(root=root, path="apps/web/overlays/dev", content_key="tree-1")
    cached = await renderer.render(request)

    result = await with_decrypted_inputs(renderer, request, cached, app(tmp_path), cluster("dev"))

    assert not result.cache_hit
    assert secret_data(result.manifests, "db-") == {"PASSWORD": ENV_PLAIN, "USER": "web"}
    assert secret_data(result.manifests, "tls-") == {"settings.yaml": f"key: {FILE_PLAIN}\n"}
    # The generated name's hash is that of the plain data (what sops + kustomize give).
    [db] = [m for m in result.manifests if m.ref.name.startswith("db-")]
    [cached_db] = [m for m in cached.manifests if m.ref.name.startswith("db-")]
    assert db.ref.name != cached_db.ref.name
    [deployment] = [m for m in result.manifests if m.ref.kind == "Deployment"]
    env_from = deployment.body["spec"]["template"]["spec"]["containers"][0]["envFrom"]
    assert env_from == [{"secretRef": {"name": db.ref.name}}]
    # The daemon's post-render stage lets the decrypted render through.
    assert decrypt_manifests(result.manifests, None, cluster("dev")) == result.manifests

    # Nothing plain anywhere on disk: the tree, the keys' directory, the memory dirs.
    assert list(files_holding([tmp_path], ENV_PLAIN, FILE_PLAIN)) == []
    assert memory_leftovers() == before
    # A new data key (fleet secrets rotate) changes the file, not the generated name.
    env_path = root / "apps/web/overlays/dev/db.enc.env"
    identity = (tmp_path / "age/dev.txt").read_text().strip()
    rotated = rotate_text(env_path.read_bytes(), "dotenv", [identity], path="db.enc.env")
    assert rotated != env_path.read_bytes()
    env_path.write_bytes(rotated)
    renamed = RenderRequest(root=root, path="apps/web/overlays/dev", content_key="tree-2")
    after = await with_decrypted_inputs(
        renderer, renamed, await renderer.render(renamed), app(tmp_path), cluster("dev")
    )
    assert [m.ref for m in after.manifests] == [m.ref for m in result.manifests]
    # The cache holds the encrypted render only, and answers it again.
    again = await renderer.render(request)
    assert again.cache_hit
    assert ENV_PLAIN not in repr([m.body for m in again.manifests])
    assert base64.b64encode(ENV_PLAIN.encode()).decode() not in repr(
        [m.body for m in again.manifests]
    )


async def test_helm_values_file_is_decrypted_in_memory(
    tmp_path: Path, keys: dict[str, str]
) -> None:
    root = tmp_path / "repo"
    helm_repo(root, [keys["dev"]])
    renderer = Renderer()
    request = RenderRequest(
        root=root,
        path="charts/db",
        namespace="web",
        content_key="tree-1",
        helm=_helm(["env/dev/values.enc.yaml", "env/dev/plain.yaml"]),
    )
    cached = await renderer.render(request)
    assert secret_data(cached.manifests, "release")["password"] != HELM_PLAIN

    result = await with_decrypted_inputs(renderer, request, cached, app(tmp_path), cluster("dev"))

    assert secret_data(result.manifests, "release") == {"password": HELM_PLAIN, "port": "6543"}
    assert list(files_holding([tmp_path], HELM_PLAIN)) == []
    assert (await renderer.render(request)).cache_hit


async def test_plain_helm_values_keep_the_cached_render(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    helm_repo(root, [str(x25519.Identity.generate().to_public())])
    renderer = Renderer()
    request = RenderRequest(
        root=root, path="charts/db", content_key="t", helm=_helm(["env/dev/plain.yaml"])
    )
    cached = await renderer.render(request)
    # No key file exists: an app without encrypted inputs never reads one.
    assert (
        await with_decrypted_inputs(renderer, request, cached, app(tmp_path), cluster("dev"))
        is cached
    )


@pytest.mark.parametrize("renderer_kind", ["kustomize", "helm"])
async def test_a_file_for_prod_only_fails_on_dev_naming_it(
    tmp_path: Path, keys: dict[str, str], renderer_kind: str
) -> None:
    root = tmp_path / "repo"
    if renderer_kind == "kustomize":
        kustomize_repo(root, [keys["prod"]])
        request = RenderRequest(root=root, path="apps/web/overlays/dev")
        file = "apps/web/overlays/dev/db.enc.env"
    else:
        helm_repo(root, [keys["prod"]])
        request = RenderRequest(
            root=root, path="charts/db", helm=_helm(["env/dev/values.enc.yaml"])
        )
        file = "env/dev/values.enc.yaml"
    renderer = Renderer(kustomize_backend="pykustomize")
    cached = await renderer.render(request)
    with pytest.raises(SecretDecryptionError) as raised:
        await with_decrypted_inputs(renderer, request, cached, app(tmp_path), cluster("dev"))
    assert raised.value.file == file
    assert keys["prod"] in raised.value.message  # names the recipients it was sealed for
    # prod opens it.
    result = await with_decrypted_inputs(renderer, request, cached, app(tmp_path), cluster("prod"))
    assert not result.cache_hit


async def test_tampered_env_file_is_a_mac_mismatch(tmp_path: Path, keys: dict[str, str]) -> None:
    root = tmp_path / "repo"
    kustomize_repo(root, [keys["dev"]])
    env = root / "apps/web/overlays/dev/db.enc.env"
    lines = env.read_text().splitlines(keepends=True)
    env.write_text("".join(line for line in lines if not line.startswith("USER=")))
    renderer = Renderer(kustomize_backend="pykustomize")
    request = RenderRequest(root=root, path="apps/web/overlays/dev")
    cached = await renderer.render(request)
    with pytest.raises(SecretDecryptionError) as raised:
        await with_decrypted_inputs(renderer, request, cached, app(tmp_path), cluster("dev"))
    assert raised.value.file == "apps/web/overlays/dev/db.enc.env"
    assert "MAC mismatch" in raised.value.message


async def test_no_decryption_settings_is_refused_naming_the_file(
    tmp_path: Path, keys: dict[str, str]
) -> None:
    root = tmp_path / "repo"
    kustomize_repo(root, [keys["dev"]])
    renderer = Renderer(kustomize_backend="pykustomize")
    request = RenderRequest(root=root, path="apps/web/overlays/dev")
    cached = await renderer.render(request)
    with pytest.raises(SecretDecryptionError) as raised:
        await with_decrypted_inputs(
            renderer, request, cached, app(tmp_path, decryption=False), cluster("dev")
        )
    assert raised.value.file == "apps/web/overlays/dev/db.enc.env"
    assert "no decryption settings" in raised.value.message


async def test_encrypted_config_map_generator_file_is_still_refused(
    tmp_path: Path, keys: dict[str, str]
) -> None:
    root = tmp_path / "repo"
    kustomize_repo(root, [keys["dev"]])
    overlay = root / "apps/web/overlays/dev"
    (overlay / "kustomization.yaml").write_text(
        "resources: [../../base]\nconfigMapGenerator:\n  - name: db\n    envs: [db.enc.env]\n"
    )
    renderer = Renderer(kustomize_backend="pykustomize")
    request = RenderRequest(root=root, path="apps/web/overlays/dev")
    cached = await renderer.render(request)
    result = await with_decrypted_inputs(renderer, request, cached, app(tmp_path), cluster("dev"))
    assert result is cached
    with pytest.raises(SecretDecryptionError, match="holds SOPS ciphertext"):
        decrypt_manifests(result.manifests, None, cluster("dev"))


def _helm(values_files: list[str]) -> Any:
    from fleet.adapters.render import HelmOptions

    return HelmOptions(values_files=values_files)


def test_memory_tree_is_refused_off_a_memory_file_system(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if filesystem_type(tmp_path) in {"tmpfs", "ramfs"}:
        pytest.skip("the test's tmp directory is itself on tmpfs")
    monkeypatch.setattr(memtree, "_CANDIDATES", ("XDG_RUNTIME_DIR",))
    with pytest.raises(RenderError, match="no memory-only directory"):
        memory_directory({"XDG_RUNTIME_DIR": str(tmp_path)})


def test_memory_tree_copies_what_is_read_and_leaves_nothing(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    write(root, "apps/web/base/a.yaml", "a: 1\n")
    write(root, "apps/web/dev/secret.env", "ENC")
    write(root, "other/big.txt", "not copied\n")
    with memory_tree(
        root, ["apps/web/dev", "apps/web/base"], {"apps/web/dev/secret.env": b"P=1"}
    ) as tree:
        assert filesystem_type(tree) in {"tmpfs", "ramfs"}
        assert (tree.stat().st_mode & 0o777) == 0o700
        assert (tree / "apps/web/dev/secret.env").read_bytes() == b"P=1"
        assert (tree / "apps/web/base/a.yaml").read_text() == "a: 1\n"
        assert not (tree / "other").exists()
    assert not tree.exists()
    assert (root / "apps/web/dev/secret.env").read_text() == "ENC"


async def test_a_failed_decrypted_render_does_not_quote_the_values(
    tmp_path: Path, keys: dict[str, str]
) -> None:
    root = tmp_path / "repo"
    helm_repo(root, [keys["dev"]])
    # A template that fails with the value in its message.
    write(root, "charts/db/templates/fail.yaml", '{{ fail (printf "bad: %s" .Values.password) }}\n')
    renderer = Renderer()
    request = RenderRequest(root=root, path="charts/db", helm=_helm(["env/dev/values.enc.yaml"]))
    with pytest.raises(RenderError) as cached_failure:
        await renderer.render(request)
    assert "ENC[" in str(cached_failure.value)  # the encrypted render quotes the ciphertext
    cached = RenderResult(manifests=[], renderer="helm", cache_hit=False, cache_key="")
    with pytest.raises(RenderError) as raised:
        await with_decrypted_inputs(renderer, request, cached, app(tmp_path), cluster("dev"))
    assert "bad: ***" in str(raised.value)
    assert HELM_PLAIN not in str(raised.value)


async def test_a_chart_that_cannot_render_ciphertext_renders_decrypted(
    tmp_path: Path, keys: dict[str, str]
) -> None:
    root = tmp_path / "repo"
    helm_repo(root, [keys["dev"]])
    # The schema wants a pattern the ciphertext does not match: the encrypted render fails.
    write(
        root,
        "charts/db/values.schema.json",
        '{"type": "object", "properties": {"password": {"type": "string", "pattern": "^pre-"}}}',
    )
    renderer = Renderer()
    request = RenderRequest(root=root, path="charts/db", helm=_helm(["env/dev/values.enc.yaml"]))
    with pytest.raises(RenderError):
        await renderer.render(request)
    result = await render_with_secrets(renderer, request, app(tmp_path), cluster("dev"))
    assert secret_data(result.manifests, "release")["password"] == HELM_PLAIN
    # A chart failing for another reason keeps its error.
    plain = RenderRequest(root=root, path="charts/db", helm=_helm(["env/dev/plain.yaml"]))
    with pytest.raises(RenderError, match=r"pattern|does not match"):
        await render_with_secrets(renderer, plain, app(tmp_path), cluster("dev"))
