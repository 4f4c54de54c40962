"""Secrets built on the host from an app's ``secretRefs`` files, and the bad cases.

Every failure names the file and, for env files, the line; no value is ever echoed.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

import pytest

from fleet.config import App, Cluster
from fleet.model.manifests import Manifest
from fleet.runtime.host_secrets import host_fingerprint, host_secret_manifests, secret_stage
from fleet.runtime.secret_decryption import SecretDecryptionError

VALUE = "p4ss-w0rd-value"


def cluster(env: str) -> Cluster:
    return Cluster(
        name=f"{env}-1", server="https://127.0.0.1:6443", token_file=Path("/t"), labels={"env": env}
    )


def app(refs: list[dict[str, Any]], **extra: Any) -> App:
    return App.model_validate(
        {
            "name": "web",
            "source": "s",
            "path": "apps/web",
            "namespace": "web",
            "secretRefs": refs,
            **extra,
        }
    )


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    path.chmod(0o600)
    return path


def decoded(manifest: Manifest) -> dict[str, str]:
    return {k: base64.b64decode(v).decode() for k, v in manifest.body["data"].items()}


def test_env_file_and_files_per_environment(tmp_path: Path) -> None:
    for env in ("dev", "prod"):
        write(
            tmp_path / env / "db.env",
            f"# comment\n\nUSER=app\nPASSWORD='{VALUE}-{env}'\nexport_ok = \"x y\"\n",
        )
        write(tmp_path / env / "ca.crt", f"cert-{env}\n")
    web = app(
        [
            {
                "name": "db",
                "fromEnvFile": f"{tmp_path}/{{cluster.labels.env}}/db.env",
                "fromFiles": {"ca.crt": f"{tmp_path}/{{cluster.labels.env}}/ca.crt"},
                "annotations": {"fleet.dev/sync-wave": "-1"},
                "type": "Opaque",
            }
        ]
    )
    [dev] = host_secret_manifests(web, cluster("dev"))
    [prod] = host_secret_manifests(web, cluster("prod"))
    assert decoded(dev) == {
        "USER": "app",
        "PASSWORD": f"{VALUE}-dev",
        "export_ok": "x y",
        "ca.crt": "cert-dev\n",
    }
    assert decoded(prod)["PASSWORD"] == f"{VALUE}-prod"
    assert (dev.ref.kind, dev.ref.namespace, dev.ref.name) == ("Secret", "web", "db")
    assert dev.annotations == {"fleet.dev/sync-wave": "-1"}
    assert dev.origin.path == f"{tmp_path}/dev/db.env"


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        pytest.param(f"PASSWORD {VALUE}\n", "line 1: expected KEY=VALUE", id="no equals sign"),
        pytest.param(f"\nBAD KEY={VALUE}\n", "line 2: expected KEY=VALUE", id="bad key"),
        pytest.param(f"A=1\nA={VALUE}\n", "line 2: A is given twice", id="twice"),
        pytest.param(b"A=\xff\xfe\n", "not UTF-8 text", id="binary"),
    ],
)
def test_malformed_env_file(tmp_path: Path, content: str | bytes, problem: str) -> None:
    path = write(tmp_path / "db.env", content)
    web = app([{"name": "db", "fromEnvFile": str(path)}])
    with pytest.raises(SecretDecryptionError) as raised:
        host_secret_manifests(web, cluster("dev"))
    assert raised.value.file == str(path)
    assert raised.value.message.startswith(problem)
    assert VALUE not in str(raised.value)


def test_missing_unreadable_and_too_large(tmp_path: Path) -> None:
    path = tmp_path / "token"
    web = app([{"name": "db", "fromFiles": {"token": str(path)}}])
    with pytest.raises(SecretDecryptionError, match="secret file not found") as raised:
        host_secret_manifests(web, cluster("dev"))
    assert raised.value.file == str(path)
    write(path, "x" * (1024 * 1024 + 1))
    with pytest.raises(SecretDecryptionError, match="larger than 1 MiB"):
        host_secret_manifests(web, cluster("dev"))
    (tmp_path / "dir").mkdir()
    web = app([{"name": "db", "fromFiles": {"token": str(tmp_path / "dir")}}])
    with pytest.raises(SecretDecryptionError, match=r"cannot read|not a regular file"):
        host_secret_manifests(web, cluster("dev"))


def test_credentials_directory_unset_names_the_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    web = app([{"name": "db", "fromEnvFile": "${CREDENTIALS_DIRECTORY}/db.env"}])
    with pytest.raises(SecretDecryptionError) as raised:
        host_secret_manifests(web, cluster("dev"))
    assert raised.value.file == "secretRefs web/db"
    assert "$CREDENTIALS_DIRECTORY is not set" in raised.value.message


def test_a_secret_also_in_git_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "db.env", "A=1\n")
    web = app([{"name": "db", "fromEnvFile": str(path)}])
    rendered = Manifest.from_body(
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "namespace": "web"}}
    )
    with pytest.raises(SecretDecryptionError, match="also rendered from the repository"):
        secret_stage([rendered], web, cluster("dev"), read_source=None, state_dir=tmp_path)


def test_stage_adds_and_checksums(tmp_path: Path) -> None:
    path = write(tmp_path / "db.env", f"PASSWORD={VALUE}\n")
    web = app([{"name": "db", "fromEnvFile": str(path)}], secretChecksums=True)
    deployment = Manifest.from_body(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "web"},
            "spec": {
                "template": {
                    "spec": {
                        "containers": [{"name": "web", "envFrom": [{"secretRef": {"name": "db"}}]}]
                    }
                }
            },
        }
    )
    state = tmp_path / "state"
    state.mkdir()
    out = secret_stage([deployment], web, cluster("dev"), read_source=None, state_dir=state)
    assert [m.ref.kind for m in out] == ["Deployment", "Secret"]
    annotations = out[0].body["spec"]["template"]["metadata"]["annotations"]
    assert annotations["fleet.dev/secret-checksum"].startswith("hmac-sha256:")
    key = state / "secret-digest.key"
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    again = secret_stage([deployment], web, cluster("dev"), read_source=None, state_dir=state)
    assert again[0].body == out[0].body  # the same key: no roll without a change


def test_fingerprint_changes_with_a_rotation(tmp_path: Path) -> None:
    path = write(tmp_path / "db.env", "A=1\n")
    web = app([{"name": "db", "fromEnvFile": str(path)}])
    first = host_fingerprint(web, cluster("dev"))
    assert first == host_fingerprint(web, cluster("dev"))
    replacement = write(tmp_path / "db.env.new", "A=2\n")
    os.replace(replacement, path)
    assert host_fingerprint(web, cluster("dev")) != first
