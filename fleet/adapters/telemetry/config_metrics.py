"""Metrics of the fleet config itself: is the newest one refused, and how often it fails.

Kept apart from fleet.adapters.telemetry.metrics (the sync and source metrics) and
registered on the same registry, so ``/metrics`` shows them beside the others. An alert
on ``fleet_config_rejected == 1`` catches a config commit (or a SIGHUP'd file) that the
daemon refused while it keeps running the previous one.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


class ConfigMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.errors = Counter(
            "fleet_config_source_errors",
            "Config source rounds that failed, by reason: fetch (the repository could not "
            "be fetched), untrusted (the newest commit is not signed by a trusted key), "
            "invalid (the config at the newest commit does not pass the checks).",
            ["reason"],
            registry=registry,
        )
        self.rejected = Gauge(
            "fleet_config_rejected",
            "1 while the newest fleet config (commit or file) is refused and the previous "
            "one keeps running; 0 otherwise.",
            registry=registry,
        )
        for reason in ("fetch", "untrusted", "invalid"):
            self.errors.labels(reason)
