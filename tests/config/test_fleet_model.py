"""What a valid fleet config means: targets, paths, Helm values, waves, dependency order."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from fleet.config import load_fleet_config
from fleet.config.options import sync_options
from fleet.config.selectors import ClusterSelector
from fleet.config.types import Amount, format_duration, parse_amount, parse_duration
from fleet.engine.options import SyncOptions
from fleet.engine.rollout import RolloutWave
from tests.config.conftest import WriteConfig

#: The example from the issue, exactly as users will write it.
ISSUE_EXAMPLE = """\
clusters:
  - name: prod-eu-1
    kubeconfig: kubeconfigs/prod.yaml     # relative paths are relative to this file
    context: prod-eu-1
    labels: {env: prod, region: eu}
sources:
  - name: platform
    url: ssh://git@git.example.com/platform.git
    branch: main                          # or tag: v1.2.3, or commit: <sha>
    interval: 30s
    auth: {sshKeyFile: /etc/fleet/keys/platform, knownHostsFile: /etc/fleet/known_hosts}
apps:
  - name: web
    source: platform
    path: apps/web/overlays/{cluster.labels.env}
    namespace: web
    clusters: {matchLabels: {env: prod}}  # left out: every cluster
    syncPolicy: {automated: true, prune: true, selfHeal: true}
"""


def test_issue_example_validates_as_written(write_config: WriteConfig, config_dir: Path) -> None:
    # The SSH key and known_hosts live in /etc/fleet on the daemon's host, not here.
    config = load_fleet_config(write_config(ISSUE_EXAMPLE), missing_files="warning")
    assert {w.path for w in config.warnings} == {
        ("sources", 0, "auth", "sshKeyFile"),
        ("sources", 0, "auth", "knownHostsFile"),
    }
    cluster = config.cluster("prod-eu-1")
    assert cluster.kubeconfig == config_dir / "kubeconfigs" / "prod.yaml"
    source = config.source("platform")
    assert (source.transport, source.ref, source.interval) == (
        "ssh",
        "refs/heads/main",
        timedelta(seconds=30),
    )
    app = config.app("web")
    assert config.targets(app) == [cluster]
    assert app.path_for(cluster) == "apps/web/overlays/prod"
    assert (app.sync_policy.automated, app.sync_policy.prune, app.sync_policy.self_heal) == (
        True,
        True,
        True,
    )
    assert app.namespace == "web"
    assert app.deletion_policy == "keep"


def test_issue_example_with_its_files_present_has_no_issue(
    write_config: WriteConfig, config_dir: Path
) -> None:
    text = ISSUE_EXAMPLE.replace("/etc/fleet/keys/platform", "id_ed25519").replace(
        "/etc/fleet/known_hosts", "known_hosts"
    )
    config = load_fleet_config(write_config(text))
    assert config.warnings == []


FLEET = """\
clusters:
  - {name: dev-1, server: "https://127.0.0.1:1", tokenFile: token, labels: {env: dev}}
  - {name: stage-1, server: "https://127.0.0.1:2", tokenFile: token, labels: {env: staging}}
  - {name: prod-eu-1, server: "https://127.0.0.1:3", tokenFile: token,
     labels: {env: prod, region: eu}}
  - {name: prod-us-1, server: "https://127.0.0.1:4", tokenFile: token,
     labels: {env: prod, region: us}}
sources:
  - {name: platform, url: "file:///srv/platform.git", tag: v1.2.3}
apps:
  - name: db
    source: platform
    path: apps/db/{cluster.name}
    dependsOn: [web]
  - name: web
    source: platform
    path: charts/web
    renderer: helm
    helm:
      valuesFiles: [values.yaml, "../../values/{cluster.labels.env}.yaml"]
      values: {replicas: 1, image: {tag: v1, pull: Always}}
      valuesByLabel:
        env: {prod: {replicas: 3}}
        region: {us: {image: {tag: v1-us}}}
      valuesByCluster: {prod-us-1: {replicas: 5}}
    clusters:
      matchExpressions: [{key: env, operator: NotIn, values: [staging]}]
    dependsOn: [config]
  - name: config
    source: platform
    path: apps/config
rollout:
  waves:
    - {name: dev, selector: {matchLabels: {env: dev}}, soak: 5m}
    - {name: staging, selector: {matchLabels: {env: staging}}}
    - name: prod
      selector: {matchLabels: {env: prod}}
      maxParallel: 50%
      maxUnavailable: 1
      failureBudget: 1
  rollbackOnHalt: true
