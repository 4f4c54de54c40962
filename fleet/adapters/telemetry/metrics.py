"""Prometheus metrics of the daemon, served at ``/metrics``.

Every metric lives on a registry of the daemon's own (not prometheus_client's global
one), so two daemons in one process (tests) never mix their numbers, and a library that
registers metrics globally cannot leak into fleet's page.

Two kinds of numbers:

- events, counted as they happen: syncs and their durations, steps, drift, Git fetches,
  renders, Kubernetes requests (the runtime calls the ``observe_*``/``count_*`` methods);
- state, read when Prometheus scrapes: each app's sync status and health on each cluster,
  cluster reachability, work waiting. A :class:`FleetState` snapshot is asked of the
  daemon at scrape time, so these gauges can never drift from what ``fleet status`` shows.

Labels are bounded: app, cluster, source, phase, Kubernetes verb and code, result. No
revision, object name or message ever becomes a label.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

#: The values ``fleet_app_sync_status`` and ``fleet_app_health_status`` take one-hot.
SYNC_STATUSES = ("Synced", "OutOfSync", "Unknown")
HEALTH_STATUSES = ("Healthy", "Suspended", "Progressing", "Missing", "Degraded", "Unknown")
#: Why an automated sync waits (fleet.engine.holds.HoldKind), one-hot in fleet_app_sync_held.
HOLD_KINDS = ("suspended", "window", "dependency", "generator")

#: A sync lasts seconds to tens of minutes (health gates, hooks).
_SYNC_BUCKETS = (0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, float("inf"))
_STEP_BUCKETS = (0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, float("inf"))
_FAST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, float("inf"))


@dataclass(frozen=True, slots=True)
class AppClusterState:
    """What the state gauges say about one app on one cluster."""

    app: str
    cluster: str
    sync: str
    health: str
    #: ``fleet suspend`` (of the app here, everywhere, or of the cluster).
    suspended: bool = False
    #: The kind of hold an automated sync waits on ("" when none).
    held: str = ""


@dataclass(frozen=True, slots=True)
class FleetState:
    """The daemon's state at scrape time."""

    apps: Sequence[AppClusterState] = ()
    #: cluster -> reachable (None: not known yet, reported as no sample).
    clusters: dict[str, bool | None] = field(default_factory=dict)
    #: app x cluster pairs whose mailbox holds work the worker has not taken yet.
    reconciles_queued: int = 0
    #: Syncs waiting for one of the ``max_concurrent_syncs`` slots, and syncs running.
    syncs_waiting: int = 0
    syncs_running: int = 0
    #: destination -> {sent, failed, dropped, grouped, retried}: the notification
    #: dispatcher's counters since the daemon started.
    notifications: Mapping[str, Mapping[str, int]] = field(default_factory=dict)


StateSource = Callable[[], FleetState]


