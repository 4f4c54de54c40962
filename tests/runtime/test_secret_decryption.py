"""SOPS-encrypted manifests are decrypted after rendering, per cluster, or refused clearly.

Real age keys (pyrage) and files encrypted by fleet's own SOPS writer. Each failure names
the file and what is wrong, and the manifests handed in (the render cache's) stay
encrypted.
"""

from __future__ import annotations

import base64
import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from pyrage import x25519

from fleet.adapters.secrets import encrypt_text
from fleet.config import Cluster
from fleet.config.decryption import Decryption
from fleet.model.manifests import Manifest, Origin
from fleet.runtime.secret_decryption import SecretDecryptionError, decrypt_manifests

FILE = "apps/web/overlays/dev/db-secret.enc.yaml"
PLAIN = "s3cr3t-password-value"

SECRET = f"""\
apiVersion: v1
kind: Secret
metadata:
  name: db
  namespace: web
type: Opaque
stringData:
  password: {PLAIN}
  port: "5432"
"""


def key_file(directory: Path, env: str) -> str:
    identity = x25519.Identity.generate()
    directory.mkdir(exist_ok=True)
    path = directory / f"{env}.txt"
    path.write_text(f"# public key: {identity.to_public()}\n{identity}\n")
    path.chmod(0o600)
    return str(identity.to_public())


def encrypted(recipients: list[str], text: str = SECRET) -> dict[str, Any]:
    data = encrypt_text(
        text.encode(),
        "yaml",
        recipients,
        path=FILE,
        encrypted_regex="^(data|stringData)$",
    )
    doc = yaml.safe_load(data)
    assert isinstance(doc, dict)
    return doc


def manifest(body: dict[str, Any], path: str = FILE) -> Manifest:
    return Manifest.from_body(body, Origin(path, 1, "kustomize"), "web")


@pytest.fixture
def keys(tmp_path: Path) -> dict[str, str]:
    return {env: key_file(tmp_path / "age", env) for env in ("dev", "prod")}


def cluster(env: str) -> Cluster:
    return Cluster(
        name=f"{env}-1", server="https://127.0.0.1:6443", token_file=Path("/t"), labels={"env": env}
    )


def decryption(tmp_path: Path) -> Decryption:
    return Decryption(provider="sops", age_key_files=[f"{tmp_path}/age/{{cluster.labels.env}}.txt"])


CONFIG_MAP = {
    "apiVersion": "v1",
    "kind": "ConfigMap",
    "metadata": {"name": "settings", "namespace": "web"},
    "data": {"GREETING": "hello"},
}


def test_decrypted_for_the_cluster_whose_key_opens_it(tmp_path: Path, keys: dict[str, str]) -> None:
    body = encrypted([keys["dev"]])
    assert PLAIN not in yaml.safe_dump(body)
    cached = [manifest(CONFIG_MAP), manifest(body)]
    before = copy.deepcopy([m.body for m in cached])
    out = decrypt_manifests(cached, decryption(tmp_path), cluster("dev"))
    assert out[0] is cached[0]
    secret = out[1]
    assert "sops" not in secret.body
    assert secret.body["stringData"] == {"password": PLAIN, "port": "5432"}
    assert (secret.ref.kind, secret.ref.namespace, secret.ref.name) == ("Secret", "web", "db")
    assert secret.origin == cached[1].origin
    # What the render cache holds is left encrypted.
    assert [m.body for m in cached] == before


def test_a_file_for_prod_only_is_refused_on_dev(tmp_path: Path, keys: dict[str, str]) -> None:
    body = encrypted([keys["prod"]])
    assert decrypt_manifests([manifest(body)], decryption(tmp_path), cluster("prod"))
    with pytest.raises(SecretDecryptionError) as raised:
        decrypt_manifests([manifest(body)], decryption(tmp_path), cluster("dev"))
    assert raised.value.file == FILE
    assert keys["prod"] in raised.value.message
    assert PLAIN not in str(raised.value)


def test_tampered_value_is_a_mac_mismatch(tmp_path: Path, keys: dict[str, str]) -> None:
    body = encrypted([keys["dev"]])
    other = encrypted([keys["dev"]], SECRET.replace(PLAIN, "another-value"))
    body["stringData"]["password"] = other["stringData"]["password"]
    with pytest.raises(SecretDecryptionError) as raised:
        decrypt_manifests([manifest(body)], decryption(tmp_path), cluster("dev"))
    assert raised.value.file == FILE
    assert "MAC mismatch" in raised.value.message or "MAC" in raised.value.message


def test_malformed_sops_block(tmp_path: Path, keys: dict[str, str]) -> None:
    body = encrypted([keys["dev"]])
    body["sops"] = {"mac": "nonsense"}
    with pytest.raises(SecretDecryptionError) as raised:
        decrypt_manifests([manifest(body)], decryption(tmp_path), cluster("dev"))
    assert raised.value.file == FILE


