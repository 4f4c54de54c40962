"""``syncWindows`` in the fleet config: what is refused, and which app x cluster each covers."""

from __future__ import annotations

from datetime import timedelta

import pytest

from fleet.config import check_fleet_config, load_fleet_config
from fleet.config.windows import windows_for
from tests.config.conftest import WriteConfig

BASE = """\
clusters:
  - {name: prod-eu-1, server: https://127.0.0.1:6443, tokenFile: token, labels: {env: prod}}
  - {name: dev-1, server: https://127.0.0.1:6444, tokenFile: token, labels: {env: dev}}
sources:
  - {name: platform, url: file:///srv/git/platform.git, branch: main}
apps:
  - {name: web, source: platform, path: apps/web, namespace: web}
  - {name: api, source: platform, path: apps/api, namespace: team-a-api}
syncWindows:
"""


def test_a_window_in_argo_cds_shape_loads(write_config: WriteConfig) -> None:
    path = write_config(
        BASE
        + """\
  - name: weekend-freeze
    kind: deny
    schedule: "0 18 * * 5"
    duration: 60h
    timeZone: Europe/Berlin
    manualSync: true
    clusters: [prod-*]
"""
    )
    config = load_fleet_config(path, files=False)
    (window,) = config.sync_windows
    assert window.kind == "deny"
    assert window.duration == timedelta(hours=60)
    assert window.time_zone == "Europe/Berlin"
    assert window.manual_sync is True
    engine = window.engine_window(0)
    assert (engine.name, engine.schedule, engine.time_zone) == (
        "weekend-freeze",
        "0 18 * * 5",
        "Europe/Berlin",
    )


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        (
            '{kind: deny, schedule: "0 22 * *", duration: 1h}',
            "syncWindows[0].schedule: invalid schedule '0 22 * *': write five cron fields",
        ),
        (
            '{kind: deny, schedule: "0 0 30 2 *", duration: 1h}',
            "syncWindows[0].schedule: schedule '0 0 30 2 *' never fires",
        ),
        (
            '{kind: deny, schedule: "0 22 * * *", duration: 0s}',
            "syncWindows[0].duration: must be longer than 0s",
        ),
        (
            '{kind: deny, schedule: "0 22 * * *", duration: 1h, timeZone: Mars/Olympus}',
            "syncWindows[0].timeZone: unknown time zone 'Mars/Olympus'",
        ),
        (
            '{kind: maybe, schedule: "0 22 * * *", duration: 1h}',
            "syncWindows[0].kind:",
        ),
        (
            '{kind: deny, schedule: "0 22 * * *", duration: 1h, andOperator: true}',
            "syncWindows[0].andOperator:",
        ),
        (
            '{kind: deny, schedule: "0 22 * * *", duration: 1h, clusters: ["prod eu"]}',
            "syncWindows[0].clusters: invalid cluster pattern 'prod eu'",
        ),
    ],
)
def test_mistakes_are_refused_with_their_line(
    write_config: WriteConfig, entry: str, expected: str
) -> None:
    path = write_config(BASE + f"  - {entry}\n")
    config, issues = check_fleet_config(path, files=False)
    errors = [str(i) for i in issues if i.severity == "error"]
    assert config is None
    assert any(expected in e and "fleet.yaml:10:" in e for e in errors), errors


def test_duplicate_names_are_errors_and_unknown_plain_names_warnings(
    write_config: WriteConfig,
) -> None:
    path = write_config(
        BASE
        + """\
  - {name: freeze, kind: deny, schedule: "0 22 * * *", duration: 1h, clusters: [prod-eu-2]}
  - {name: freeze, kind: deny, schedule: "0 22 * * *", duration: 1h, applications: [wbe]}
"""
    )
    _, issues = check_fleet_config(path, files=False)
    shown = [str(i) for i in issues]
    assert any("duplicate window name 'freeze' (also syncWindows[0])" in s for s in shown), shown
    assert any(
        "warning: syncWindows[0].clusters[0]: no cluster named 'prod-eu-2'" in s for s in shown
    ), shown
    assert any("no app named 'wbe' (did you mean 'web'?)" in s for s in shown), shown


@pytest.mark.parametrize(
    ("selectors", "covered"),
    [
        ("", {("web", "prod-eu-1"), ("web", "dev-1"), ("api", "prod-eu-1"), ("api", "dev-1")}),
        ("applications: [web]", {("web", "prod-eu-1"), ("web", "dev-1")}),
        ("clusters: ['prod-*']", {("web", "prod-eu-1"), ("api", "prod-eu-1")}),
        ("clusterSelector: {matchLabels: {env: dev}}", {("web", "dev-1"), ("api", "dev-1")}),
        ("namespaces: ['team-a-*']", {("api", "prod-eu-1"), ("api", "dev-1")}),
        # Every list given must match (fleet ANDs them; Argo CD ORs them by default).
        ("applications: [web], clusters: ['prod-*']", {("web", "prod-eu-1")}),
        (
            "applications: [api], clusterSelector: {matchLabels: {env: prod}}",
            {("api", "prod-eu-1")},
        ),
    ],
)
def test_which_app_x_cluster_a_window_covers(
    write_config: WriteConfig, selectors: str, covered: set[tuple[str, str]]
) -> None:
    extra = f", {selectors}" if selectors else ""
    path = write_config(
        BASE + f'  - {{name: w, kind: deny, schedule: "0 22 * * *", duration: 1h{extra}}}\n'
    )
    config = load_fleet_config(path, files=False)
    found = {
        (app.name, cluster.name)
        for app in config.apps
        for cluster in config.targets(app)
        if windows_for(config.sync_windows, app, cluster)
    }
    assert found == covered


def test_a_dependency_missing_some_of_the_apps_clusters_is_a_warning(
    write_config: WriteConfig,
) -> None:
    path = write_config(
        BASE.removesuffix("syncWindows:\n")
        + """\
  - name: db
    source: platform
    path: apps/db
    clusters: {matchLabels: {env: prod}}
  - name: shop
    source: platform
    path: apps/shop
    dependsOn: [db, web]
"""
    )
    config, issues = check_fleet_config(path, files=False)
    assert config is not None
    shown = [str(i) for i in issues]
    assert shown == [
        "fleet.yaml:16:17: warning: apps[3].dependsOn[0]: app db does not run on dev-1: "
        "shop does not wait for it there"
    ], shown