class FleetMetrics:
    """The daemon's metrics. One per daemon; ``exposition()`` is the ``/metrics`` body."""

    def __init__(self, version: str = "") -> None:
        self.registry = CollectorRegistry()
        registry = self.registry
        self.build_info = Gauge(
            "fleet_build_info",
            "Always 1; the running fleet version.",
            ["version"],
            registry=registry,
        )
        self.build_info.labels(version or "unknown").set(1)
        self.syncs = Counter(
            "fleet_syncs",
            "Syncs finished, by result (Succeeded, Failed, Interrupted). Dry runs excluded.",
            ["app", "cluster", "result"],
            registry=registry,
        )
        self.sync_duration = Histogram(
            "fleet_sync_duration_seconds",
            "Time from a sync's start to its verdict (healthy, failed or interrupted).",
            ["app", "cluster"],
            buckets=_SYNC_BUCKETS,
            registry=registry,
        )
        self.step_duration = Histogram(
            "fleet_sync_step_duration_seconds",
            "Time one step (phase and wave) of a sync took, waits for health included.",
            ["app", "phase"],
            buckets=_STEP_BUCKETS,
            registry=registry,
        )
        self.drift = Counter(
            "fleet_drift_events",
            "Live objects found different from Git (each distinct drift counted once).",
            ["app", "cluster"],
            registry=registry,
        )
        self.events = Counter(
            "fleet_events",
            "Events recorded in history, by kind.",
            ["kind"],
            registry=registry,
        )
        self.rollouts = Counter(
            "fleet_rollouts",
            "Rollouts of a revision ended, by result (Complete, Halted, Superseded).",
            ["app", "result"],
            registry=registry,
        )
        self.git_fetch_duration = Histogram(
            "fleet_git_fetch_duration_seconds",
            "Time one fetch of a Git source took (failed fetches included).",
            ["source"],
            buckets=_FAST_BUCKETS,
            registry=registry,
        )
        self.git_fetch_failures = Counter(
            "fleet_git_fetch_failures",
            "Fetches of a Git source that failed (unreachable, denied, untrusted commit).",
            ["source"],
            registry=registry,
        )
        self.git_last_fetch = Gauge(
            "fleet_git_last_fetch_timestamp_seconds",
            "When a source was last fetched (successfully or not): the poll loop's heartbeat.",
            ["source"],
            registry=registry,
        )
        self.render_duration = Histogram(
            "fleet_render_duration_seconds",
            "Time to render one app for one cluster (cache hits included).",
            ["app"],
            buckets=_FAST_BUCKETS,
            registry=registry,
        )
        self.render_cache_hits = Counter(
            "fleet_render_cache_hits",
            "Renders answered from the render cache.",
            ["app"],
            registry=registry,
        )
        self.render_failures = Counter(
            "fleet_render_failures",
            "Renders that failed (bad manifests, Kustomize or Helm errors).",
            ["app"],
            registry=registry,
        )
        self.kube_requests = Counter(
            "fleet_kube_requests",
            "Requests to Kubernetes API servers, by verb and HTTP code "
            "(code 'unreachable' when no answer came).",
            ["cluster", "verb", "code"],
            registry=registry,
        )
        self.kube_request_duration = Histogram(
            "fleet_kube_request_duration_seconds",
            "Time to the response headers of a Kubernetes API request (watches excluded).",
            ["cluster", "verb"],
            buckets=_FAST_BUCKETS,
            registry=registry,
        )
        self._state = _StateCollector()
        registry.register(self._state)
        #: The request metrics' labelled children, looked up once: ``labels()`` checks
        #: and locks on every call, and every request to every cluster makes two.
        self._request_counts: dict[tuple[str, str, str], Counter] = {}
        self._request_times: dict[tuple[str, str], Histogram] = {}

    # -- state -----------------------------------------------------------------------

    def watch_state(self, source: StateSource) -> None:
        """Read gauges of app, cluster and queue state from ``source`` at scrape time."""
        self._state.source = source

    # -- events ----------------------------------------------------------------------

    def observe_sync(
        self, app: str, cluster: str, result: str, seconds: float, *, dry_run: bool = False
    ) -> None:
        if dry_run:
            return
        self.syncs.labels(app, cluster, result).inc()
        self.sync_duration.labels(app, cluster).observe(max(0.0, seconds))

    def observe_step(self, app: str, phase: str, seconds: float) -> None:
        self.step_duration.labels(app, phase or "none").observe(max(0.0, seconds))

    def count_event(self, kind: str, app: str | None, cluster: str | None) -> None:
        self.events.labels(kind).inc()
        if kind == "drift" and app and cluster:
            self.drift.labels(app, cluster).inc()

    def count_rollout(self, app: str, result: str) -> None:
        self.rollouts.labels(app, result).inc()

    def observe_fetch(self, source: str, seconds: float, ok: bool) -> None:
        self.git_fetch_duration.labels(source).observe(max(0.0, seconds))
        self.git_last_fetch.labels(source).set(time.time())
        if not ok:
            self.git_fetch_failures.labels(source).inc()

    def observe_render(self, app: str, seconds: float, *, cache_hit: bool, ok: bool) -> None:
        self.render_duration.labels(app).observe(max(0.0, seconds))
        if cache_hit:
            self.render_cache_hits.labels(app).inc()
        if not ok:
            self.render_failures.labels(app).inc()

    def observe_request(self, cluster: str, verb: str, status: int, seconds: float) -> None:
        """A kube ``RequestObserver``: (cluster, verb, status code or 0, seconds)."""
        code = str(status) if status else "unreachable"
        count = self._request_counts.get((cluster, verb, code))
        if count is None:
            count = self._request_counts[cluster, verb, code] = self.kube_requests.labels(
                cluster, verb, code
            )
        count.inc()
        if verb != "watch":
            timer = self._request_times.get((cluster, verb))
            if timer is None:
                timer = self._request_times[cluster, verb] = self.kube_request_duration.labels(
                    cluster, verb
                )
            timer.observe(max(0.0, seconds))

    # -- exposition ------------------------------------------------------------------

    def exposition(self) -> tuple[bytes, str]:
        """The Prometheus text page and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE

    def sample_names(self) -> set[str]:
        """Every series name this registry can expose (``_total``, ``_bucket`` ...).

        Families without a sample yet count too, so dashboards and alert rules can be
        checked against it before anything happened.
        """
        names: set[str] = set()
        for family in self.registry.collect():
            names |= set(_sample_names(family))
        return names


class _StateCollector(Collector):
    def __init__(self) -> None:
        self.source: StateSource | None = None

    def describe(self) -> Iterable[Metric]:
        return list(self._families(FleetState()))

    def collect(self) -> Iterable[Metric]:
        state = self.source() if self.source is not None else FleetState()
        return list(self._families(state))

    def _families(self, state: FleetState) -> Iterator[Metric]:
        sync = GaugeMetricFamily(
            "fleet_app_sync_status",
            "1 for the app's current sync status on the cluster (Synced, OutOfSync, "
            "Unknown), 0 for the others.",
            labels=["app", "cluster", "status"],
        )
        health = GaugeMetricFamily(
            "fleet_app_health_status",
            "1 for the app's current health on the cluster, 0 for the other values.",
            labels=["app", "cluster", "health"],
        )
        for entry in state.apps:
            for value in SYNC_STATUSES:
                sync.add_metric([entry.app, entry.cluster, value], float(entry.sync == value))
            for value in HEALTH_STATUSES:
                health.add_metric([entry.app, entry.cluster, value], float(entry.health == value))
        yield sync
        yield health
        suspended = GaugeMetricFamily(
            "fleet_app_suspended",
            "1 while the app is suspended on the cluster (fleet suspend, of the app or of "
            "the cluster): no automated sync, no self-heal.",
            labels=["app", "cluster"],
        )
        held = GaugeMetricFamily(
            "fleet_app_sync_held",
            "1 for the reason an automated sync of the app on the cluster waits now "
            "(suspended, window, dependency), 0 for the others.",
            labels=["app", "cluster", "reason"],
        )
        for entry in state.apps:
            suspended.add_metric([entry.app, entry.cluster], float(entry.suspended))
            for kind in HOLD_KINDS:
                held.add_metric([entry.app, entry.cluster, kind], float(entry.held == kind))
        yield suspended
        yield held
        reachable = GaugeMetricFamily(
            "fleet_cluster_reachable",
            "1 when the cluster's API server answers, 0 when it does not.",
            labels=["cluster"],
        )
        for cluster, up in sorted(state.clusters.items()):
            if up is not None:
                reachable.add_metric([cluster], float(up))
        yield reachable
        queued = GaugeMetricFamily(
            "fleet_work_queued",
            "Work waiting: 'reconcile' counts app x cluster pairs with triggers not taken "
            "yet; 'sync_slot' counts syncs waiting for a free sync slot.",
            labels=["queue"],
        )
        queued.add_metric(["reconcile"], float(state.reconciles_queued))
        queued.add_metric(["sync_slot"], float(state.syncs_waiting))
        yield queued
        yield GaugeMetricFamily(
            "fleet_syncs_running", "Syncs running now.", value=float(state.syncs_running)
        )
        yield GaugeMetricFamily(
            "fleet_app_clusters",
            "App x cluster pairs the daemon manages.",
            value=float(len(state.apps)),
        )
        notifications = CounterMetricFamily(
            "fleet_notifications",
            "Notifications per destination by outcome: sent, failed (gave up), dropped "
            "(queue full or daemon stopping), grouped (held back as repeats), retried.",
            labels=["destination", "outcome"],
        )
        for destination, counts in sorted(state.notifications.items()):
            for outcome, count in sorted(counts.items()):
                notifications.add_metric([destination, outcome], float(count))
        yield notifications


def _sample_names(family: Metric) -> Iterator[str]:
    suffixes = {
        "counter": ("_total", "_created"),
        "histogram": ("_bucket", "_sum", "_count", "_created"),
        "summary": ("_sum", "_count", "_created"),
        "info": ("_info",),
    }.get(family.type, ("",))
    for suffix in suffixes:
        yield family.name + suffix
