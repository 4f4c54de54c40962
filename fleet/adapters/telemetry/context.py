"""The daemon's telemetry (metrics, tracer, rollout traces), reachable from its tasks.

The daemon makes one :class:`Telemetry` and runs inside :meth:`Telemetry.running`, which
sets it as the current one in a context variable. Every task the daemon starts inherits
it, so the runtime's modules reach it with :func:`current` instead of carrying it through
every constructor; code running outside a daemon (the CLI, unit tests) gets a quiet
default that records into a registry nobody reads and traces nothing.

Trace shape (see docs/observability.md): one trace per rollout of a revision of an app,
whose root (``rollout``) lasts from the commit being seen to every targeted cluster done
or the rollout halting; each cluster's ``sync`` is its child. A sync that drift or a
person started is the root of its own trace, linked to the rollout it corrects. Git
fetches are small traces of their own, linked from the rollout they started; renders
hang under the rollout of their revision when there is one.
"""

from __future__ import annotations

import contextvars
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass

import anyio
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import Link, NoOpTracer, Span, SpanContext, SpanKind, Tracer

from fleet.adapters.git import Revision, redact_url
from fleet.adapters.telemetry.attributes import (
    APP,
    CLUSTER,
    REPOSITORY,
    SOURCE,
    Attributes,
    record_error,
    revision_attributes,
    safe_text,
)
from fleet.adapters.telemetry.metrics import FleetMetrics
from fleet.adapters.telemetry.syncspans import StepSpans, SyncTrace
from fleet.adapters.telemetry.tracing import build_provider, resolve_export
from fleet.config.settings import OtelSettings

log = logging.getLogger(__name__)

#: Triggers whose sync belongs to a rollout; the others (drift, manual) get a trace of
#: their own, linked to the rollout.
_OWN_TRACE_TRIGGERS = ("manual", "drift")
#: How many fetched commits are remembered for linking rollouts to their fetch.
_FETCHES_KEPT = 64


@dataclass
class _Rollout:
    sha: str
    span: Span
    open: bool = True


