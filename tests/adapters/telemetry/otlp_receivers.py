"""Real OTLP trace receivers on loopback, for tests: OTLP/HTTP (aiohttp) and OTLP/gRPC.

Both decode the ``ExportTraceServiceRequest`` protobufs that opentelemetry-proto defines
(the same wire format a collector reads) into :class:`ReceivedSpan` rows, so tests can
check the tree fleet exported: parents, links, names, attributes and status.
"""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

STATUS_ERROR = 2


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return _attributes(value.kvlist_value.values)
    return getattr(value, kind)


def _attributes(pairs: Iterable[KeyValue]) -> dict[str, Any]:
    return {pair.key: _value(pair.value) for pair in pairs}


@dataclass(frozen=True)
class ReceivedLink:
    trace_id: str
    span_id: str
    attributes: dict[str, Any]


@dataclass(frozen=True)
class ReceivedSpan:
    trace_id: str
    span_id: str
    parent_id: str
    name: str
    kind: int
    start: int
    end: int
    attributes: dict[str, Any]
    status_code: int
    status_message: str
    events: list[tuple[str, dict[str, Any]]]
    links: list[ReceivedLink]
    resource: dict[str, Any]

    @property
    def is_error(self) -> bool:
        return self.status_code == STATUS_ERROR

    def every_text(self) -> Iterable[str]:
        """Every string the span carries (to look for secrets in)."""
        yield self.name
        yield self.status_message
        for mapping in (
            self.attributes,
            self.resource,
            *(attrs for _, attrs in self.events),
            *(link.attributes for link in self.links),
        ):
            for key, value in mapping.items():
                yield key
                yield str(value)


@dataclass
class Collected:
    """Every span received so far, and how many export requests brought them."""

    spans: list[ReceivedSpan] = field(default_factory=list)
    requests: int = 0

    def add(self, request: trace_service_pb2.ExportTraceServiceRequest) -> None:
        self.requests += 1
        for resource_spans in request.resource_spans:
            resource = _attributes(resource_spans.resource.attributes)
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    self.spans.append(_span(span, resource))


def _span(span: Any, resource: Mapping[str, Any]) -> ReceivedSpan:
    return ReceivedSpan(
        trace_id=span.trace_id.hex(),
        span_id=span.span_id.hex(),
        parent_id=span.parent_span_id.hex(),
        name=span.name,
        kind=span.kind,
        start=span.start_time_unix_nano,
        end=span.end_time_unix_nano,
        attributes=_attributes(span.attributes),
        status_code=span.status.code,
        status_message=span.status.message,
        events=[(event.name, _attributes(event.attributes)) for event in span.events],
        links=[
            ReceivedLink(link.trace_id.hex(), link.span_id.hex(), _attributes(link.attributes))
            for link in span.links
        ],
        resource=dict(resource),
    )


@asynccontextmanager
async def http_receiver() -> AsyncIterator[tuple[str, Collected]]:
    """An OTLP/HTTP receiver on 127.0.0.1; yields (base URL, what it collected)."""
    collected = Collected()

    async def traces(request: web.Request) -> web.Response:
        body = await request.read()
        if request.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        if request.content_type != "application/x-protobuf":
            return web.Response(status=415, text="expected application/x-protobuf")
        message = trace_service_pb2.ExportTraceServiceRequest()
        message.ParseFromString(body)
        collected.add(message)
        reply = trace_service_pb2.ExportTraceServiceResponse().SerializeToString()
        return web.Response(body=reply, content_type="application/x-protobuf")

    app = web.Application()
    app.router.add_post("/v1/traces", traces)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}", collected
    finally:
        await runner.cleanup()


class _TraceService(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self, collected: Collected) -> None:
        self.collected = collected

    async def Export(
        self, request: trace_service_pb2.ExportTraceServiceRequest, context: Any
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        self.collected.add(request)
        return trace_service_pb2.ExportTraceServiceResponse()


@asynccontextmanager
async def grpc_receiver() -> AsyncIterator[tuple[str, Collected]]:
    """An OTLP/gRPC receiver (grpc.aio) on 127.0.0.1; yields (endpoint URL, collected)."""
    import grpc

    collected = Collected()
    server = grpc.aio.server()
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(_TraceService(collected), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield f"http://127.0.0.1:{port}", collected
    finally:
        await server.stop(grace=None)


class Tree:
    """The spans of one export, indexed for checking their shape."""

    def __init__(self, spans: Iterable[ReceivedSpan]) -> None:
        self.spans = list(spans)
        self.by_id = {s.span_id: s for s in self.spans}

    def named(self, prefix: str) -> list[ReceivedSpan]:
        return sorted((s for s in self.spans if s.name.startswith(prefix)), key=lambda s: s.start)

    def children(self, span: ReceivedSpan, prefix: str = "") -> list[ReceivedSpan]:
        return sorted(
            (
                s
                for s in self.spans
                if s.parent_id == span.span_id
                and s.trace_id == span.trace_id
                and s.name.startswith(prefix)
            ),
            key=lambda s: s.start,
        )

    def descendants(self, span: ReceivedSpan) -> list[ReceivedSpan]:
        out: list[ReceivedSpan] = []
        todo = [span]
        while todo:
            current = todo.pop()
            for child in self.children(current):
                out.append(child)
                todo.append(child)
        return out

    def roots(self, prefix: str = "") -> list[ReceivedSpan]:
        return [s for s in self.named(prefix) if not s.parent_id]
