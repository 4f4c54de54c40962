"""The ``notifications`` section: every mistake with file:line:col, its path and a hint.

``BASE`` (lines 1-17) is a valid fleet of two clusters, one source and one app, whose
notifications section starts at line 18; each case appends to it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from fleet.config import check_fleet_config, load_fleet_config
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
apps:
  - name: web
    source: platform
    path: apps/web
notifications:
"""

SLACK = """\
  destinations:
    - name: chat
      slack: {urlFile: token}
"""

CASES: list[tuple[str, str, list[str]]] = [
    (
        "unknown destination, with the near miss",
        SLACK
        + """\
  rules:
    - {name: failures, events: [sync_failed], destinations: [caht]}
""",
        [
            "fleet.yaml:20:13: warning: notifications.destinations[0].name: no rule sends to "
            "destination 'chat'",
            "fleet.yaml:23:62: notifications.rules[0].destinations[0]: no destination named "
            "'caht' (did you mean 'chat'?)",
        ],
    ),
    (
        "misspelt event kind",
        SLACK
        + """\
  rules:
    - {name: failures, events: [sync_failed, health_degarded], destinations: [chat]}
""",
        [
            "fleet.yaml:23:46: notifications.rules[0].events[1]: unknown event kind "
            "'health_degarded' (did you mean 'health_degraded'?)"
        ],
    ),
    (
        "unknown app and cluster names; a glob and a selector that match nothing",
        SLACK
        + """\
  rules:
    - name: prod
      events: [drift]
      apps: [wbe, "api-*"]
      clusters: [prod-eu-2]
      clusterSelector: {matchLabels: {env: prdo}}
      destinations: [chat]
""",
        [
            "fleet.yaml:25:14: notifications.rules[0].apps[0]: no app named 'wbe' "
            "(did you mean 'web'?)",
            "fleet.yaml:25:19: warning: notifications.rules[0].apps[1]: 'api-*' matches no "
            "app, so it selects nothing",
            "fleet.yaml:26:18: notifications.rules[0].clusters[0]: no cluster named "
            "'prod-eu-2' (did you mean 'prod-eu-1'?)",
            "fleet.yaml:27:24: warning: notifications.rules[0].clusterSelector: selects no "
            "cluster (env=prdo), so the rule never fires",
        ],
    ),
    (
        "an inline Slack URL is refused",
        """\
  destinations:
    - name: chat
      slack: {url: "https://hooks.slack.com/services/T0/B0/X"}
""",
        [
            "fleet.yaml:21:15: notifications.destinations[0].slack.url: credentials are never "
            "written inline (url): put it in a file and give urlFile"
        ],
    ),
    (
        "unknown key in a destination, with the near miss",
        """\
  destinations:
    - name: hook
      webhook: {url: "https://hooks.example.com/fleet", secretFle: token}
""",
        [
            "fleet.yaml:21:57: notifications.destinations[0].webhook.secretFle: unknown key "
            "'secretFle' (did you mean 'secretFile'?)"
        ],
    ),
    (
        "two kinds in one destination",
        """\
  destinations:
    - name: both
      webhook: {url: "https://hooks.example.com/fleet"}
      slack: {urlFile: token}
""",
        [
            "fleet.yaml:22:7: notifications.destinations[0].slack: one kind per destination, "
            "not webhook and slack"
        ],
    ),
    (
        "email: a bad address (the TLS rule waits until every key is valid)",
        """\
  destinations:
    - name: mail
      email:
        host: smtp.example.com
        tls: none
        usernameFile: token
        passwordFile: token
        from: fleet
        to: [oncall@example.com]
""",
        [
            "fleet.yaml:26:15: notifications.destinations[0].email.from: invalid email "
            "address 'fleet'"
        ],
    ),
    (
        "email: login without TLS",
        """\
  destinations:
    - name: mail
      email:
        host: smtp.example.com
        tls: none
        usernameFile: token
        passwordFile: token
        from: fleet@example.com
        to: [oncall@example.com]
""",
        [
            "fleet.yaml:23:9: notifications.destinations[0].email.tls: a password is never "
            "sent without TLS: use tls starttls or tls"
        ],
    ),
    (
        "a link template with an unknown placeholder",
        """\
  link: "https://grafana.example.com/d/fleet?var-app={app}&var-cluster={clustr}"
""",
        [
            "fleet.yaml:19:9: notifications.link: unknown placeholder {clustr} (did you mean "
            "'cluster'?): use {app}, {cluster}, {revision}, {kind}, {syncId}, {rule}"
        ],
    ),
    (
        "a credential file that does not exist; duplicate names",
        """\
  destinations:
    - name: chat
      slack: {urlFile: secrets/slack-url}
  rules:
    - {name: r, events: ["*"], destinations: [chat]}
    - {name: r, events: [drift], destinations: [chat]}
""",
        [
            "fleet.yaml:21:24: notifications.destinations[0].slack.urlFile: file not found: "
            "{dir}/secrets/slack-url",
            "fleet.yaml:24:14: notifications.rules[1].name: duplicate name 'r' (also "
            "notifications.rules[0])",
        ],
    ),
    (
        "a bad group window",
        """\
  groupWindow: soon
""",
        [
            "fleet.yaml:19:16: notifications.groupWindow: invalid duration 'soon': write a "
            "number with a unit (ms, s, m, h, d), like 30s or 1h30m"
        ],
    ),
]


