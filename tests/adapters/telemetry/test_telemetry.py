"""Telemetry: which span is whose child, links, errors, and the quiet default."""

from __future__ import annotations

import datetime as dt
import io
import logging

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from fleet.adapters.git import Revision
from fleet.adapters.telemetry import context
from fleet.adapters.telemetry.context import Telemetry
from fleet.adapters.telemetry.logs import ContextFilter, HumanFormatter, JsonFormatter

pytestmark = pytest.mark.anyio


def revision(sha: str, message: str = "web: more replicas") -> Revision:
    return Revision(
        sha=sha * 40,
        tree="t" * 40,
        ref="refs/heads/main",
        message=message,
        author="A <a@example.com>",
        committed_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    )


@pytest.fixture
def traced() -> tuple[Telemetry, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    telemetry = Telemetry()
    telemetry.provider = provider
    telemetry.tracer = provider.get_tracer("test")
    yield telemetry, exporter
    provider.shutdown()


def named(exporter: InMemorySpanExporter, prefix: str) -> list[ReadableSpan]:
    return [s for s in exporter.get_finished_spans() if s.name.startswith(prefix)]


def test_rollout_syncs_are_children_and_manual_ones_are_linked(
    traced: tuple[Telemetry, InMemorySpanExporter],
) -> None:
    telemetry, exporter = traced
    a = revision("a")
    telemetry.rollout_started("web", a, "poll", 2)
    telemetry.rollout_started("web", a, "poll", 2)  # registered again (config reload)
    rollout_sync = telemetry.sync("web", "prod", a, "poll", repository="https://git/x.git")
    manual = telemetry.sync("web", "dev", a, "manual")
    rollout_sync.finish("Succeeded")
    manual.finish("Succeeded")
    telemetry.rollout_ended("web", a.sha, "Complete")
    telemetry.rollout_started("web", a, "poll", 2)  # reload after the end: no second root
    drift = telemetry.sync("web", "prod", a, "poll")  # the rollout is over: own trace
    drift.finish("Succeeded")
    (root,) = named(exporter, "rollout web")
    syncs = named(exporter, "sync web")
    assert syncs[0].parent is not None
    assert syncs[0].parent.span_id == root.context.span_id
    assert syncs[0].attributes["vcs.repository.url.full"] == "https://git/x.git"
    for own in syncs[1:]:
        assert own.parent is None
        assert own.context.trace_id != root.context.trace_id
        assert [link.context.span_id for link in own.links] == [root.context.span_id]
    assert root.status.status_code is StatusCode.UNSET
    assert rollout_sync.trace_id == trace.format_trace_id(root.context.trace_id)


def test_a_new_commit_supersedes_the_open_rollout(
    traced: tuple[Telemetry, InMemorySpanExporter],
) -> None:
    telemetry, exporter = traced
    telemetry.rollout_started("web", revision("a"), "poll", 3)
    telemetry.rollout_started("web", revision("b"), "webhook", 3)
    (first,) = named(exporter, "rollout web")
    assert first.attributes["fleet.rollout.result"] == "Superseded"
    assert first.status.status_code is StatusCode.ERROR
    telemetry.rollout_ended("web", "a" * 40, "Complete")  # stale: ignored
    telemetry.rollout_ended("web", "b" * 40, "Halted", "wave prod: 1 cluster failed")
    second = named(exporter, "rollout web")[1]
    assert second.attributes["fleet.rollout.trigger"] == "webhook"
    assert second.status.status_code is StatusCode.ERROR
    assert second.status.description == "wave prod: 1 cluster failed"
    assert telemetry.metrics.rollouts.labels("web", "Halted")._value.get() == 1


def test_a_failed_sync_is_an_error_without_its_secrets(
    traced: tuple[Telemetry, InMemorySpanExporter],
) -> None:
    telemetry, exporter = traced
    sync = telemetry.sync("web", "prod", revision("a", "rotate password=hunter2"), "manual")
    sync.recorded(41)
    sync.finish("Failed", "apply failed: Authorization: Bearer abcdefghijklmnop123")
    sync.finish("Succeeded")  # once only
    (span,) = named(exporter, "sync web")
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["fleet.sync.id"] == 41
    assert span.attributes["fleet.sync.result"] == "Failed"
    text = repr(dict(span.attributes)) + str(span.status.description)
    assert "abcdefghijklmnop123" not in text
    assert "hunter2" not in text
    assert telemetry.metrics.syncs.labels("web", "prod", "Failed")._value.get() == 1
    assert telemetry.metrics.syncs.labels("web", "prod", "Succeeded")._value.get() == 0


def test_fetch_render_and_requests(traced: tuple[Telemetry, InMemorySpanExporter]) -> None:
    telemetry, exporter = traced
    a = revision("a")
    with telemetry.fetch("platform", "https://bot:s3cret@git.example/platform.git") as fetching:
        fetching.found(a)
    with telemetry.fetch("platform", "https://git.example/platform.git") as fetching:
        fetching.error = "could not resolve host git.example"
    telemetry.rollout_started("web", a, "poll", 1)
    with telemetry.render("web", "prod", a) as rendering:
        rendering.cache_hit = True
    sync = telemetry.sync("web", "prod", a, "poll")
    telemetry.observe_request("prod", "get", 200, 0.01)  # no sync span current: no span
    with sync.active():
        telemetry.observe_request("prod", "patch", 422, 0.05)
        telemetry.observe_request("prod", "watch", 200, 0.05)
    sync.finish("Succeeded")
    ok, failed = named(exporter, "git fetch")
    assert ok.attributes["vcs.repository.url.full"] == "https://***@git.example/platform.git"
    assert ok.attributes["vcs.ref.head.revision"] == a.sha
    assert failed.status.status_code is StatusCode.ERROR
    assert not named(exporter, "rollout web")  # still open: no cluster reported yet
    (render,) = named(exporter, "render")
    assert render.attributes["fleet.render.cache_hit"] is True
    assert render.parent is not None
    (request,) = named(exporter, "kube ")
    assert request.name == "kube patch"
    assert request.attributes["http.response.status_code"] == 422
    assert request.status.status_code is StatusCode.ERROR
    assert request.parent is not None
    assert request.parent.span_id == named(exporter, "sync web")[0].context.span_id
    assert request.end_time - request.start_time == pytest.approx(0.05e9, rel=0.01)
    metrics = telemetry.metrics
    assert metrics.git_fetch_failures.labels("platform")._value.get() == 1
    assert metrics.render_cache_hits.labels("web")._value.get() == 1
    assert metrics.kube_requests.labels("prod", "get", "200")._value.get() == 1


async def test_running_makes_it_current_and_ends_open_rollouts(
    traced: tuple[Telemetry, InMemorySpanExporter], monkeypatch: pytest.MonkeyPatch
) -> None:
    for variable in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        monkeypatch.delenv(variable, raising=False)
    telemetry, exporter = traced
    outside = context.current()
    assert outside is not telemetry
    async with telemetry.running(None):
        assert context.current() is telemetry
        telemetry.rollout_started("web", revision("a"), "poll", 1)
    assert context.current() is outside
    (root,) = named(exporter, "rollout web")
    assert root.attributes["fleet.rollout.result"] == "Interrupted"
    assert telemetry.provider is None


def test_without_an_exporter_nothing_is_recorded() -> None:
    quiet = Telemetry()
    assert not quiet.tracing
    sync = quiet.sync("web", "prod", revision("a"), "poll")
    assert sync.trace_id is None
    with sync.active():
        assert not trace.get_current_span().is_recording()
    sync.finish("Succeeded")
    assert quiet.metrics.syncs.labels("web", "prod", "Succeeded")._value.get() == 1


def test_log_lines_carry_the_ids_of_the_current_span(
    traced: tuple[Telemetry, InMemorySpanExporter],
) -> None:
    telemetry, _ = traced
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("fleet.test.tracing")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("outside")
        sync = telemetry.sync("web", "prod", revision("a"), "poll")
        with sync.active():
            logger.warning("inside")
        sync.finish("Succeeded")
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    outside, inside = stream.getvalue().splitlines()
    assert "trace_id" not in outside
    assert f'"trace_id": "{sync.trace_id}"' in inside
    assert '"span_id": "' in inside
    record = logging.LogRecord("x", logging.INFO, "", 0, "hello", (), None)
    record.trace_id, record.span_id = "ab" * 16, "cd" * 8
    assert HumanFormatter().format(record).endswith(f"trace_id={'ab' * 16} span_id={'cd' * 8}")
