"""``config_source`` in the daemon settings: a Git source for the fleet config itself."""

from __future__ import annotations

import os
import textwrap
from datetime import timedelta
from pathlib import Path

import pytest

from fleet.config import ConfigError, load_settings
from fleet.config.config_source import CONFIG_SOURCE_NAME
from fleet.runtime.desired import git_spec

URL = "https://git.example.com/platform/fleet-config.git"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.upper().startswith("FLEET_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)


def settings_file(tmp_path: Path, text: str) -> Path:
    (tmp_path / "etc").mkdir(exist_ok=True)
    path = tmp_path / "etc" / "settings.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def refusal(path: Path) -> str:
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    return str(caught.value)


def test_a_config_source_with_relative_credential_files(tmp_path: Path) -> None:
    path = settings_file(
        tmp_path,
        f"""\
        config_source:
          url: {URL}
          branch: release
          path: config/fleet.yaml
          interval: 30s
          auth: {{token_file: secrets/token, token_username: oauth2}}
          verify: {{ssh_allowed_signers: keys/allowed_signers, sshPublicKeys: [keys/a.pub]}}
        """,
    )
    source = load_settings(path).config_source
    assert source is not None
    assert (source.url, source.branch, source.path) == (URL, "release", "config/fleet.yaml")
    assert source.name == CONFIG_SOURCE_NAME
    assert source.interval == timedelta(seconds=30)
    etc = tmp_path / "etc"
    assert source.auth.token_file == etc / "secrets" / "token"  # from the settings' folder
    assert source.auth.token_username == "oauth2"
    assert source.verify is not None
    assert source.verify.ssh_allowed_signers == etc / "keys" / "allowed_signers"
    assert source.verify.ssh_public_keys == [etc / "keys" / "a.pub"]
    # The same Git wiring as any source: the auth reaches the adapter.
    spec_auth = git_spec(source.model_copy(update={"verify": None})).auth
    assert spec_auth.token_file == etc / "secrets" / "token"
    assert spec_auth.token_username == "oauth2"


def test_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLEET_CONFIG_SOURCE__URL", URL)
    monkeypatch.setenv("FLEET_CONFIG_SOURCE__TAG", "v3")
    settings = load_settings(None)
    assert settings.config_source is not None
    assert (settings.config_source.tag, settings.config_source.path) == ("v3", "fleet.yaml")


def test_config_and_config_source_are_exclusive(tmp_path: Path) -> None:
    path = settings_file(
        tmp_path, f"config: fleet.yaml\nconfig_source: {{url: '{URL}', branch: main}}\n"
    )
    message = refusal(path)
    assert "give config (a local file) or config_source (a Git repository), not both" in message
    assert "settings.yaml:2:" in message


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        (f"{{url: '{URL}', branch: main, path: ../fleet.yaml}}", "inside the repository"),
        (f"{{url: '{URL}', branch: main, path: /etc/fleet.yaml}}", "inside the repository"),
        (f"{{url: '{URL}', commit: '{'a' * 40}'}}", "follows a branch or tag, not a fixed"),
        (f"{{url: '{URL}', tag: '>=1.0.0'}}", "not a range"),
        (f"{{url: '{URL}'}}", "say what to deploy: branch, tag or commit"),
        ("{branch: main}", "url"),
        (f"{{url: '{URL}', branch: main, pth: x}}", "pth"),
        (
            "{url: 'git@git.example.com:platform/fleet.git', branch: main}",
            "an SSH source needs auth.knownHostsFile",
        ),
        (
            "{url: 'http://git.example.com/f.git', branch: main, auth: {token_file: t}}",
            "plain http://",
        ),
    ],
)
def test_bad_config_sources_are_refused_with_their_line(
    tmp_path: Path, entry: str, expected: str
) -> None:
    path = settings_file(tmp_path, f"log_level: info\nconfig_source: {entry}\n")
    message = refusal(path)
    assert expected in message
    assert "settings.yaml:2:" in message


def test_without_config_source_nothing_changes() -> None:
    assert load_settings(None).config_source is None


def test_credential_dirs_are_taken_from_the_settings_folder_and_default_to_the_state_dir(
    tmp_path: Path,
) -> None:
    path = settings_file(
        tmp_path,
        f"""\
        state_dir: {tmp_path / "state"}
        config_source:
          url: {URL}
          branch: main
          credential_dirs: [clusters, /srv/fleet/keys]
        """,
    )
    source = load_settings(path).config_source
    assert source is not None
    assert source.allowed_dirs(tmp_path / "state") == [
        tmp_path / "etc" / "clusters",
        Path("/srv/fleet/keys"),
    ]
    path = settings_file(tmp_path, f"config_source: {{url: {URL}, branch: main}}\n")
    source = load_settings(path).config_source
    assert source is not None
    assert source.allowed_dirs(tmp_path / "state") == [tmp_path / "state" / "credentials"]


def test_credential_dirs_from_the_environment_must_be_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLEET_CONFIG_SOURCE__URL", URL)
    monkeypatch.setenv("FLEET_CONFIG_SOURCE__BRANCH", "main")
    monkeypatch.setenv("FLEET_CONFIG_SOURCE__CREDENTIAL_DIRS", '["relative/dir"]')
    with pytest.raises(ConfigError) as caught:
        load_settings(None)
    assert "credential_dirs: 'relative/dir' must be an absolute directory" in str(caught.value)
