"""Properties of whole syncs over generated apps and clusters (hypothesis)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fleet.engine import ApiError, Batch, Failed, Prune, Succeeded, SyncInput, SyncOptions, Timeouts
from fleet.model.manifests import Manifest
from fleet.model.refs import ObjectRef
from fleet.model.tracking import APP_LABEL, TRACKING_ANNOTATION, parse_tracking_id, tracking_id
from tests.engine.cluster import (
    FakeCluster,
    body,
    deadline_exceeded_deployment,
    failing_job,
    never_ready_deployment,
    run_sync,
)

APP = "web"
OWNERS = ["ours", "other-app", "label-only", "copied", "ours-protected"]


@dataclass
class Scenario:
    desired: list[Manifest]
    cluster: FakeCluster
    inventory: frozenset[ObjectRef]
    #: Names of objects whose controller or errors doom the sync.
    doomed: set[str] = field(default_factory=set)


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    cluster = FakeCluster()
    cluster.add(body("Namespace", "web", None))
    desired: list[Manifest] = []
    doomed: set[str] = set()
    for index in range(draw(st.integers(1, 6))):
        name = f"d{index}"
        kind = draw(st.sampled_from(["ConfigMap", "Deployment", "Job-hook"]))
        wave = draw(st.integers(-1, 1))
        annotations = {"fleet.dev/sync-wave": str(wave)}
        if kind == "Job-hook":
            phase = draw(st.sampled_from(["PreSync", "Sync", "PostSync"]))
            annotations["fleet.dev/hook"] = phase
            annotations["fleet.dev/hook-delete-policy"] = draw(
                st.sampled_from(["HookSucceeded", "BeforeHookCreation", "HookFailed"])
            )
            desired.append(
                Manifest.from_body(
                    body("Job", name, annotations=annotations, spec={"template": {}})
                )
            )
            if draw(st.booleans()):
                cluster.by_name[name] = failing_job
                doomed.add(name)
        elif kind == "Deployment":
            desired.append(
                Manifest.from_body(
                    body("Deployment", name, annotations=annotations, spec={"replicas": 1})
                )
            )
            fate = draw(st.sampled_from(["ready", "ready", "never", "degraded"]))
            if fate != "ready":
                cluster.by_name[name] = (
                    never_ready_deployment if fate == "never" else deadline_exceeded_deployment
                )
                doomed.add(name)
        else:
            desired.append(
                Manifest.from_body(
                    body("ConfigMap", name, annotations=annotations, data={"i": str(index)})
                )
            )
        errors = draw(st.sampled_from(["none", "none", "transient", "final"]))
        if errors == "transient":
            cluster.errors[name] = [ApiError(503, "ServiceUnavailable")]
        elif errors == "final":
            cluster.errors[name] = [ApiError(422, "Invalid", "rejected")]
            doomed.add(name)
    if draw(st.booleans()):
        desired.append(
            Manifest.from_body(
                body("Job", "on-fail", annotations={"fleet.dev/hook": "SyncFail"}, spec={})
            )
        )

    inventory: set[ObjectRef] = set()
    for index in range(draw(st.integers(0, 5))):
        owner = draw(st.sampled_from(OWNERS))
        obj = body(
            "ConfigMap",
            f"stale{index}",
            data={},
            annotations={"fleet.dev/sync-wave": str(draw(st.integers(-1, 1)))},
        )
        ref = ObjectRef.of(obj)
        meta = obj["metadata"]
        meta["labels"] = {APP_LABEL: APP}
        if owner in ("ours", "ours-protected"):
            meta["annotations"][TRACKING_ANNOTATION] = tracking_id(APP, ref)
        if owner == "ours-protected":
            meta["annotations"]["fleet.dev/prune"] = "disabled"
        if owner == "other-app":
            meta["annotations"][TRACKING_ANNOTATION] = tracking_id("shop", ref)
        if owner == "copied":
            other = ObjectRef("", "ConfigMap", "web", "original")
            meta["annotations"][TRACKING_ANNOTATION] = tracking_id(APP, other)
        cluster.add(obj)
        if draw(st.booleans()) or owner != "ours":
            inventory.add(ref)
    return Scenario(desired, cluster, frozenset(inventory), doomed)


OPTIONS = SyncOptions(prune_guard_share=None, timeouts=Timeouts(health=40, hook=40, deletion=40))
PROPERTY = settings(
    max_examples=60,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def prunes_seen(scenario: Scenario, **kwargs: Any) -> tuple[list[tuple[Prune, Any]], Any]:
    seen: list[tuple[Prune, Any]] = []

    def watch(inp: SyncInput, decision: Any) -> None:
        if isinstance(decision, Batch):
            seen.extend((a, inp.live.get(a.ref)) for a in decision.actions if isinstance(a, Prune))

    trace = run_sync(
        scenario.desired,
        scenario.cluster,
        OPTIONS,
        scenario.inventory,
        app=APP,
        on_decide=watch,
        **kwargs,
    )
    return seen, trace


@PROPERTY
@given(scenarios())
def test_prune_never_targets_an_object_this_app_does_not_own(scenario: Scenario) -> None:
    seen, _ = prunes_seen(scenario)
    for action, live in seen:
        assert live is not None
        annotations = live["metadata"].get("annotations") or {}
        owner = parse_tracking_id(annotations.get(TRACKING_ANNOTATION, ""))
        assert owner is not None, f"pruned {action.ref} without a tracking annotation"
        assert owner.app == APP
        assert owner.ref == action.ref
        assert annotations.get("fleet.dev/prune") != "disabled"
        assert action.uid == live["metadata"]["uid"]


@PROPERTY
@given(scenarios(), st.sampled_from(["render failed", "empty"]))
def test_a_failed_or_empty_render_never_prunes_or_touches_anything(
    scenario: Scenario, how: str
) -> None:
    before = {ref: obj["metadata"]["resourceVersion"] for ref, obj in scenario.cluster.live.items()}
    if how == "empty":
        scenario.desired = []
        seen, trace = prunes_seen(scenario)
    else:
        seen, trace = prunes_seen(scenario, render_error="helm: template failed")
    assert seen == []
    assert trace.lines == []
    assert isinstance(trace.verdict, Failed)
    after = {ref: obj["metadata"]["resourceVersion"] for ref, obj in scenario.cluster.live.items()}
    assert after == before


@PROPERTY
@given(scenarios())
def test_succeeded_exactly_when_every_resource_is_healthy_and_every_hook_succeeded(
    scenario: Scenario,
) -> None:
    trace = run_sync(scenario.desired, scenario.cluster, OPTIONS, scenario.inventory, app=APP)
    if scenario.doomed:
        assert isinstance(trace.verdict, Failed), scenario.doomed
        named = {f.ref.name for f in trace.verdict.failures if f.ref is not None}
        assert named <= scenario.doomed | {"on-fail"}
        assert named & scenario.doomed
    else:
        assert isinstance(trace.verdict, Succeeded), trace.verdict
        for manifest in scenario.desired:
            if "fleet.dev/hook" not in manifest.annotations:
                assert manifest.ref in scenario.cluster.live
        assert "create Job/on-fail" not in scenario.cluster.writes


@PROPERTY
@given(scenarios())
def test_stale_objects_this_app_owns_are_gone_after_a_successful_sync(scenario: Scenario) -> None:
    trace = run_sync(scenario.desired, scenario.cluster, OPTIONS, scenario.inventory, app=APP)
    if not isinstance(trace.verdict, Succeeded):
        return
    for ref in scenario.inventory:
        live = scenario.cluster.live.get(ref)
        if live is None:
            continue
        annotations = live["metadata"].get("annotations") or {}
        owner = parse_tracking_id(annotations.get(TRACKING_ANNOTATION, ""))
        mine = owner is not None and owner.app == APP and owner.ref == ref
        assert not mine or annotations.get("fleet.dev/prune") == "disabled", ref