class Telemetry:
    """Metrics and traces of one daemon."""

    def __init__(self, metrics: FleetMetrics | None = None, *, version: str = "") -> None:
        self.metrics = metrics or FleetMetrics(version)
        self.version = version
        self.tracer: Tracer = NoOpTracer()
        self.provider: TracerProvider | None = None
        self._rollouts: dict[str, _Rollout] = {}
        self._fetched: OrderedDict[str, tuple[SpanContext, str]] = OrderedDict()

    @property
    def tracing(self) -> bool:
        return self.provider is not None

    # -- lifecycle ---------------------------------------------------------------------

    @asynccontextmanager
    async def running(self, otel: OtelSettings | None = None) -> AsyncIterator[Telemetry]:
        """Start exporting (if configured) and be the current telemetry until exit.

        On exit, rollouts still open are ended ("daemon stopped") and every span is
        flushed to the exporter before the provider stops.
        """
        export = resolve_export(otel)
        if export is not None:
            self.provider = build_provider(export, version=self.version)
            self.tracer = self.provider.get_tracer("fleet", self.version)
            log.info("tracing: %s", export.describe())
        token = _current.set(self)
        try:
            yield self
        finally:
            _current.reset(token)
            for app in list(self._rollouts):
                self.rollout_ended(app, None, "Interrupted", "the daemon stopped")
            provider, self.provider = self.provider, None
            self.tracer = NoOpTracer()
            if provider is not None:
                with anyio.CancelScope(shield=True):
                    await anyio.to_thread.run_sync(provider.shutdown)

    def force_flush(self) -> None:
        if self.provider is not None:
            self.provider.force_flush()

    # -- metrics that are events ---------------------------------------------------------

    def event(self, kind: str, app: str | None, cluster: str | None) -> None:
        """An event was recorded in history (drift, sync_failed ...)."""
        self.metrics.count_event(kind, app, cluster)

    def observe_request(self, cluster: str, verb: str, status: int, seconds: float) -> None:
        """The kube client's ``RequestObserver``: a metric, and a span inside a sync."""
        self.metrics.observe_request(cluster, verb, status, seconds)
        if verb == "watch" or not trace.get_current_span().is_recording():
            return
        end = time.time_ns()
        span = self.tracer.start_span(
            f"kube {verb}",
            kind=SpanKind.CLIENT,
            start_time=end - int(seconds * 1e9),
            attributes={CLUSTER: cluster, "fleet.k8s.verb": verb},
        )
        if status:
            span.set_attribute("http.response.status_code", status)
            if status >= 400:
                span.set_attribute("error.type", str(status))
                record_error(span, f"HTTP {status}")
        else:
            span.set_attribute("error.type", "unreachable")
            record_error(span, "no answer from the API server")
        span.end(end_time=end)

    # -- Git and render ----------------------------------------------------------------

    @contextmanager
    def fetch(self, source: str, url: str) -> Iterator[FetchSpan]:
        """A fetch of ``source``: a span and the fetch metrics. Set ``.revision`` on success."""
        attributes = {SOURCE: source, REPOSITORY: redact_url(url)}
        span = self.tracer.start_span("git fetch", kind=SpanKind.CLIENT, attributes=attributes)
        watch = FetchSpan(span, self, url)
        started = time.monotonic()
        ok = False
        try:
            with trace.use_span(
                span, end_on_exit=False, record_exception=False, set_status_on_exception=False
            ):
                yield watch
            ok = watch.error is None
        except BaseException as error:
            if not isinstance(error, anyio.get_cancelled_exc_class()):
                record_error(span, str(error), error)
            raise
        finally:
            if watch.error is not None:
                record_error(span, watch.error)
            span.end()
            self.metrics.observe_fetch(source, time.monotonic() - started, ok)

    def _remember_fetch(self, sha: str, context: SpanContext, url: str) -> None:
        self._fetched[sha] = (context, redact_url(url))
        self._fetched.move_to_end(sha)
        while len(self._fetched) > _FETCHES_KEPT:
            self._fetched.popitem(last=False)

    @contextmanager
    def render(self, app: str, cluster: str, revision: Revision) -> Iterator[RenderSpan]:
        """A render of ``app`` for ``cluster``: a span (under the rollout) and metrics."""
        parent = self._rollout_context(app, revision.sha)
        span = self.tracer.start_span(
            "render",
            context=parent,
            attributes={APP: app, CLUSTER: cluster, **revision_attributes(revision)},
        )
        watch = RenderSpan(span)
        started = time.monotonic()
        try:
            yield watch
        finally:
            span.set_attribute("fleet.render.cache_hit", watch.cache_hit)
            if watch.error is not None:
                record_error(span, watch.error)
            span.end()
            self.metrics.observe_render(
                app,
                time.monotonic() - started,
                cache_hit=watch.cache_hit,
                ok=watch.error is None,
            )

    # -- rollouts ----------------------------------------------------------------------

    def rollout_started(self, app: str, revision: Revision, reason: str, clusters: int) -> None:
        """The root of a rollout's trace: ``revision`` of ``app`` was seen."""
        current = self._rollouts.get(app)
        if current is not None and current.sha == revision.sha:
            return  # the same rollout, registered again after a config reload
        if current is not None and current.open:
            self.rollout_ended(app, current.sha, "Superseded", f"{revision.short_sha} came")
        links = []
        attributes: Attributes = {
            APP: app,
            "fleet.rollout.trigger": reason,
            "fleet.rollout.clusters": clusters,
        }
        fetched = self._fetched.get(revision.sha)
        repository = None
        if fetched is not None:
            links.append(Link(fetched[0], {"fleet.link": "fetched by"}))
            repository = fetched[1]
        attributes.update(revision_attributes(revision, repository))
        span = self.tracer.start_span(
            f"rollout {app}", context=_ROOT, links=links, attributes=attributes
        )
        self._rollouts[app] = _Rollout(revision.sha, span)

    def rollout_ended(self, app: str, sha: str | None, result: str, message: str = "") -> None:
        """The rollout of ``sha`` (None: whatever is open) ended: Complete, Halted ..."""
        rollout = self._rollouts.get(app)
        if rollout is None or not rollout.open or (sha is not None and rollout.sha != sha):
            return
        rollout.open = False
        rollout.span.set_attribute("fleet.rollout.result", result)
        if message:
            rollout.span.set_attribute("fleet.rollout.message", safe_text(message))
        if result != "Complete":
            record_error(rollout.span, message or result)
        rollout.span.end()
        self.metrics.count_rollout(app, result)

    def _rollout_context(self, app: str, sha: str) -> Context:
        rollout = self._rollouts.get(app)
        if rollout is not None and rollout.open and rollout.sha == sha:
            return trace.set_span_in_context(rollout.span)
        return _ROOT

    # -- syncs -------------------------------------------------------------------------

    def sync(
        self,
        app: str,
        cluster: str,
        revision: Revision,
        trigger: str,
        *,
        dry_run: bool = False,
        repository: str | None = None,
    ) -> SyncTrace:
        """The span of one sync; finish it with the sync's result."""
        rollout = self._rollouts.get(app)
        links = []
        if (
            trigger not in _OWN_TRACE_TRIGGERS
            and rollout is not None
            and rollout.open
            and rollout.sha == revision.sha
        ):
            parent = trace.set_span_in_context(rollout.span)
        else:
            parent = _ROOT
            if rollout is not None:
                links.append(Link(rollout.span.get_span_context(), {"fleet.link": "corrects"}))
        attributes = {
            APP: app,
            CLUSTER: cluster,
            "fleet.sync.trigger": trigger,
            "fleet.sync.dry_run": dry_run,
            **revision_attributes(revision, repository),
        }
        span = self.tracer.start_span(
            f"sync {app}", context=parent, links=links, attributes=attributes
        )
        return SyncTrace(self.tracer, self.metrics, span, app, cluster, dry_run=dry_run)

    def steps(self, app: str, cluster: str) -> StepSpans:
        """Step, wait, hook and write spans of the sync running in this task."""
        return StepSpans(self.tracer, self.metrics, app, cluster)


@dataclass
class FetchSpan:
    span: Span
    telemetry: Telemetry
    url: str
    revision: Revision | None = None
    error: str | None = None

    def found(self, revision: Revision) -> None:
        """The fetch resolved the source's ref to ``revision``."""
        self.revision = revision
        self.span.set_attributes(revision_attributes(revision))
        self.telemetry._remember_fetch(revision.sha, self.span.get_span_context(), self.url)


@dataclass
class RenderSpan:
    span: Span
    cache_hit: bool = False
    error: str | None = None


#: An empty context: a span started in it is a root, whatever is current.
_ROOT = Context()

_current: contextvars.ContextVar[Telemetry | None] = contextvars.ContextVar(
    "fleet_telemetry", default=None
)
_default: Telemetry | None = None


def current() -> Telemetry:
    """The running daemon's telemetry, or a quiet default outside a daemon."""
    found = _current.get()
    if found is not None:
        return found
    global _default
    if _default is None:
        _default = Telemetry()
    return _default
