"""``fleet render`` decrypts SOPS Secrets with the app's keys and masks every Secret value
(as digests, like ``fleet diff``) unless ``--show-secrets``."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import yaml
from pyrage import x25519

from fleet.adapters.secrets import encrypt_text
from tests.config.test_commands import Fleet, fleet, pytestmark  # noqa: F401 (fixture, skip)

PLAIN = "render-me-not-0123456789"


def test_render_masks_decrypted_secrets_unless_asked(
    fleet: Fleet,  # noqa: F811
    tmp_path: Path,
) -> None:
    identity = x25519.Identity.generate()
    key = tmp_path / "age.txt"
    key.write_text(f"{identity}\n")
    key.chmod(0o600)
    secret = (
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: default\n"
        f"stringData:\n  password: {PLAIN}\n"
    )
    encrypted = encrypt_text(
        secret.encode(),
        "yaml",
        [str(identity.to_public())],
        path="apps/plain/db.enc.yaml",
        encrypted_regex="^(data|stringData)$",
    )
    fleet.work.write("apps/plain/db.enc.yaml", encrypted.decode())
    fleet.work.commit("an encrypted secret")
    fleet.work.push()
    config = yaml.safe_load(fleet.config.read_text())
    [plain] = [app for app in config["apps"] if app["name"] == "plain"]
    plain["decryption"] = {"provider": "sops", "ageKeyFiles": [str(key)]}
    fleet.config.write_text(yaml.safe_dump(config))

    args = ("render", "plain", "--cluster", "prod-eu-1", "--config", str(fleet.config))
    masked = fleet.run(*args)
    assert masked.code == 0, masked.err
    assert PLAIN not in masked.out
    assert "ENC[" not in masked.out
    [db] = [d for d in yaml.safe_load_all(masked.out) if d and d["kind"] == "Secret"]
    assert db["data"]["password"].startswith("sha256:")
    assert "sops" not in db
    shown = fleet.run(*args, "--show-secrets")
    assert shown.code == 0, shown.err
    [db] = [d for d in yaml.safe_load_all(shown.out) if d and d["kind"] == "Secret"]
    assert db["stringData"] == {"password": PLAIN}

    # Without the key: a clear error naming the file, and nothing printed.
    key.unlink()
    failed = fleet.run(*args)
    assert failed.code == 1
    assert "apps/plain/db.enc.yaml" in failed.err
    assert "cannot load the age keys" in failed.err
    assert failed.out == ""


def test_an_encrypted_secret_generator_file_is_decrypted_before_rendering(
    fleet: Fleet,  # noqa: F811
    tmp_path: Path,
) -> None:
    identity = x25519.Identity.generate()
    env_file = encrypt_text(
        f"PASSWORD={PLAIN}\n".encode(),
        "dotenv",
        [str(identity.to_public())],
        path="apps/web/overlays/dev/db.enc.env",
    )
    fleet.work.write("apps/web/overlays/dev/db.enc.env", env_file.decode())
    fleet.work.write(
        "apps/web/overlays/dev/kustomization.yaml",
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        "resources: [../../base]\npatches:\n  - path: replicas.yaml\n"
        "secretGenerator:\n  - name: db\n    envs: [db.enc.env]\n",
    )
    fleet.work.commit("a generated secret from an encrypted env file")
    fleet.work.push()
    args = ("render", "web", "--cluster", "dev-1", "--config", str(fleet.config))

    # Without decryption settings: refused, naming the file, nothing printed.
    refused = fleet.run(*args)
    assert refused.code == 1, refused.out
    assert refused.out == ""
    assert "apps/web/overlays/dev/db.enc.env" in refused.err, refused.err
    assert "no decryption settings" in refused.err

    key = tmp_path / "age.txt"
    key.write_text(f"{identity}\n")
    key.chmod(0o600)
    config = yaml.safe_load(fleet.config.read_text())
    [web] = [app for app in config["apps"] if app["name"] == "web"]
    web["decryption"] = {"provider": "sops", "ageKeyFiles": [str(key)]}
    fleet.config.write_text(yaml.safe_dump(config))
    masked = fleet.run(*args)
    assert masked.code == 0, masked.err
    assert PLAIN not in masked.out
    assert base64.b64encode(PLAIN.encode()).decode() not in masked.out
    assert "ENC[" not in masked.out
    shown = fleet.run(*args, "--show-secrets")
    assert shown.code == 0, shown.err
    [db] = [d for d in yaml.safe_load_all(shown.out) if d and d["kind"] == "Secret"]
    assert base64.b64decode(db["data"]["PASSWORD"]).decode() == PLAIN
    # The state directory (mirrors, exported trees) holds no plain value.
    needles = (PLAIN.encode(), base64.b64encode(PLAIN.encode()))
    for directory, _, names in os.walk(fleet.state):
        for name in names:
            data = (Path(directory) / name).read_bytes()
            assert not any(n in data for n in needles), Path(directory) / name
