"""Every mistake in a fleet config is reported with file:line:col, its path and a hint.

One row per mistake: the config text and the exact lines ``fleet validate`` prints.
The first 13 lines (``BASE``) are a valid fleet of two clusters and one source; most
rows append apps to it, so their line numbers start at 14.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fleet.config import ConfigError, check_fleet_config, load_fleet_config
from tests.config.conftest import WriteConfig

BASE = """\
clusters:
  - name: prod-eu-1
    kubeconfig: kubeconfigs/prod.yaml
    context: prod-eu-1
    labels: {env: prod, region: eu}
  - name: dev-1
    server: https://127.0.0.1:6443
    tokenFile: token
    labels: {env: dev}
sources:
  - name: platform
    url: file:///srv/git/platform.git
    branch: main
"""

APPS = BASE + "apps:\n"

CASES: list[tuple[str, str, list[str]]] = [
    (
        "unknown source, with the near miss",
        APPS
        + """\
  - name: web
    source: platfrom
    path: apps/web
""",
        ["fleet.yaml:16:13: apps[0].source: no source named 'platfrom' (did you mean 'platform'?)"],
    ),
    (
        "unknown key, with the near miss",
        APPS
        + """\
  - name: web
    source: platform
    path: apps/web
    syncPolicy: {automated: true, prnue: true}
""",
        ["fleet.yaml:18:35: apps[0].syncPolicy.prnue: unknown key 'prnue' (did you mean 'prune'?)"],
    ),
    (
        "unknown top-level key",
        BASE + "app: []\n",
        ["fleet.yaml:14:1: app: unknown key 'app' (did you mean 'apps'?)"],
    ),
    (
        "renderer not one of the four",
        APPS
        + """\
  - name: web
    source: platform
    path: apps/web
    renderer: kustomise
""",
        [
            "fleet.yaml:18:15: apps[0].renderer: 'kustomise' is not one of auto, plain, "
            "kustomize, helm (did you mean 'kustomize'?)"
        ],
    ),
    (
        "unknown placeholder in the path",
        APPS
        + """\
  - name: web
    source: platform
    path: apps/web/overlays/{cluster.label.env}
""",
        [
            "fleet.yaml:17:11: apps[0].path: unknown placeholder '{cluster.label.env}' "
            "(did you mean '{cluster.labels.env}'?): placeholders are {cluster.name} and "
            "{cluster.labels.KEY}"
        ],
    ),
    (
        "a targeted cluster lacks a label the path uses",
        APPS
        + """\
  - name: web
    source: platform
    path: apps/web/{cluster.labels.region}
""",
        [
            "fleet.yaml:17:11: apps[0].path: cluster 'dev-1' targeted by this app has no label "
            "'region' (used by {cluster.labels.region})"
        ],
    ),
    (
        "a label the path uses is fine when only clusters having it are targeted",
        APPS
        + """\
  - name: web
    source: platform
    path: apps/web/{cluster.labels.region}
    clusters: {matchExpressions: [{key: region, operator: Exists}]}
""",
        [],
    ),
    (
        "path leaving the repository",
        APPS
        + """\
  - name: web
    source: platform
    path: apps/../../etc
""",
        [
            "fleet.yaml:17:11: apps[0].path: path must stay inside the repository "
            "('..' is not allowed)"
        ],
    ),
    (
        "dependsOn an unknown app, and a cycle",
        APPS
        + """\
  - name: web
    source: platform
    path: apps/web
    dependsOn: [api, databse]
  - name: api
    source: platform
    path: apps/api
    dependsOn: [web]
  - name: database
    source: platform
    path: apps/db
""",
        [
            "fleet.yaml:18:22: apps[0].dependsOn[1]: no app named 'databse' "
            "(did you mean 'database'?)",
            "fleet.yaml:22:17: apps[1].dependsOn[0]: dependency cycle: web -> api -> web",
        ],
    ),
    (
        "an app depending on itself",
        APPS
        + """\
  - name: web
    source: platform
    path: apps/web
    dependsOn: [web]
""",
        ["fleet.yaml:18:17: apps[0].dependsOn[0]: an app cannot depend on itself"],
    ),
    (
        "cluster names that do not exist",
        APPS
        + """\
  - name: web
    source: platform
    path: apps/web
    clusters: {names: [prod-eu-2, dev-1]}
""",
        [
            "fleet.yaml:18:24: apps[0].clusters.names[0]: no cluster named 'prod-eu-2' "
            "(did you mean 'prod-eu-1'?)"
        ],
    ),
    (
        "names and labels in one selector",
        APPS
        + """\
  - name: web
    source: platform
    path: apps/web
    clusters: {names: [dev-1], matchLabels: {env: dev}}