"""


def test_targets_and_helm_values(write_config: WriteConfig) -> None:
    config = load_fleet_config(write_config(FLEET))
    web = config.app("web")
    assert [c.name for c in config.targets(web)] == ["dev-1", "prod-eu-1", "prod-us-1"]
    us = config.cluster("prod-us-1")
    helm = web.helm_for(us)
    assert helm.release_name == "web"
    assert helm.values_files == ["charts/web/values.yaml", "values/prod.yaml"]
    assert helm.values == {"replicas": 5, "image": {"tag": "v1-us", "pull": "Always"}}
    assert web.helm_for(config.cluster("dev-1")).values == {
        "replicas": 1,
        "image": {"tag": "v1", "pull": "Always"},
    }
    assert config.app("db").path_for(us) == "apps/db/prod-us-1"


def test_waves_and_engine_plan(write_config: WriteConfig) -> None:
    config = load_fleet_config(write_config(FLEET))
    web = config.app("web")
    assert [(w.wave.name, [c.name for c in w.clusters]) for w in config.waves_for(web)] == [
        ("dev", ["dev-1"]),
        ("staging", []),
        ("prod", ["prod-eu-1", "prod-us-1"]),
    ]
    plan = config.rollout_plan(web)
    assert plan.rollback_on_halt
    assert plan.waves == (
        RolloutWave(name="dev", clusters=("dev-1",), soak_seconds=300.0),
        RolloutWave(
            name="prod",
            clusters=("prod-eu-1", "prod-us-1"),
            max_parallel=1,
            max_unavailable=1,
            failure_budget=1,
        ),
    )


def test_no_rollout_is_one_wave_of_every_target(write_config: WriteConfig) -> None:
    text = FLEET[: FLEET.index("rollout:")]
    config = load_fleet_config(write_config(text))
    plan = config.rollout_plan(config.app("config"))
    assert [w.clusters for w in plan.waves] == [("dev-1", "stage-1", "prod-eu-1", "prod-us-1")]


def test_dependency_order(write_config: WriteConfig) -> None:
    config = load_fleet_config(write_config(FLEET))
    assert [a.name for a in config.apps_in_dependency_order()] == ["config", "web", "db"]


def test_defaults_are_cautious(write_config: WriteConfig) -> None:
    config = load_fleet_config(write_config(FLEET))
    policy = config.app("config").sync_policy
    assert (policy.automated, policy.prune, policy.self_heal, policy.allow_empty) == (
        False,
        False,
        False,
        False,
    )
    assert policy.prune_guard.max_share == 0.5
    assert policy.timeouts.wave == timedelta(minutes=5)


def test_sync_options_for_the_engine(write_config: WriteConfig) -> None:
    text = FLEET.replace(
        "    path: apps/config\n",
        "    path: apps/config\n"
        "    namespace: config\n"
        "    syncPolicy:\n"
        "      prune: true\n"
        "      pruneGuard: {maxShare: 20%, minObjects: 10}\n"
        "      timeouts: {wave: 90s, hook: 1h, prune: 30s}\n"
        "      retry: {limit: 2, backoff: {duration: 2s, factor: 3, maxDuration: 20s}}\n"
        "    ignoreDifferences: [{kind: Deployment, jsonPointers: [/spec/replicas]}]\n"
        "    health:\n"
        "      - {kind: Postgres, rules: [{when: [{condition: Ready, status: 'True'}], "
        "health: Healthy}]}\n",
    )
    options = sync_options(load_fleet_config(write_config(text)).app("config"))
    assert (options.prune, options.namespace) == (True, "config")
    assert (options.prune_guard_share, options.prune_guard_min_objects) == (0.2, 10)
    assert (options.timeouts.health, options.timeouts.hook, options.timeouts.deletion) == (
        90.0,
        3600.0,
        30.0,
    )
    retry = options.retry
    assert (retry.max_attempts, retry.base_delay, retry.factor, retry.max_delay) == (
        2,
        2.0,
        3.0,
        20.0,
    )
    assert options.ignore_differences[0].json_pointers == ("/spec/replicas",)
    assert options.health_rules[0].kind == "Postgres"


def test_default_sync_options_are_the_engine_defaults(write_config: WriteConfig) -> None:
    config = load_fleet_config(write_config(FLEET))
    options = sync_options(config.app("config"))
    # The config differs from the engine only where it is more cautious: no pruning.
    assert replace(options, prune=True) == SyncOptions()


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ({}, ["a", "b", "c"]),
        ({"matchLabels": {"env": "prod"}}, ["a", "b"]),
        ({"matchExpressions": [{"key": "env", "operator": "In", "values": ["dev"]}]}, ["c"]),
        (
            {"matchExpressions": [{"key": "region", "operator": "NotIn", "values": ["eu"]}]},
            ["b", "c"],
        ),
        ({"matchExpressions": [{"key": "region", "operator": "Exists"}]}, ["a", "b"]),
        ({"matchExpressions": [{"key": "region", "operator": "DoesNotExist"}]}, ["c"]),
        (
            {
                "matchLabels": {"env": "prod"},
                "matchExpressions": [{"key": "region", "operator": "In", "values": ["us"]}],
            },
            ["b"],
        ),
        ({"names": ["c", "a"]}, ["a", "c"]),
        ({"names": []}, []),
    ],
)
def test_selectors(selector: dict[str, object], expected: list[str]) -> None:
    from dataclasses import dataclass, field

    @dataclass
    class Target:
        name: str
        labels: dict[str, str] = field(default_factory=dict)

    clusters = [
        Target("a", {"env": "prod", "region": "eu"}),
        Target("b", {"env": "prod", "region": "us"}),
        Target("c", {"env": "dev"}),
    ]
    chosen = ClusterSelector.model_validate(selector).select(clusters)
    assert [c.name for c in chosen] == expected


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("5m", 300), ("1h30m", 5400), ("500ms", 0.5), ("2d", 172800), ("0", 0)],
)
def test_durations(text: str, seconds: float) -> None:
    parsed = parse_duration(text)
    assert parsed.total_seconds() == seconds
    assert parse_duration(format_duration(parsed)) == parsed


@pytest.mark.parametrize(
    ("text", "total", "count"),
    [(2, 10, 2), ("25%", 10, 2), ("100%", 3, 3), ("50%", 1, 0)],
)
def test_amounts(text: object, total: int, count: int) -> None:
    amount = parse_amount(text)
    assert isinstance(amount, Amount)
    assert amount.of(total) == count
