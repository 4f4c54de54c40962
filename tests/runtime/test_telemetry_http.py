"""A real daemon's traces (OTLP/HTTP to a real receiver) and metrics (scraped over HTTP).

One known sequence on two simulated clusters rolled out in waves (dev, then prod):

1. the seed commit rolls out and both clusters converge;
2. a commit whose PreSync migration fails: dev's sync fails and the rollout halts;
3. a manual sync of prod;
4. someone scales prod's Deployment by hand: self-heal syncs it back (drift).

Then the exported trees and the scraped numbers must tell exactly that story.
"""

from __future__ import annotations

import base64
import itertools
from pathlib import Path

import pytest

from fleet.adapters.telemetry.metrics import HEALTH_STATUSES
from fleet.config.settings import OtelSettings
from fleet.model.refs import ObjectRef
from tests.adapters.telemetry.daemon_world import (
    NAMESPACE,
    SECRET_VALUE,
    DaemonWorld,
    daemon_world,
    failing_migration,
    parse_metrics,
    sample,
    total,
)
from tests.adapters.telemetry.otlp_receivers import ReceivedSpan, Tree, http_receiver

pytestmark = pytest.mark.anyio

PHASES = ["DryRun", "PreSync", "Sync", "PostSync", "SyncFail", "Cleanup"]


async def run_story(world: DaemonWorld) -> dict[str, object]:
    """Drive the sequence; return what the daemon recorded, and a scrape at the end."""
    seed = world.seed_sha
    await world.converged(seed)
    bad = await world.commit("web: a migration that fails", failing_migration())
    failed = await world.finished_sync("dev", bad, result="Failed")
    await world.daemon.trigger_sync("web", "prod", None, False, False)
    manual = await world.finished_sync("prod", seed, result="Succeeded", trigger="manual")
    client = world.daemon.clusters["prod"].client
    await client.merge_patch(
        "apps/v1", ObjectRef("apps", "Deployment", NAMESPACE, "web"), {"spec": {"replicas": 7}}
    )
    healed = await world.finished_sync(
        "prod", seed, result="Succeeded", trigger="drift", after=int(manual["id"])
    )
    await world.converged(seed, ["prod"])
    history = {c: await world.daemon.history("web", c, 50, None) for c in world.clusters}
    return {
        "bad": bad,
        "failed": failed,
        "manual": manual,
        "healed": healed,
        "history": history,
        "metrics": await world.scrape(),
    }


async def test_traces_and_metrics_tell_the_story(tmp_path: Path) -> None:
    async with http_receiver() as (endpoint, collected):
        otel = OtelSettings(endpoint=endpoint, protocol="http/protobuf", service_name="fleet-test")
        async with daemon_world(tmp_path, otel=otel) as world:
            story = await run_story(world)
            password, token = world.password, world.token
        # The daemon has stopped: its provider flushed every span to the receiver.
        assert collected.requests > 0
        tree = Tree(collected.spans)
    seed, bad = world.seed_sha, str(story["bad"])
    check_rollouts(tree, seed, bad)
    check_sync_steps(tree, seed)
    check_failed_sync(tree, bad)
    check_own_traces(tree, story)
    check_history_trace_ids(tree, story)
    check_no_secret(tree, [password, token, SECRET_VALUE, _b64(SECRET_VALUE)])
    check_metrics(str(story["metrics"]))


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def check_rollouts(tree: Tree, seed: str, bad: str) -> None:
    rollouts = tree.roots("rollout web")
    assert [r.attributes["vcs.ref.head.revision"] for r in rollouts] == [seed, bad]
    first, second = rollouts
    assert first.resource["service.name"] == "fleet-test"
    assert first.attributes["vcs.ref.head.name"] == "main"
    assert first.attributes["vcs.repository.url.full"].startswith("http://127.0.0.1:")
    assert first.attributes["fleet.rollout.result"] == "Complete"
    assert not first.is_error
    # A child per cluster, in wave order, each ending before the root does.
    syncs = tree.children(first, "sync web")
    assert [s.attributes["k8s.cluster.name"] for s in syncs] == ["dev", "prod"]
    assert all(s.end <= first.end and not s.is_error for s in syncs)
    assert syncs[0].end <= syncs[1].start, "prod started before dev was healthy"
    renders = tree.children(first, "render")
    assert {r.attributes["k8s.cluster.name"] for r in renders} == {"dev", "prod"}
    assert all(isinstance(r.attributes["fleet.render.cache_hit"], bool) for r in renders)
    # The rollout links to the fetch that saw its commit (a small trace of its own).
    fetches = {s.span_id: s for s in tree.named("git fetch")}
    linked = [fetches[link.span_id] for link in first.links if link.span_id in fetches]
    assert linked
    assert linked[0].attributes["vcs.ref.head.revision"] == seed
    assert linked[0].attributes["fleet.source"] == "platform"
    # The failing commit halted its rollout: Error, with dev's failed sync only.
    assert second.is_error
    assert second.attributes["fleet.rollout.result"] == "Halted"
    assert [s.attributes["k8s.cluster.name"] for s in tree.children(second, "sync")] == ["dev"]