""",
        [
            "fleet.yaml:18:16: apps[0].clusters.names: select clusters by names or by labels, "
            "not both"
        ],
    ),
    (
        "a selector that matches nothing is a warning with the near miss",
        APPS
        + """\
  - name: web
    source: platform
    path: apps/web
    clusters: {matchLabels: {env: prdo}}
""",
        [
            "fleet.yaml:18:15: warning: apps[0].clusters: selects no cluster, so the app is "
            "deployed nowhere: no cluster has env=prdo (did you mean 'prod'?)"
        ],
    ),
    (
        "In without values",
        APPS
        + """\
  - name: web
    source: platform
    path: apps/web
    clusters:
      matchExpressions:
        - {key: env, operator: In}
""",
        [
            "fleet.yaml:20:11: apps[0].clusters.matchExpressions[0]: operator In needs a "
            "non-empty list of values"
        ],
    ),
    (
        "missing required keys",
        APPS
        + """\
  - name: web
    path: apps/web
""",
        ["fleet.yaml:15:5: apps[0]: missing required key 'source'"],
    ),
    (
        "duplicate key in one mapping",
        APPS
        + """\
  - name: web
    source: platform
    path: apps/web
    path: apps/web2
""",
        ["fleet.yaml:18:5: apps[0].path: duplicate key (first given at line 17)"],
    ),
    (
        "duplicate app names",
        APPS
        + """\
  - name: web
    source: platform
    path: apps/web
  - name: web
    source: platform
    path: apps/web2
""",
        ["fleet.yaml:18:11: apps[1].name: duplicate name 'web' (also apps[0])"],
    ),
    (
        "helm settings with a renderer that is not helm",
        APPS
        + """\
  - name: web
    source: platform
    path: apps/web
    renderer: kustomize
    helm: {values: {replicas: 2}}
""",
        ["fleet.yaml:19:5: apps[0].helm: helm settings given, but the renderer is kustomize"],
    ),
    (
        "a values file leaving the repository",
        APPS
        + """\
  - name: web
    source: platform
    path: charts/web
    helm: {valuesFiles: [../../../values.yaml]}
""",
        [
            "fleet.yaml:18:26: apps[0].helm.valuesFiles[0]: values file '../../../values.yaml' "
            "leaves the repository"
        ],
    ),
    (
        "label values must be strings",
        BASE.replace("{env: dev}", "{env: dev, tier: 1}") + "apps: []\n",
        [
            "fleet.yaml:9:30: clusters[1].labels.tier: expected a string (quote it if it looks "
            "like a number or a date)"
        ],
    ),
    (
        "an inline credential",
        BASE.replace("    tokenFile: token\n", "    tokenFile: token\n    token: abc123\n")
        + "apps: []\n",
        [
            "fleet.yaml:9:5: clusters[1].token: unknown key 'token': credentials are never "
            "written inline, put it in a file and give tokenFile"
        ],
    ),
    (
        "kubeconfig and server together",
        BASE.replace(
            "    context: prod-eu-1\n", "    context: prod-eu-1\n    server: https://x:6443\n"
        )
        + "apps: []\n",
        [
            "fleet.yaml:5:5: clusters[0].server: give either kubeconfig (and context) or "
            "server, not both"
        ],
    ),
    (
        "a context the kubeconfig lacks",
        BASE.replace("context: prod-eu-1", "context: prod-eu-2") + "apps: []\n",
        [
            "fleet.yaml:4:14: clusters[0].context: no context named 'prod-eu-2' in "
            "{dir}/kubeconfigs/prod.yaml (did you mean 'prod-eu-1'?)"
        ],
    ),
    (
        "a referenced file that does not exist",
        BASE.replace("tokenFile: token", "tokenFile: secrets/token") + "apps: []\n",
        ["fleet.yaml:8:16: clusters[1].tokenFile: file not found: {dir}/secrets/token"],
    ),
    (
        "branch and tag together",
        BASE.replace("    branch: main\n", "    branch: main\n    tag: v1.2.3\n") + "apps: []\n",
        ["fleet.yaml:14:5: sources[0].tag: give one of branch, tag or commit, not branch and tag"],
    ),
    (
        "a short commit id",
        BASE.replace("branch: main", "commit: 1a2b3c4") + "apps: []\n",
        [
            "fleet.yaml:13:13: sources[0].commit: commit must be a full commit id (40 or 64 "
            "lowercase hex digits), got '1a2b3c4'"
        ],
    ),
    (
        "a duration without a unit",
        BASE + "    interval: 30\napps: []\n",
        [
            "fleet.yaml:14:15: sources[0].interval: invalid duration 30: write a number with "
            "a unit (ms, s, m, h, d), like 30s or 1h30m"
        ],
    ),
    (
        "an SSH source without known_hosts",
        BASE.replace("file:///srv/git/platform.git", "git@git.example.com:platform.git")
        + "    auth: {sshKeyFile: id_ed25519}\napps: []\n",
        [
            "fleet.yaml:14:5: sources[0].auth: an SSH source needs auth.knownHostsFile (fleet "
            "never trusts an unknown host key)"
        ],
    ),
    (
        "a URL fleet cannot fetch",
        BASE.replace("file:///srv/git/platform.git", "ftp://example.com/platform.git")
        + "apps: []\n",
        [
            "fleet.yaml:12:10: sources[0].url: unsupported Git URL "
            "'ftp://example.com/platform.git': use file://, https://, http://, ssh://, git:// "
            "or user@host:path"
        ],
    ),
    (
        "all errors at once, across sections",
        BASE.replace("tokenFile: token", "tokenFil: token")
        + """\
