"""App ``decryption`` settings: templates, the provider, and the key files checked.

Each row is a config and the exact lines ``fleet validate`` prints. Key files are
chosen per cluster with the path templates, may start with ``${CREDENTIALS_DIRECTORY}``
(systemd's ``LoadCredential=``), and must exist and be private to the daemon's user.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from fleet.config import check_fleet_config, load_fleet_config
from fleet.config.templates import TemplateError
from tests.config.conftest import WriteConfig

BASE = """\
clusters:
  - name: prod-1
    server: https://127.0.0.1:6443
    tokenFile: token
    labels: {env: prod}
  - name: dev-1
    server: https://127.0.0.1:6443
    tokenFile: token
    labels: {env: dev}
sources:
  - name: platform
    url: file:///srv/git/platform.git
    branch: main
apps:
  - name: web
    source: platform
    path: apps/web/overlays/{cluster.labels.env}
"""


def app_with(decryption: str) -> str:
    return BASE + "    decryption: " + decryption + "\n"


def make_keys(directory: Path, *envs: str, mode: int = 0o600) -> None:
    directory.mkdir(exist_ok=True)
    for env in envs:
        (directory / f"{env}.txt").write_text("AGE-SECRET-KEY-1PLACEHOLDER\n")
        (directory / f"{env}.txt").chmod(mode)


def test_key_files_per_cluster(write_config: WriteConfig, config_dir: Path) -> None:
    make_keys(config_dir / "age", "prod", "dev")
    keys = config_dir / "age"
    config = load_fleet_config(
        write_config(
            app_with(f'{{provider: sops, ageKeyFiles: ["{keys}/{{cluster.labels.env}}.txt"]}}')
        )
    )
    app = config.app("web")
    assert app.decryption is not None
    assert app.decryption.key_files_for(config.cluster("prod-1")) == [keys / "prod.txt"]
    assert app.decryption.key_files_for(config.cluster("dev-1")) == [keys / "dev.txt"]


def test_credentials_directory(write_config: WriteConfig, config_dir: Path) -> None:
    text = app_with(
        '{provider: sops, ageKeyFiles: ["${CREDENTIALS_DIRECTORY}/age-{cluster.name}"]}'
    )
    # Unset (an operator validating): not checked, and no error.
    config = load_fleet_config(write_config(text))
    app = config.app("web")
    assert app.decryption is not None
    cluster = config.cluster("dev-1")
    assert app.decryption.key_files_for(cluster, {"CREDENTIALS_DIRECTORY": "/run/cred/fleet/"}) == [
        Path("/run/cred/fleet/age-dev-1")
    ]
    with pytest.raises(TemplateError, match=r"\$CREDENTIALS_DIRECTORY is not set"):
        app.decryption.key_files_for(cluster, {})


def test_credentials_directory_checked_when_set(
    write_config: WriteConfig, config_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    creds = config_dir / "creds"
    make_keys(creds, "age-prod-1")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    text = app_with(
        '{provider: sops, ageKeyFiles: ["${CREDENTIALS_DIRECTORY}/age-{cluster.name}.txt"]}'
    )
    _, issues = check_fleet_config(write_config(text))
    assert [str(i) for i in issues] == [
        f"fleet.yaml:18:47: apps[0].decryption.ageKeyFiles: age key file not found: "
        f"{creds}/age-dev-1.txt"
    ]


CASES: list[tuple[str, str, list[str]]] = [
    (
        "another provider",
        app_with('{provider: vault, ageKeyFiles: ["/k"]}'),
        ["fleet.yaml:18:28: apps[0].decryption.provider: 'vault' is not one of sops"],
    ),
    (
        "no key files",
        app_with("{provider: sops, ageKeyFiles: []}"),
        ["fleet.yaml:18:47: apps[0].decryption.ageKeyFiles: must not be empty"],
    ),
    (
        "a relative key file",
        app_with('{provider: sops, ageKeyFiles: ["age/dev.txt"]}'),
        [
            "fleet.yaml:18:47: apps[0].decryption.ageKeyFiles: age key file 'age/dev.txt' must "
            "be an absolute path on the management host (or start with ${CREDENTIALS_DIRECTORY})"
        ],
    ),
    (
        "a misspelt placeholder",
        app_with('{provider: sops, ageKeyFiles: ["/etc/fleet/age/{cluster.label.env}.txt"]}'),
        [
            "fleet.yaml:18:47: apps[0].decryption.ageKeyFiles: unknown placeholder "
            "'{cluster.label.env}' (did you mean '{cluster.labels.env}'?): placeholders are "
            "{cluster.name} and {cluster.labels.KEY}"
        ],
    ),
    (
        "another variable",
        app_with('{provider: sops, ageKeyFiles: ["$HOME/age.txt"]}'),
        [
            "fleet.yaml:18:47: apps[0].decryption.ageKeyFiles: age key file '$HOME/age.txt': "
            "the only variable is ${CREDENTIALS_DIRECTORY}"
        ],
    ),
    (
        "a field fleet does not have",
        app_with('{provider: sops, ageKeyFiles: ["/k"], pgpKeyring: "/k"}'),
        [
            "fleet.yaml:18:55: apps[0].decryption.pgpKeyring: unknown key 'pgpKeyring' "
            "(allowed here: ageKeyFiles, provider)"
        ],
    ),
]


@pytest.mark.parametrize(
    ("text", "expected"), [pytest.param(t, e, id=name) for name, t, e in CASES]
)
def test_refused(write_config: WriteConfig, text: str, expected: list[str]) -> None:
    _, issues = check_fleet_config(write_config(text), files=False)
    assert [str(issue) for issue in issues] == expected


def test_missing_and_shared_key_files(write_config: WriteConfig, config_dir: Path) -> None:
    keys = config_dir / "age"
    make_keys(keys, "prod")
    make_keys(keys, "dev", mode=0o644)
    text = app_with(f'{{provider: sops, ageKeyFiles: ["{keys}/{{cluster.labels.env}}.txt"]}}')
    _, issues = check_fleet_config(write_config(text))
    assert [str(i) for i in issues] == [
        f"fleet.yaml:18:47: apps[0].decryption.ageKeyFiles: age key file {keys}/dev.txt can be "
        "accessed by other users (mode 0644): chmod 600 or 640"
    ]
    (keys / "dev.txt").unlink()
    _, issues = check_fleet_config(write_config(text))
    assert [str(i) for i in issues] == [
        f"fleet.yaml:18:47: apps[0].decryption.ageKeyFiles: age key file not found: {keys}/dev.txt"
    ]
    # Group-readable is fine (/etc/fleet readable by the fleet group).
    make_keys(keys, "dev", mode=0o640)
    _, issues = check_fleet_config(write_config(text))
    assert issues == []


def test_missing_label_names_the_cluster(write_config: WriteConfig, config_dir: Path) -> None:
    text = app_with('{provider: sops, ageKeyFiles: ["/etc/fleet/age/{cluster.labels.tier}.txt"]}')
    _, issues = check_fleet_config(write_config(text))
    assert "cluster prod-1: cluster 'prod-1' has no label 'tier'" in "\n".join(map(str, issues))


SECRET_REF_CASES: list[tuple[str, str, list[str]]] = [
    (
        "no source of values",
        BASE + "    namespace: web\n    secretRefs: [{name: db}]\n",
        [
            "fleet.yaml:19:18: apps[0].secretRefs[0]: give fromEnvFile or fromFiles: where the "
            "values come from"
        ],
    ),
    (
        "a relative file",
        BASE + '    namespace: web\n    secretRefs: [{name: db, fromEnvFile: "db.env"}]\n',
        [
            "fleet.yaml:19:42: apps[0].secretRefs[0].fromEnvFile: secret file 'db.env' must be "
            "an absolute path on the management host (or start with ${CREDENTIALS_DIRECTORY})"
        ],
    ),
    (
        "no namespace",
        BASE + '    secretRefs: [{name: db, fromEnvFile: "/db.env"}]\n',
        [
            "fleet.yaml:18:5: apps[0].secretRefs: secretRefs[0] (db) needs a namespace "
            "(the app sets none)"
        ],
    ),
    (
        "twice",
        BASE
        + '    namespace: web\n    secretRefs: [{name: db, fromEnvFile: "/a"},'
        + ' {name: db, namespace: web, fromEnvFile: "/b"}]\n',
        ["fleet.yaml:19:5: apps[0].secretRefs: secretRefs[1]: secret web/db is listed twice"],
    ),
    (
        "a bad key",
        BASE + '    namespace: web\n    secretRefs: [{name: db, fromFiles: {"a b": "/a"}}]\n',
        [
            "fleet.yaml:19:40: apps[0].secretRefs[0].fromFiles: invalid Secret key 'a b': "
            "letters, digits, '-', '_' and '.'"
        ],
    ),
]


@pytest.mark.parametrize(
    ("text", "expected"), [pytest.param(t, e, id=name) for name, t, e in SECRET_REF_CASES]
)
def test_secret_refs_refused(write_config: WriteConfig, text: str, expected: list[str]) -> None:
    _, issues = check_fleet_config(write_config(text), files=False)
    assert [str(issue) for issue in issues] == expected


def test_secret_ref_files_checked(write_config: WriteConfig, config_dir: Path) -> None:
    secrets = config_dir / "secrets"
    make_keys(secrets, "prod")
    make_keys(secrets, "dev", mode=0o604)
    text = (
        BASE
        + "    namespace: web\n"
        + f'    secretRefs: [{{name: db, fromEnvFile: "{secrets}/{{cluster.labels.env}}.txt"}}]\n'
    )
    _, issues = check_fleet_config(write_config(text))
    assert [str(i) for i in issues] == [
        f"fleet.yaml:19:18: apps[0].secretRefs[0]: secret file {secrets}/dev.txt can be "
        "accessed by other users (mode 0604): chmod 600 or 640"
    ]