def _steps(tree: Tree, sync: ReceivedSpan) -> list[ReceivedSpan]:
    return tree.children(sync, "step ")


def check_sync_steps(tree: Tree, seed: str) -> None:
    rollout = tree.roots("rollout web")[0]
    for sync in tree.children(rollout, "sync web"):
        assert sync.attributes["vcs.ref.head.revision"] == seed
        assert sync.attributes["fleet.sync.result"] == "Succeeded"
        steps = _steps(tree, sync)
        phases = [s.attributes["fleet.step.phase"] for s in steps]
        assert phases == sorted(phases, key=PHASES.index), phases
        assert {"DryRun", "PreSync", "Sync", "PostSync"} <= set(phases)
        for earlier, later in itertools.pairwise(steps):
            assert earlier.end <= later.start, f"{earlier.name} overlaps {later.name}"
        presync = next(s for s in steps if s.attributes["fleet.step.phase"] == "PreSync")
        hooks = tree.children(presync, "hook Job")
        assert [h.attributes["k8s.job.name"] for h in hooks] == ["web-migrate"]
        assert hooks[0].attributes["k8s.namespace.name"] == NAMESPACE
        created = tree.children(hooks[0], "create Job")
        assert created
        assert created[0].attributes["fleet.action.result"] == "hook"
        sync_steps = [s for s in steps if s.attributes["fleet.step.phase"] == "Sync"]
        writes = [w for step in sync_steps for w in tree.children(step, "apply ")]
        deployment = next(w for w in writes if w.name == "apply Deployment")
        assert deployment.attributes["k8s.deployment.name"] == "web"
        assert deployment.attributes["k8s.namespace.name"] == NAMESPACE
        assert deployment.attributes["fleet.action.result"] in ("created", "configured")
        # Each write's HTTP request hangs under it.
        assert any(r.name == "kube patch" for r in tree.children(deployment))
        waits = [w for step in sync_steps for w in tree.children(step, "wait ")]
        assert any(w.name == "wait health" for w in waits)


def check_failed_sync(tree: Tree, bad: str) -> None:
    rollout = tree.roots("rollout web")[1]
    (sync,) = tree.children(rollout, "sync web")
    assert sync.is_error
    assert sync.attributes["fleet.sync.result"] == "Failed"
    assert "HookFailed" in sync.status_message or "web-migrate" in sync.status_message
    presync = next(s for s in _steps(tree, sync) if s.attributes["fleet.step.phase"] == "PreSync")
    assert presync.is_error
    (hook,) = tree.children(presync, "hook Job")
    assert hook.is_error
    assert hook.attributes["k8s.job.name"] == "web-migrate"
    # Nothing of the Sync phase ran after the failed gate.
    assert "Sync" not in [s.attributes["fleet.step.phase"] for s in _steps(tree, sync)]