def test_missing_or_unreadable_key_file(tmp_path: Path, keys: dict[str, str]) -> None:
    body = encrypted([keys["dev"]])
    (tmp_path / "age" / "dev.txt").unlink()
    with pytest.raises(SecretDecryptionError) as raised:
        decrypt_manifests([manifest(body)], decryption(tmp_path), cluster("dev"))
    assert raised.value.file == FILE
    assert "cannot load the age keys for cluster dev-1" in raised.value.message
    assert str(tmp_path / "age" / "dev.txt") in raised.value.message
    (tmp_path / "age" / "dev.txt").write_text("not a key\n")
    with pytest.raises(SecretDecryptionError):
        decrypt_manifests([manifest(body)], decryption(tmp_path), cluster("dev"))


def test_no_decryption_settings(keys: dict[str, str]) -> None:
    body = encrypted([keys["dev"]])
    with pytest.raises(SecretDecryptionError) as raised:
        decrypt_manifests([manifest(body)], None, cluster("dev"))
    assert raised.value.message.startswith(
        "Secret web/db is SOPS-encrypted but the app has no decryption settings"
    )


def test_nothing_encrypted_needs_no_keys(tmp_path: Path) -> None:
    # No key file exists: an app without encrypted manifests never reads one.
    cached = [manifest(CONFIG_MAP)]
    assert decrypt_manifests(cached, decryption(tmp_path), cluster("dev")) == cached


def _generated_secret(value: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "db-8g2h9", "namespace": "web"},
        "data": {"db.env": base64.b64encode(value.encode()).decode()},
    }


@pytest.mark.parametrize(
    ("body", "what"),
    [
        pytest.param(
            _generated_secret("PASSWORD=ENC[AES256_GCM,data:abc=,iv:x,tag:y,type:str]\n"),
            "Secret web/db-8g2h9",
            id="secretGenerator from an encrypted env file",
        ),
        pytest.param(
            {**CONFIG_MAP, "data": {"password": "ENC[AES256_GCM,data:abc=,iv:x,tag:y,type:str]"}},
            "ConfigMap web/settings",
            id="helm values file rendered into a ConfigMap",
        ),
    ],
)
def test_stray_ciphertext_is_refused(body: dict[str, Any], what: str) -> None:
    with pytest.raises(SecretDecryptionError) as raised:
        decrypt_manifests([manifest(body, "apps/web/kustomization.yaml")], None, cluster("dev"))
    assert raised.value.file == "apps/web/kustomization.yaml"
    assert raised.value.message.startswith(f"{what} holds SOPS ciphertext")


def _kustomized(body: dict[str, Any]) -> dict[str, Any]:
    """What Kustomize makes of it: keys sorted, a label added (the MAC no longer fits)."""
    out = {key: body[key] for key in sorted(body)}
    out["metadata"] = {**body["metadata"], "labels": {"app.kubernetes.io/name": "web"}}
    return out


def test_reordered_by_the_renderer_is_verified_against_the_file(
    tmp_path: Path, keys: dict[str, str]
) -> None:
    text = encrypt_text(
        SECRET.encode(), "yaml", [keys["dev"]], path=FILE, encrypted_regex="^(data|stringData)$"
    )
    files = {FILE: b"# leading comment\n---\n" + CONFIG_MAP_TEXT + b"---\n" + text}
    rendered = manifest(_kustomized(yaml.safe_load(text)))
    with pytest.raises(SecretDecryptionError, match="MAC"):
        decrypt_manifests([rendered], decryption(tmp_path), cluster("dev"))
    [out] = decrypt_manifests(
        [rendered], decryption(tmp_path), cluster("dev"), read_source=files.__getitem__
    )
    assert out.body["stringData"] == {"password": PLAIN, "port": "5432"}
    assert out.body["metadata"]["labels"] == {"app.kubernetes.io/name": "web"}
    assert "sops" not in out.body
    # A ciphertext the file does not hold (moved in from elsewhere) is refused.
    other = encrypted([keys["dev"]], SECRET.replace(PLAIN, "elsewhere"))
    moved = _kustomized(yaml.safe_load(text))
    moved["stringData"] = {**moved["stringData"], "password": other["stringData"]["password"]}
    with pytest.raises(SecretDecryptionError) as raised:
        decrypt_manifests(
            [manifest(moved)], decryption(tmp_path), cluster("dev"), read_source=files.__getitem__
        )
    assert raised.value.message == (
        "the value at stringData.password is not one of the file's own values"
    )
    # A tampered file fails the MAC check in the file itself.
    tampered = text.replace(b"password: ENC[AES256_GCM,data:", b"password: ENC[AES256_GCM,data:AA")
    assert tampered != text
    with pytest.raises(SecretDecryptionError):
        decrypt_manifests(
            [manifest(_kustomized(yaml.safe_load(tampered)))],
            decryption(tmp_path),
            cluster("dev"),
            read_source={FILE: tampered}.__getitem__,
        )


CONFIG_MAP_TEXT = yaml.safe_dump(CONFIG_MAP).encode()