@pytest.mark.parametrize(("behaviour", "text", "expected"), CASES, ids=[c[0] for c in CASES])
def test_reports(
    write_config: WriteConfig, config_dir: Path, behaviour: str, text: str, expected: list[str]
) -> None:
    path = write_config(BASE + text)
    _, issues = check_fleet_config(path)
    assert [str(issue) for issue in issues] == [
        line.replace("{dir}", str(config_dir)) for line in expected
    ]


def test_a_full_section_loads(write_config: WriteConfig, config_dir: Path) -> None:
    path = write_config(
        BASE
        + """\
  link: "https://grafana.example.com/d/fleet?var-app={app}&var-cluster={cluster}"
  groupWindow: 10m
  timeout: 5s
  retry: {limit: 3, backoff: {duration: 2s}}
  destinations:
    - name: chat
      slack: {urlFile: token}
    - name: hook
      webhook: {url: "https://hooks.example.com/fleet", secretFile: token}
    - name: mail
      email:
        host: smtp.example.com
        usernameFile: token
        passwordFile: token
        from: "fleet <fleet@example.com>"
        to: [oncall@example.com]
  rules:
    - name: prod-failures
      events: [sync_failed, health_degraded, prune_refused]
      clusterSelector: {matchLabels: {env: prod}}
      destinations: [chat, mail]
    - name: everything
      events: ["*"]
      apps: ["w*"]
      destinations: [hook]
      groupWindow: 0s
"""
    )
    config = load_fleet_config(path)
    assert config.warnings == []
    notifications = config.notifications
    assert notifications is not None
    assert [d.kind for d in notifications.destinations] == ["slack", "webhook", "email"]
    mail = notifications.destination("mail").email
    assert mail is not None
    assert (mail.port, mail.tls, mail.sender) == (587, "starttls", "fleet <fleet@example.com>")
    assert mail.password_file == config_dir / "token"
    everything = notifications.rules[1]
    assert notifications.window_of(everything).total_seconds() == 0
    assert notifications.window_of(notifications.rules[0]).total_seconds() == 600
    assert notifications.retry.limit == 3


ROOT = Path(__file__).resolve().parents[2]


def test_example_in_config_fleet_yaml_validates_once_uncommented(tmp_path: Path) -> None:
    text = (ROOT / "config" / "fleet.yaml").read_text()
    start = text.index("# notifications:")
    block = "\n".join(line.removeprefix("# ") for line in text[start:].splitlines())
    path = tmp_path / "config" / "fleet.yaml"
    path.parent.mkdir()
    (path.parent / "kubeconfigs").symlink_to(ROOT / "config" / "kubeconfigs")
    path.write_text(text[:start] + block + "\n")
    config, issues = check_fleet_config(path, missing_files="warning")
    assert config is not None
    assert config.notifications is not None
    assert [i.message.split(":")[0] for i in issues] == ["file not found"] * 4
    assert {d.kind for d in config.notifications.destinations} == {"slack", "email", "webhook"}


def test_docs_example_validates(tmp_path: Path) -> None:
    """docs/notifications.md's example, added to the fleet config of docs/config.md."""
    docs = ROOT / "docs"
    (fleet,) = [
        block
        for block in re.findall(r"```yaml\n(.*?)```", (docs / "config.md").read_text(), re.S)
        if block.startswith("# fleet.yaml")
    ]
    (notifications,) = [
        block
        for block in re.findall(r"```yaml\n(.*?)```", (docs / "notifications.md").read_text(), re.S)
        if block.startswith("# fleet.yaml")
    ]
    path = tmp_path / "fleet.yaml"
    path.write_text(fleet + notifications)
    config, issues = check_fleet_config(path, files=False)
    assert [str(i) for i in issues] == []
    assert config is not None
    assert config.notifications is not None
    assert [r.name for r in config.notifications.rules] == [
        "prod-trouble",
        "deployments",
        "everything-to-the-bot",
    ]