apps:
  - name: web
    source: platfrom
    path: apps/web
    renderer: helmm
""",
        [
            "fleet.yaml:8:5: clusters[1].tokenFil: unknown key 'tokenFil' "
            "(did you mean 'tokenFile'?)",
            "fleet.yaml:16:13: apps[0].source: no source named 'platfrom' "
            "(did you mean 'platform'?)",
            "fleet.yaml:18:15: apps[0].renderer: 'helmm' is not one of auto, plain, kustomize, "
            "helm (did you mean 'helm'?)",
        ],
    ),
    (
        "health rules and ignoreDifferences are checked in place",
        APPS
        + """\
  - name: web
    source: platform
    path: apps/web
    health:
      - kind: Postgres
        rules:
          - when: [{condition: Ready, stauts: "True"}]
            health: Fine
    ignoreDifferences:
      - kind: Deployment
""",
        [
            "fleet.yaml:21:39: apps[0].health[0].rules[0].when[0].stauts: unknown key 'stauts' "
            "(did you mean 'status'?)",
            "fleet.yaml:22:21: apps[0].health[0].rules[0].health: 'Fine' is not one of Healthy, "
            "Progressing, Degraded, Suspended, Unknown",
            "fleet.yaml:24:9: apps[0].ignoreDifferences[0]: name at least one of jsonPointers "
            "or managedFieldsManagers",
        ],
    ),
    (
        "an empty rollout",
        BASE + "apps: []\nrollout: {waves: []}\n",
        ["fleet.yaml:15:18: rollout.waves: must not be empty"],
    ),
    (
        "invalid YAML names its line",
        APPS + "  - name: web\n    source: [platform\n",
        [
            "fleet.yaml:17:1: invalid YAML: expected ',' or ']', but got '<stream end>' "
            "(while parsing a flow sequence)"
        ],
    ),
    (
        "a document that is not a mapping",
        "- clusters\n",
        [
            "fleet.yaml:1:1: expected a mapping with clusters, sources and apps, got a list",
        ],
    ),
]

ROLLOUT_CASES: list[tuple[str, str, list[str]]] = [
    (
        "a targeted cluster in no wave",
        APPS
        + """\
  - name: web
    source: platform
    path: apps/web
rollout:
  waves:
    - name: canary
      selector: {matchLabels: {env: dev}}
""",
        [
            "fleet.yaml:20:5: rollout.waves: cluster 'prod-eu-1' (targeted by web) is in no "
            "wave; add a wave that selects it"
        ],
    ),
    (
        "a cluster in two waves",
        APPS
        + """\
  - name: web
    source: platform
    path: apps/web
rollout:
  waves:
    - name: canary
      selector: {names: [dev-1]}
    - name: rest
      selector: {}
""",
        [
            "fleet.yaml:23:17: rollout.waves[1].selector: cluster 'dev-1' is in wave 'canary' "
            "and in wave 'rest'; a cluster belongs to exactly one wave"
        ],
    ),
    (
        "a wave that selects nothing",
        APPS
        + """\
  - name: web
    source: platform
    path: apps/web
rollout:
  waves:
    - name: canary
      selector: {matchLabels: {evn: dev}}
    - name: rest
      selector: {matchLabels: {env: prod}}
""",
        [
            "fleet.yaml:20:5: rollout.waves: cluster 'dev-1' (targeted by web) is in no wave; "
            "add a wave that selects it",
            "fleet.yaml:21:17: rollout.waves[0].selector: wave 'canary' selects no cluster: "
            "no cluster has a label 'evn' (did you mean 'env'?)",
        ],
    ),
    (
        "an app's own rollout covers only its targets",
        APPS
        + """\
  - name: web
    source: platform
    path: apps/web
    clusters: {matchLabels: {env: prod}}
    rollout:
      waves:
        - {name: first, selector: {names: [prod-eu-1]}, maxParallel: 0}
