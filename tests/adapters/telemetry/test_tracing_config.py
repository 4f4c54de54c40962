"""Where traces go: daemon settings over OTEL_* variables over defaults, per value."""

from __future__ import annotations

import pytest

from fleet.adapters.telemetry.tracing import (
    TraceExport,
    TracingConfigError,
    build_provider,
    resolve_export,
)
from fleet.config.settings import OtelSettings, Settings

COLLECTOR = "http://collector:4318"


@pytest.mark.parametrize(
    ("settings", "env", "expected"),
    [
        pytest.param(OtelSettings(), {}, None, id="nothing configured: no export"),
        pytest.param(
            OtelSettings(),
            {"OTEL_EXPORTER_OTLP_ENDPOINT": COLLECTOR},
            TraceExport("otlp", COLLECTOR + "/v1/traces", "http/protobuf", "fleet"),
            id="base endpoint from env gets the signal path",
        ),
        pytest.param(
            OtelSettings(),
            {
                "OTEL_EXPORTER_OTLP_ENDPOINT": COLLECTOR,
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://traces:4318/custom",
            },
            TraceExport("otlp", "http://traces:4318/custom", "http/protobuf", "fleet"),
            id="signal endpoint is used as written and wins over the base one",
        ),
        pytest.param(
            OtelSettings(),
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
            TraceExport("otlp", "http://c:4317", "grpc", "fleet"),
            id="grpc from env: the endpoint is the collector address",
        ),
        pytest.param(
            OtelSettings(),
            {
                "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317",
                "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
                "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc",
            },
            TraceExport("otlp", "http://c:4317", "grpc", "fleet"),
            id="the traces protocol variable wins over the general one",
        ),
        pytest.param(
            OtelSettings(endpoint="http://mine:4318/", service_name="fleet-eu"),
            {"OTEL_EXPORTER_OTLP_ENDPOINT": COLLECTOR, "OTEL_SERVICE_NAME": "from-env"},
            TraceExport("otlp", "http://mine:4318/v1/traces", "http/protobuf", "fleet-eu"),
            id="explicit settings win over the environment",
        ),
        pytest.param(
            OtelSettings(endpoint="http://mine:4317"),
            {"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_SERVICE_NAME": "from-env"},
            TraceExport("otlp", "http://mine:4317", "grpc", None),
            id="a value the settings leave out still comes from the environment",
        ),
        pytest.param(
            OtelSettings(),
            {
                "OTEL_EXPORTER_OTLP_ENDPOINT": COLLECTOR,
                "OTEL_RESOURCE_ATTRIBUTES": "service.name=billing-fleet,team=platform",
            },
            TraceExport("otlp", COLLECTOR + "/v1/traces", "http/protobuf", None),
            id="a service name in the resource attributes is kept",
        ),
        pytest.param(
            OtelSettings(endpoint="http://mine:4318"),
            {"OTEL_TRACES_EXPORTER": "none"},
            None,
            id="OTEL_TRACES_EXPORTER=none turns export off",
        ),
        pytest.param(
            OtelSettings(endpoint="http://mine:4318"),
            {"OTEL_SDK_DISABLED": "true"},
            None,
            id="OTEL_SDK_DISABLED turns export off",
        ),
        pytest.param(
            OtelSettings(),
            {"OTEL_TRACES_EXPORTER": "console"},
            TraceExport("console", "", "http/protobuf", "fleet"),
            id="console exporter needs no endpoint",
        ),
    ],
)
def test_resolution(
    settings: OtelSettings, env: dict[str, str], expected: TraceExport | None
) -> None:
    assert resolve_export(settings, env) == expected


def test_settings_from_a_file_or_fleet_variables_count_as_explicit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FLEET_OTEL__ENDPOINT", "http://fleet-var:4318")
    settings = Settings()
    found = resolve_export(settings.otel, {"OTEL_EXPORTER_OTLP_ENDPOINT": COLLECTOR})
    assert found is not None
    assert found.endpoint == "http://fleet-var:4318/v1/traces"


@pytest.mark.parametrize(
    ("env", "named"),
    [
        (
            {"OTEL_EXPORTER_OTLP_ENDPOINT": COLLECTOR, "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"},
            "OTEL_EXPORTER_OTLP_PROTOCOL",
        ),
        ({"OTEL_TRACES_EXPORTER": "zipkin"}, "OTEL_TRACES_EXPORTER"),
    ],
)
def test_unsupported_values_are_named(env: dict[str, str], named: str) -> None:
    with pytest.raises(TracingConfigError, match=named):
        resolve_export(OtelSettings(), env)


def test_the_provider_carries_the_resource(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment.name=eu,team=platform")
    monkeypatch.delenv("OTEL_SERVICE_NAME", raising=False)
    export = TraceExport("otlp", "http://127.0.0.1:9/v1/traces", "http/protobuf", "fleet")
    provider = build_provider(export, version="9.9.9", batch=False)
    try:
        attributes = provider.resource.attributes
        assert attributes["service.name"] == "fleet"
        assert attributes["service.version"] == "9.9.9"
        assert attributes["deployment.environment.name"] == "eu"
        assert attributes["team"] == "platform"
    finally:
        provider.shutdown()


def test_describe_hides_credentials() -> None:
    export = TraceExport("otlp", "https://user:hunter2@collector/v1/traces", "grpc", None)
    assert "hunter2" not in export.describe()
    assert "grpc" in export.describe()
