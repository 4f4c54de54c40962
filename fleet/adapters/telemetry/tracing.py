"""Where traces go: the daemon settings and the standard ``OTEL_*`` variables, resolved.

Precedence, per value: a value written in the daemon settings (the settings file or a
``FLEET_OTEL__*`` variable) wins; else the standard OpenTelemetry variable; else fleet's
default. So a host-wide ``OTEL_EXPORTER_OTLP_ENDPOINT`` works untouched, and an explicit
fleet setting is never overridden behind the operator's back.

==============================  ==========================================================
value                           from
==============================  ==========================================================
endpoint                        ``otel.endpoint``; ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``
                                (used as is); ``OTEL_EXPORTER_OTLP_ENDPOINT`` (base URL)
protocol                        ``otel.protocol``; ``OTEL_EXPORTER_OTLP_TRACES_PROTOCOL``;
                                ``OTEL_EXPORTER_OTLP_PROTOCOL``; ``http/protobuf``
service.name                    ``otel.service_name``; ``OTEL_SERVICE_NAME`` or
                                ``OTEL_RESOURCE_ATTRIBUTES``; ``fleet``
sampler, headers, TLS, timeout  the SDK's own variables (``OTEL_TRACES_SAMPLER``,
                                ``OTEL_EXPORTER_OTLP_HEADERS`` ...)
==============================  ==========================================================

No endpoint anywhere, ``OTEL_TRACES_EXPORTER=none`` or ``OTEL_SDK_DISABLED=true``: no
provider is built and the runtime gets OpenTelemetry's no-op tracer, whose spans cost a
function call and allocate nothing worth mentioning. ``OTEL_TRACES_EXPORTER=console``
prints spans to stdout (for a look without a collector).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from opentelemetry.sdk.resources import SERVICE_NAME, SERVICE_VERSION, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)

from fleet.adapters.git import redact_url
from fleet.config.issues import ConfigError, ConfigIssue
from fleet.config.settings import OtelSettings

log = logging.getLogger(__name__)

Protocol = Literal["http/protobuf", "grpc"]
_PROTOCOLS: tuple[Protocol, ...] = ("http/protobuf", "grpc")
DEFAULT_SERVICE_NAME = "fleet"
_TRACES_PATH = "/v1/traces"


class TracingConfigError(ConfigError):
    """An OTEL_* value fleet cannot use; reported like any settings error, by variable."""

    def __init__(self, variable: str, message: str) -> None:
        super().__init__([ConfigIssue(variable, 0, 0, (), message)])


@dataclass(frozen=True, slots=True)
class TraceExport:
    """Resolved export: what the exporter is built from."""

    #: "otlp" or "console".
    exporter: str
    #: OTLP/HTTP: the full URL of the traces endpoint; gRPC: the collector's address.
    endpoint: str
    protocol: Protocol
    #: None: let ``OTEL_SERVICE_NAME`` / ``OTEL_RESOURCE_ATTRIBUTES`` name the service.
    service_name: str | None

    def describe(self) -> str:
        if self.exporter == "console":
            return "traces printed to stdout"
        return f"traces exported to {redact_url(self.endpoint)} over {self.protocol}"


def resolve_export(
    otel: OtelSettings | None, environ: Mapping[str, str] | None = None
) -> TraceExport | None:
    """Where traces go, or None for no export (see the module docstring)."""
    env = os.environ if environ is None else environ
    otel = otel or OtelSettings()
    explicit = otel.model_fields_set
    if _truthy(env.get("OTEL_SDK_DISABLED", "")):
        return None
    exporter = env.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower() or "otlp"
    if exporter == "none":
        return None
    if exporter not in ("otlp", "console"):
        raise TracingConfigError(
            "OTEL_TRACES_EXPORTER", f"{exporter!r} is not supported: use otlp, console or none"
        )
    service: str | None = otel.service_name if "service_name" in explicit else None
    if service is None and not _service_named_by(env):
        service = DEFAULT_SERVICE_NAME
    if exporter == "console":
        return TraceExport("console", "", "http/protobuf", service)
    protocol = _protocol(otel, explicit, env)
    endpoint = _endpoint(otel, explicit, env, protocol)
    if endpoint is None:
        return None
    return TraceExport("otlp", endpoint, protocol, service)


def _protocol(otel: OtelSettings, explicit: set[str], env: Mapping[str, str]) -> Protocol:
    if "protocol" in explicit:
        return otel.protocol
    for variable in ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"):
        value = env.get(variable, "").strip()
        if not value:
            continue
        for protocol in _PROTOCOLS:
            if value == protocol:
                return protocol
        raise TracingConfigError(
            variable, f"{value!r} is not supported: fleet exports over http/protobuf or grpc"
        )
    return "http/protobuf"


def _endpoint(
    otel: OtelSettings, explicit: set[str], env: Mapping[str, str], protocol: Protocol
) -> str | None:
    base = otel.endpoint if "endpoint" in explicit and otel.endpoint else None
    if base is None:
        signal = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "").strip()
        if signal:
            return signal  # a signal endpoint is used as written, by the spec
        base = env.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip() or None
    if base is None:
        return None
    if protocol == "grpc":
        return base
    return base.rstrip("/") + _TRACES_PATH


def _service_named_by(env: Mapping[str, str]) -> bool:
    if env.get("OTEL_SERVICE_NAME", "").strip():
        return True
    pairs = env.get("OTEL_RESOURCE_ATTRIBUTES", "").split(",")
    return any(pair.split("=", 1)[0].strip() == SERVICE_NAME for pair in pairs)


def _truthy(value: str) -> bool:
    return value.strip().lower() in ("1", "true", "yes", "on")


def build_provider(export: TraceExport, *, version: str = "", batch: bool = True) -> TracerProvider:
    """A tracer provider exporting as ``export`` says (resource from OTEL_* too).

    The sampler is the SDK's: ``OTEL_TRACES_SAMPLER`` and ``OTEL_TRACES_SAMPLER_ARG``,
    parent-based always-on when unset.
    """
    attributes: dict[str, str] = {}
    if export.service_name is not None:
        attributes[SERVICE_NAME] = export.service_name
    if version:
        attributes[SERVICE_VERSION] = version
    provider = TracerProvider(resource=Resource.create(attributes))
    exporter = _exporter(export)
    processor = BatchSpanProcessor(exporter) if batch else SimpleSpanProcessor(exporter)
    provider.add_span_processor(processor)
    return provider


def _exporter(export: TraceExport) -> SpanExporter:
    if export.exporter == "console":
        return ConsoleSpanExporter()
    if export.protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
            OTLPSpanExporter as GrpcExporter,
        )

        return GrpcExporter(endpoint=export.endpoint)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
        OTLPSpanExporter as HttpExporter,
    )

    return HttpExporter(endpoint=export.endpoint)