""",
        [
            "fleet.yaml:21:57: apps[0].rollout.waves[0].maxParallel: maxParallel must be at "
            "least 1, or the wave never starts"
        ],
    ),
    (
        "a wave naming an unknown cluster",
        APPS
        + """\
  - name: web
    source: platform
    path: apps/web
    clusters: {names: [prod-eu-1]}
    rollout:
      waves:
        - {name: first, selector: {names: [prod-eu-1, prod-us-1]}}
""",
        [
            "fleet.yaml:21:55: apps[0].rollout.waves[0].selector.names[1]: no cluster named "
            "'prod-us-1' (did you mean 'prod-eu-1'?)"
        ],
    ),
    (
        "a valid fleet-wide rollout",
        APPS
        + """\
  - name: web
    source: platform
    path: apps/web
rollout:
  waves:
    - {name: dev, selector: {matchLabels: {env: dev}}, soak: 10m}
    - {name: prod, selector: {matchLabels: {env: prod}}, maxParallel: 25%, failureBudget: 1}
""",
        [],
    ),
]


@pytest.mark.parametrize(
    ("text", "expected"),
    [pytest.param(text, expected, id=name) for name, text, expected in CASES + ROLLOUT_CASES],
)
def test_reports(
    write_config: WriteConfig, config_dir: Path, text: str, expected: list[str]
) -> None:
    path = write_config(text)
    _, issues = check_fleet_config(path)
    assert [str(issue) for issue in issues] == [
        line.replace("{dir}", str(config_dir)) for line in expected
    ]


def test_load_raises_with_every_error(write_config: WriteConfig) -> None:
    (text,) = [text for name, text, _ in CASES if name == "all errors at once, across sections"]
    path = write_config(text)
    with pytest.raises(ConfigError) as raised:
        load_fleet_config(path)
    assert len(raised.value.errors) == 3
    assert str(raised.value).splitlines()[0].startswith("fleet.yaml:8:5: clusters[1].tokenFil:")


def test_missing_config_file(config_dir: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        load_fleet_config(Path("nope.yaml"))
    assert str(raised.value) == "nope.yaml: file not found"


def test_missing_files_can_be_lowered_to_warnings(write_config: WriteConfig) -> None:
    path = write_config(BASE.replace("tokenFile: token", "tokenFile: secrets/token") + "apps: []\n")
    config = load_fleet_config(path, missing_files="warning")
    assert [issue.severity for issue in config.warnings] == ["warning"]
    assert config.cluster("dev-1").token_file == Path.cwd() / "secrets" / "token"


def test_unreadable_file_is_a_warning(
    write_config: WriteConfig, config_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Tests run as root, who reads everything: play a user without read permission.
    real_access = os.access
    token = config_dir / "token"
    monkeypatch.setattr(
        "fleet.config.files.os.access",
        lambda path, mode: False if Path(path) == token else real_access(path, mode),
    )
    config = load_fleet_config(write_config(BASE + "apps: []\n"))
    assert [str(w) for w in config.warnings] == [
        f"fleet.yaml:8:16: warning: clusters[1].tokenFile: {token} is not readable by this "
        "user (the daemon's user must be able to read it)"
    ]


def test_file_in_a_closed_directory_is_a_warning(
    write_config: WriteConfig, config_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_stat = Path.stat
    token = config_dir / "token"

    def stat(self: Path, **kwargs: bool) -> os.stat_result:
        if self == token:
            raise PermissionError(13, "Permission denied")
        return real_stat(self, **kwargs)

    monkeypatch.setattr(Path, "stat", stat)
    config = load_fleet_config(write_config(BASE + "apps: []\n"))
    assert [str(w) for w in config.warnings] == [
        f"fleet.yaml:8:16: warning: clusters[1].tokenFile: cannot check {token}: permission "
        "denied for this user (the daemon's user may still read it)"
    ]


def test_secret_readable_by_others_is_a_warning(
    write_config: WriteConfig, config_dir: Path
) -> None:
    (config_dir / "token").chmod(0o644)
    config = load_fleet_config(write_config(BASE + "apps: []\n"))
    assert [str(w) for w in config.warnings] == [
        f"fleet.yaml:8:16: warning: clusters[1].tokenFile: {config_dir}/token holds a secret "
        "but other users can access it (mode 0644); chmod 600 or 640"
    ]
