"""Settings and config that guard credentials: API tokens, empty paths, plain http."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleet.config import ConfigError, load_fleet_config, load_settings
from tests.config.conftest import WriteConfig


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(__import__("os").environ):
        if name.upper().startswith("FLEET_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def errors_of(path: Path | None) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        load_settings(path)
    return [str(issue) for issue in raised.value.errors]


@pytest.mark.parametrize("variable", ["FLEET_API_TOKEN_FILE", "FLEET_WEBHOOK_SECRET_FILE"])
def test_an_empty_path_variable_is_an_error_not_unset(
    monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    monkeypatch.setenv(variable, "")
    setting = variable.removeprefix("FLEET_").lower()
    assert errors_of(None) == [
        f"{variable}: {setting} is empty: give the path of a file, or leave the setting out"
    ]


def test_an_empty_token_file_in_the_settings_file(tmp_path: Path) -> None:
    (tmp_path / "s.yaml").write_text("api_address: 0.0.0.0:8787\napi_token_file: ''\n")
    assert errors_of(Path("s.yaml")) == [
        "s.yaml:2:17: api_token_file: api_token_file is empty: give the path of a file, "
        "or leave the setting out"
    ]


def test_tokens_with_scopes_and_apps(tmp_path: Path) -> None:
    (tmp_path / "s.yaml").write_text(
        "api_address: 0.0.0.0:8787\n"
        "api_token_file: tokens/admin\n"
        "api_tokens:\n"
        "  - {name: ci, token_file: tokens/ci, scopes: [sync], apps: [web, 'web-*']}\n"
        f"  - {{name: prom, sha256: {'a' * 64}, scopes: [metrics]}}\n"
    )
    settings = load_settings(tmp_path / "s.yaml")
    entries = {token.name: token for token in settings.token_entries}
    assert sorted(entries) == ["ci", "default", "prom"]
    assert entries["default"].token_file == tmp_path / "tokens" / "admin"
    assert entries["ci"].token_file == tmp_path / "tokens" / "ci"
    assert entries["ci"].granted == {"read", "sync"}
    assert entries["default"].granted == {"metrics", "read", "sync", "admin"}


@pytest.mark.parametrize(
    ("entry", "error"),
    [
        (
            "{name: ci, scopes: [read]}",
            "s.yaml:3:5: api_tokens[0]: give either token_file or sha256 (the token's digest)",
        ),
        (
            "{name: ci, sha256: abc, scopes: [read]}",
            "s.yaml:3:24: api_tokens[0].sha256: sha256 must be 64 lowercase hex digits "
            "(the digest, not the token)",
        ),
        (
            "{name: ci, token_file: '', scopes: [read]}",
            "s.yaml:3:28: api_tokens[0].token_file: token_file is empty: give the path of a "
            "file, or leave the setting out",
        ),
        (
            "{name: ci, token_file: t, scopes: [admin], apps: [web]}",
            "s.yaml:3:5: api_tokens[0]: scope admin covers the whole fleet: it cannot be "
            "limited to apps",
        ),
        (
            "{name: ci, token_file: t, scopes: [root]}",
            "s.yaml:3:40: api_tokens[0].scopes[0]: 'root' is not one of metrics, read, sync, admin",
        ),
        (
            "{name: default, token_file: t, scopes: [read]}",
            "s.yaml:2:1: api_tokens: two API tokens are named default: names tell them apart "
            "in the audit log (default is api_token_file's)",
        ),
    ],
)
def test_bad_token_entries_are_refused_with_their_line(
    tmp_path: Path, entry: str, error: str
) -> None:
    (tmp_path / "s.yaml").write_text(f"api_token_file: admin\napi_tokens:\n  - {entry}\n")
    assert errors_of(Path("s.yaml")) == [error]


SOURCE = """\
clusters: []
sources:
  - name: platform
    url: {url}
    branch: main
    auth: {auth}
apps: []
"""


@pytest.mark.parametrize(
    "auth", ["{tokenFile: token}", "{usernameFile: token, passwordFile: token}"]
)
def test_git_credentials_are_never_sent_over_plain_http(
    write_config: WriteConfig, auth: str
) -> None:
    path = write_config(SOURCE.format(url="http://git.example.com/p.git", auth=auth))
    with pytest.raises(ConfigError) as raised:
        load_fleet_config(path)
    assert [str(issue) for issue in raised.value.errors] == [
        "fleet.yaml:4:5: sources[0].url: source platform would send its credentials over "
        "plain http://, where anyone on the path can read them: use an https:// URL (or, "
        "on a network you trust, set auth.allowInsecureHttp: true)"
    ]


@pytest.mark.parametrize(
    ("url", "auth"),
    [
        ("https://git.example.com/p.git", "{tokenFile: token}"),
        ("http://git.example.com/p.git", "{}"),
        ("http://git.example.com/p.git", "{tokenFile: token, allowInsecureHttp: true}"),
    ],
)
def test_https_anonymous_http_or_an_explicit_allowance_pass(
    write_config: WriteConfig, url: str, auth: str
) -> None:
    config = load_fleet_config(write_config(SOURCE.format(url=url, auth=auth)))
    assert config.source("platform").url == url


def test_a_cluster_token_is_never_sent_over_plain_http(write_config: WriteConfig) -> None:
    text = "clusters:\n  - {name: c1, server: 'http://10.0.0.1:6443', tokenFile: token}\n"
    with pytest.raises(ConfigError) as raised:
        load_fleet_config(write_config(text + "sources: []\napps: []\n"))
    assert "cluster c1 would send its token over plain http://" in str(raised.value)
    allowed = text.replace("tokenFile: token", "tokenFile: token, allowInsecureHttp: true")
    config = load_fleet_config(write_config(allowed + "sources: []\napps: []\n"))
    assert config.cluster("c1").allow_insecure_http
