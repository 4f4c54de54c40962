"""FleetMetrics: names, labels, values and the scrape-time state gauges."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from fleet.adapters.telemetry.metrics import (
    HEALTH_STATUSES,
    SYNC_STATUSES,
    AppClusterState,
    FleetMetrics,
    FleetState,
)


def scrape(metrics: FleetMetrics) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    payload, content_type = metrics.exposition()
    assert content_type.startswith("text/plain; version=0.0.4")
    samples = {}
    for family in text_string_to_metric_families(payload.decode()):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def key(name: str, **labels: str) -> tuple[str, frozenset[tuple[str, str]]]:
    return name, frozenset(labels.items())


def test_syncs_and_their_durations_by_app_cluster_result() -> None:
    metrics = FleetMetrics("1.2.3")
    metrics.observe_sync("web", "prod", "Succeeded", 12.0)
    metrics.observe_sync("web", "prod", "Failed", 3.0)
    metrics.observe_sync("web", "prod", "Succeeded", 700.0)
    metrics.observe_sync("web", "dev", "Succeeded", 1.0, dry_run=True)  # not counted
    samples = scrape(metrics)
    assert samples[key("fleet_syncs_total", app="web", cluster="prod", result="Succeeded")] == 2
    assert samples[key("fleet_syncs_total", app="web", cluster="prod", result="Failed")] == 1
    assert key("fleet_syncs_total", app="web", cluster="dev", result="Succeeded") not in samples
    count = key("fleet_sync_duration_seconds_count", app="web", cluster="prod")
    assert samples[count] == 3
    assert samples[key("fleet_sync_duration_seconds_sum", app="web", cluster="prod")] == 715
    bucket = key("fleet_sync_duration_seconds_bucket", app="web", cluster="prod", le="600.0")
    assert samples[bucket] == 2
    assert samples[key("fleet_build_info", version="1.2.3")] == 1


def test_requests_fetches_renders_events() -> None:
    metrics = FleetMetrics()
    metrics.observe_request("prod", "patch", 200, 0.02)
    metrics.observe_request("prod", "patch", 409, 0.01)
    metrics.observe_request("prod", "get", 0, 10.0)
    metrics.observe_request("prod", "watch", 200, 300.0)
    metrics.observe_fetch("platform", 0.3, ok=True)
    metrics.observe_fetch("platform", 5.0, ok=False)
    metrics.observe_render("web", 0.2, cache_hit=False, ok=True)
    metrics.observe_render("web", 0.001, cache_hit=True, ok=True)
    metrics.observe_render("web", 0.1, cache_hit=False, ok=False)
    metrics.observe_step("web", "PreSync", 4.0)
    metrics.count_event("drift", "web", "prod")
    metrics.count_event("drift", "web", "prod")
    metrics.count_event("sync_failed", "web", "dev")
    metrics.count_rollout("web", "Halted")
    s = scrape(metrics)
    assert s[key("fleet_kube_requests_total", cluster="prod", verb="patch", code="200")] == 1
    assert s[key("fleet_kube_requests_total", cluster="prod", verb="patch", code="409")] == 1
    assert s[key("fleet_kube_requests_total", cluster="prod", verb="get", code="unreachable")] == 1
    assert s[key("fleet_kube_requests_total", cluster="prod", verb="watch", code="200")] == 1
    # A watch lasts minutes by design: its duration would drown the latency histogram.
    assert key("fleet_kube_request_duration_seconds_count", cluster="prod", verb="watch") not in s
    assert s[key("fleet_kube_request_duration_seconds_count", cluster="prod", verb="patch")] == 2
    assert s[key("fleet_git_fetch_duration_seconds_count", source="platform")] == 2
    assert s[key("fleet_git_fetch_failures_total", source="platform")] == 1
    assert s[key("fleet_git_last_fetch_timestamp_seconds", source="platform")] > 1e9
    assert s[key("fleet_render_duration_seconds_count", app="web")] == 3
    assert s[key("fleet_render_cache_hits_total", app="web")] == 1
    assert s[key("fleet_render_failures_total", app="web")] == 1
    assert s[key("fleet_sync_step_duration_seconds_count", app="web", phase="PreSync")] == 1
    assert s[key("fleet_drift_events_total", app="web", cluster="prod")] == 2
    assert key("fleet_drift_events_total", app="web", cluster="dev") not in s
    assert s[key("fleet_events_total", kind="sync_failed")] == 1
    assert s[key("fleet_rollouts_total", app="web", result="Halted")] == 1


def test_state_gauges_are_read_at_scrape_time() -> None:
    metrics = FleetMetrics()
    state = FleetState(
        apps=[
            AppClusterState("web", "prod", "OutOfSync", "Degraded"),
            AppClusterState("web", "dev", "Synced", "Healthy"),
        ],
        clusters={"prod": False, "dev": True, "new": None},
        reconciles_queued=2,
        syncs_waiting=3,
        syncs_running=1,
        notifications={"slack": {"sent": 3, "failed": 1, "dropped": 0}},
    )
    current = [state]
    metrics.watch_state(lambda: current[0])
    s = scrape(metrics)
    for status in SYNC_STATUSES:
        expected = 1 if status == "OutOfSync" else 0
        assert s[key("fleet_app_sync_status", app="web", cluster="prod", status=status)] == expected
    for health in HEALTH_STATUSES:
        expected = 1 if health == "Healthy" else 0
        assert (
            s[key("fleet_app_health_status", app="web", cluster="dev", health=health)] == expected
        )
    assert s[key("fleet_cluster_reachable", cluster="prod")] == 0
    assert s[key("fleet_cluster_reachable", cluster="dev")] == 1
    assert key("fleet_cluster_reachable", cluster="new") not in s  # not known yet
    assert s[key("fleet_work_queued", queue="reconcile")] == 2
    assert s[key("fleet_work_queued", queue="sync_slot")] == 3
    assert s[key("fleet_syncs_running")] == 1
    assert s[key("fleet_app_clusters")] == 2
    assert s[key("fleet_notifications_total", destination="slack", outcome="sent")] == 3
    assert s[key("fleet_notifications_total", destination="slack", outcome="failed")] == 1
    # The next scrape sees the next state: nothing is cached.
    current[0] = FleetState(apps=[AppClusterState("web", "prod", "Synced", "Healthy")])
    s = scrape(metrics)
    assert s[key("fleet_app_sync_status", app="web", cluster="prod", status="Synced")] == 1
    assert key("fleet_app_sync_status", app="web", cluster="dev", status="Synced") not in s


def test_each_daemon_has_its_own_registry() -> None:
    one, two = FleetMetrics(), FleetMetrics()
    one.observe_sync("web", "prod", "Succeeded", 1.0)
    assert key("fleet_syncs_total", app="web", cluster="prod", result="Succeeded") in scrape(one)
    assert key("fleet_syncs_total", app="web", cluster="prod", result="Succeeded") not in scrape(
        two
    )


def test_names_follow_prometheus_conventions_and_labels_stay_bounded() -> None:
    metrics = FleetMetrics()
    for family in metrics.registry.collect():
        assert family.name.startswith("fleet_"), family.name
        assert family.documentation, family.name
        if family.type == "histogram":
            assert family.name.endswith("_seconds"), family.name
    names = metrics.sample_names()
    assert "fleet_syncs_total" in names
    assert "fleet_sync_duration_seconds_bucket" in names
    assert "fleet_app_sync_status" in names
    forbidden = {"revision", "sha", "name", "object", "message", "namespace"}
    for metric in (
        metrics.syncs,
        metrics.sync_duration,
        metrics.step_duration,
        metrics.drift,
        metrics.kube_requests,
        metrics.render_duration,
        metrics.git_fetch_duration,
    ):
        assert not forbidden & set(metric._labelnames), metric._name


def test_repeated_requests_add_up_per_cluster_verb_and_code() -> None:
    metrics = FleetMetrics()
    for _ in range(3):
        metrics.observe_request("prod", "patch", 200, 0.02)
    metrics.observe_request("dev", "patch", 200, 0.5)
    metrics.observe_request("prod", "patch", 409, 0.01)
    samples = scrape(metrics)
    total = "fleet_kube_requests_total"
    assert samples[key(total, cluster="prod", verb="patch", code="200")] == 3
    assert samples[key(total, cluster="dev", verb="patch", code="200")] == 1
    assert samples[key(total, cluster="prod", verb="patch", code="409")] == 1
    count = key("fleet_kube_request_duration_seconds_count", cluster="prod", verb="patch")
    assert samples[count] == 4
    dev_sum = key("fleet_kube_request_duration_seconds_sum", cluster="dev", verb="patch")
    assert samples[dev_sum] == 0.5
