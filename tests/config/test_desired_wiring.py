"""How config sources map onto the Git adapter's specs (fleet.runtime.desired)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleet.adapters.git import GitSetupError
from fleet.config import ConfigError, load_fleet_config
from fleet.runtime.desired import git_spec, ssh_public_keys
from tests.config.conftest import WriteConfig

KEY_A = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHc0dGVzdGtleWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFh"
KEY_B = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTY="


def test_allowed_signers_and_public_key_lines() -> None:
    text = (
        "# trusted release managers\n"
        f'alice@example.com,bob@example.com namespaces="git",valid-after="20240101" {KEY_A} a\n'
        "\n"
        f"* {KEY_B}\n"
    )
    assert ssh_public_keys(text) == [KEY_A, KEY_B]
    assert ssh_public_keys(f"{KEY_A} laptop\n") == [KEY_A]


SOURCE = """\
clusters: []
sources:
  - name: platform
    url: https://git.example.com/platform.git
    tag: v1.2.3
    auth: {{tokenFile: token, tokenUsername: oauth2}}
    verify: {{sshAllowedSigners: signers, sshPublicKeys: [key.pub], gpgKeyring: ring.gpg}}
apps: []
{extra}"""


def test_git_spec_carries_refs_auth_and_trust(write_config: WriteConfig, config_dir: Path) -> None:
    (config_dir / "signers").write_text(f"alice@example.com {KEY_A}\n")
    (config_dir / "key.pub").write_text(f"{KEY_B} ci\n")
    (config_dir / "ring.gpg").write_bytes(b"\x99")
    config = load_fleet_config(write_config(SOURCE.format(extra="")))
    spec = git_spec(config.source("platform"))
    assert (spec.url, spec.tag, spec.branch, spec.ref) == (
        "https://git.example.com/platform.git",
        "v1.2.3",
        None,
        "refs/tags/v1.2.3",
    )
    assert spec.auth.token_file == config_dir / "token"
    assert spec.auth.token_username == "oauth2"
    assert spec.trust is not None
    assert spec.trust.ssh_public_keys == (KEY_B, KEY_A)
    assert spec.trust.gpg_public_key_files == (config_dir / "ring.gpg",)


def test_trusted_key_file_without_a_key(write_config: WriteConfig, config_dir: Path) -> None:
    (config_dir / "signers").write_text("# nobody yet\n")
    (config_dir / "key.pub").write_text(f"{KEY_B}\n")
    (config_dir / "ring.gpg").write_bytes(b"\x99")
    config = load_fleet_config(write_config(SOURCE.format(extra="")))
    with pytest.raises(GitSetupError, match=r"no SSH public key found in .*signers"):
        git_spec(config.source("platform"))


def test_credentials_in_url_are_refused(write_config: WriteConfig) -> None:
    text = SOURCE.format(extra="").replace("https://", "https://bot:s3cret@")
    with pytest.raises(ConfigError) as raised:
        load_fleet_config(write_config(text), files=False)
    (issue,) = raised.value.errors
    assert str(issue) == (
        "fleet.yaml:4:10: sources[0].url: credentials are never written in the URL: remove "
        "the part before '@' and use auth.tokenFile or auth.usernameFile/passwordFile"
    )
    assert "s3cret" not in str(issue)


def test_an_unsupported_url_is_shown_without_its_credentials(write_config: WriteConfig) -> None:
    text = SOURCE.format(extra="").replace("https://", "ftp://bot:s3cret@")
    with pytest.raises(ConfigError) as raised:
        load_fleet_config(write_config(text), files=False)
    assert "'ftp://***@git.example.com/platform.git'" in str(raised.value)
    assert "s3cret" not in str(raised.value)
