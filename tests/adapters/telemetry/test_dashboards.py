"""The example Grafana dashboard and Prometheus rules use only metrics fleet exposes.

A renamed metric would leave a dashboard panel empty and an alert silent, which nobody
notices until the day it should have fired; so every ``fleet_*`` name in config/ is
checked against the daemon's registry, and the rules file is checked (and its alerts
unit-tested) with promtool, Prometheus' own tool.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from fleet.adapters.telemetry.metrics import FleetMetrics

ROOT = Path(__file__).resolve().parents[3]
DASHBOARD = ROOT / "config" / "grafana-dashboard.json"
RULES = ROOT / "config" / "prometheus-rules.yaml"
RULES_TESTS = Path(__file__).with_name("prometheus-rules-test.yaml")
NAME = re.compile(r"\bfleet_[a-z0-9_]+\b")


def dashboard_queries() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    queries = [
        target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])
    ]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            queries.append(variable["query"]["query"])
    return queries


def rule_expressions() -> list[str]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule["expr"] for group in groups for rule in group["rules"]]


@pytest.mark.parametrize(
    ("where", "expressions"),
    [("dashboard", dashboard_queries()), ("rules", rule_expressions())],
)
def test_every_metric_used_exists(where: str, expressions: list[str]) -> None:
    known = FleetMetrics().sample_names()
    used = {name for expr in expressions for name in NAME.findall(expr)}
    assert used, f"the {where} queries no fleet metric"
    missing = sorted(used - known)
    assert not missing, f"the {where} uses metrics fleet does not expose: {missing}"


def test_the_dashboard_covers_what_operators_ask() -> None:
    used = {name for expr in dashboard_queries() for name in NAME.findall(expr)}
    for family in (
        "fleet_app_sync_status",
        "fleet_app_health_status",
        "fleet_syncs_total",
        "fleet_sync_duration_seconds_bucket",
        "fleet_drift_events_total",
        "fleet_git_fetch_duration_seconds_bucket",
        "fleet_render_cache_hits_total",
        "fleet_kube_requests_total",
        "fleet_cluster_reachable",
        "fleet_work_queued",
    ):
        assert family in used, family
    dashboard = json.loads(DASHBOARD.read_text())
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == "${datasource}", panel["title"]


def test_the_rules_alert_on_what_the_issue_names() -> None:
    alerts = {
        rule["alert"]
        for group in yaml.safe_load(RULES.read_text())["groups"]
        for rule in group["rules"]
    }
    assert {
        "FleetAppOutOfSync",
        "FleetSyncsFailing",
        "FleetClusterUnreachable",
        "FleetNotReconciling",
    } <= alerts


def _promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.skip("promtool is not installed (Debian package prometheus)")
    return path


def test_promtool_checks_the_rules() -> None:
    result = subprocess.run(
        [_promtool(), "check", "rules", str(RULES)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_unit_tests_the_alerts() -> None:
    result = subprocess.run(
        [_promtool(), "test", "rules", RULES_TESTS.name],
        cwd=RULES_TESTS.parent,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