def check_own_traces(tree: Tree, story: dict[str, object]) -> None:
    halted = tree.roots("rollout web")[1]
    own = {s.attributes["fleet.sync.trigger"]: s for s in tree.roots("sync web")}
    assert set(own) == {"manual", "drift"}
    for sync in own.values():
        assert sync.attributes["k8s.cluster.name"] == "prod"
        assert not sync.is_error
        links = [(link.trace_id, link.span_id) for link in sync.links]
        assert (halted.trace_id, halted.span_id) in links
    # Healing drift applies no hooks: no PreSync step.
    healed_steps = _steps(tree, own["drift"])
    assert "PreSync" not in [s.attributes["fleet.step.phase"] for s in healed_steps]


def check_history_trace_ids(tree: Tree, story: dict[str, object]) -> None:
    history = story["history"]
    assert isinstance(history, dict)
    by_id = {s.attributes["fleet.sync.id"]: s for s in tree.named("sync web")}
    for rows in history.values():
        for row in rows:
            span = by_id[row["id"]]
            assert span.trace_id == row["trace_id"], row
            assert span.attributes["fleet.sync.trigger"] == row["trigger"]
            assert span.attributes["k8s.cluster.name"] == row["cluster"]


def check_no_secret(tree: Tree, secrets: list[str]) -> None:
    for span in tree.spans:
        for text in span.every_text():
            for secret in secrets:
                assert secret not in text, f"a secret in span {span.name}: {text[:200]}"


def check_metrics(text: str) -> None:
    samples = parse_metrics(text)

    def syncs(cluster: str, result: str) -> float | None:
        return sample(samples, "fleet_syncs_total", app="web", cluster=cluster, result=result)

    assert syncs("dev", "Succeeded") == 1
    assert syncs("dev", "Failed") == 1
    assert syncs("prod", "Succeeded") == 3  # the rollout, the manual sync, the heal
    assert syncs("prod", "Failed") is None
    assert sample(samples, "fleet_sync_duration_seconds_count", app="web", cluster="prod") == 3
    for cluster in ("dev", "prod"):
        assert sample(samples, "fleet_cluster_reachable", cluster=cluster) == 1
        health = [
            sample(samples, "fleet_app_health_status", app="web", cluster=cluster, health=h)
            for h in HEALTH_STATUSES
        ]
        assert sorted(health) == [0] * (len(HEALTH_STATUSES) - 1) + [1]  # one-hot
    assert (
        sample(samples, "fleet_app_health_status", app="web", cluster="prod", health="Healthy") == 1
    )
    assert sample(samples, "fleet_app_sync_status", app="web", cluster="prod", status="Synced") == 1
    assert (
        sample(samples, "fleet_app_sync_status", app="web", cluster="prod", status="OutOfSync") == 0
    )
    assert (sample(samples, "fleet_drift_events_total", app="web", cluster="prod") or 0) >= 1
    # dev stays OutOfSync at the failed revision (its ConfigMap never applied): one drift,
    # noted once and not healed (healing applies no hooks, so it waits for a good commit).
    assert sample(samples, "fleet_drift_events_total", app="web", cluster="dev") == 1
    assert (
        sample(samples, "fleet_app_sync_status", app="web", cluster="dev", status="OutOfSync") == 1
    )
    assert sample(samples, "fleet_rollouts_total", app="web", result="Complete") == 1
    assert sample(samples, "fleet_rollouts_total", app="web", result="Halted") == 1
    assert (sample(samples, "fleet_events_total", kind="sync_failed") or 0) >= 1
    assert total(samples, "fleet_kube_requests_total", cluster="dev", verb="patch") >= 1
    assert total(samples, "fleet_kube_requests_total", cluster="prod", code="200") >= 1
    assert total(samples, "fleet_git_fetch_duration_seconds_count", source="platform") >= 2
    assert sample(samples, "fleet_git_fetch_failures_total", source="platform") is None
    assert total(samples, "fleet_render_duration_seconds_count", app="web") >= 3
    steps = sample(samples, "fleet_sync_step_duration_seconds_count", app="web", phase="PreSync")
    # dev's two syncs (one failed in it), prod's rollout and manual syncs; healing runs none.
    assert steps == 4
    assert sample(samples, "fleet_work_queued", queue="sync_slot") == 0
    assert sample(samples, "fleet_syncs_running") == 0
    assert sample(samples, "fleet_build_info", version="0.1.0") == 1
