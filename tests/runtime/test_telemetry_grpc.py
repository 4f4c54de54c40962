"""Traces over OTLP/gRPC, configured only by the standard OTEL_* variables.

The daemon settings say nothing about tracing here: the endpoint, protocol, service name
and resource attributes all come from the environment, as a collector's documentation
tells an operator to set them. Log lines written inside a span carry its ids.
"""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import pytest

from fleet.adapters.telemetry.logs import ContextFilter, JsonFormatter, RedactingFilter
from tests.adapters.telemetry.daemon_world import daemon_world
from tests.adapters.telemetry.otlp_receivers import Tree, grpc_receiver

pytestmark = pytest.mark.anyio


async def test_a_rollout_exported_over_grpc_from_otel_variables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = io.StringIO()
    handler = logging.StreamHandler(lines)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RedactingFilter())
    handler.addFilter(ContextFilter())
    fleet_log = logging.getLogger("fleet")
    async with grpc_receiver() as (endpoint, collected):
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
        monkeypatch.setenv("OTEL_SERVICE_NAME", "fleet-from-env")
        monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment.name=test")
        fleet_log.addHandler(handler)
        level = fleet_log.level
        fleet_log.setLevel(logging.INFO)
        try:
            async with daemon_world(tmp_path, clusters=("dev",), waves=False) as world:
                await world.converged(world.seed_sha)
                history = await world.daemon.history("web", "dev", 10, None)
        finally:
            fleet_log.removeHandler(handler)
            fleet_log.setLevel(level)
        tree = Tree(collected.spans)
    assert collected.requests > 0
    (rollout,) = tree.roots("rollout web")
    assert rollout.resource["service.name"] == "fleet-from-env"
    assert rollout.resource["deployment.environment.name"] == "test"
    assert rollout.resource["service.version"]
    assert rollout.attributes["vcs.ref.head.revision"] == world.seed_sha
    (sync,) = tree.children(rollout, "sync web")
    assert sync.attributes["k8s.cluster.name"] == "dev"
    assert sync.trace_id == history[0]["trace_id"]
    steps = [s.attributes["fleet.step.phase"] for s in tree.children(sync, "step ")]
    assert steps[0] == "DryRun"
    assert steps.index("PreSync") < steps.index("Sync") < steps.index("PostSync")

    # The log line of the fetch that saw the commit leads to that fetch's trace.
    fetch_traces = {
        s.trace_id: s
        for s in tree.named("git fetch")
        if s.attributes.get("vcs.ref.head.revision") == world.seed_sha
    }
    records = [json.loads(line) for line in lines.getvalue().splitlines()]
    seen = [r for r in records if r["message"].startswith("source platform at")]
    assert seen, records
    assert seen[0]["trace_id"] in fetch_traces
    assert len(seen[0]["span_id"]) == 16
    assert all("trace_id" not in r for r in records if "fleet is running" in r["message"])
