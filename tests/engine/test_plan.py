"""The planner's rules, one test per behaviour, driven against a fake cluster."""

from __future__ import annotations

import json
from typing import Any

import pytest

from fleet.engine import (
    ApiError,
    Apply,
    Batch,
    CreateHook,
    Failed,
    PlanMemo,
    Progress,
    Reason,
    RetryPolicy,
    Succeeded,
    SyncInput,
    SyncOptions,
    Timeouts,
    decide,
)
from fleet.model.ignore_differences import IgnoreDifference
from fleet.model.manifests import Manifest
from fleet.model.refs import ObjectRef
from fleet.model.tracking import APP_LABEL, TRACKING_ANNOTATION, tracking_id
from tests.engine.cluster import (
    FakeCluster,
    body,
    deadline_exceeded_deployment,
    failing_job,
    manifests,
    never_ready_deployment,
    run_sync,
)


def deployment(name: str = "api", wave: int | None = None, **extra: Any) -> dict[str, Any]:
    annotations = {"fleet.dev/sync-wave": str(wave)} if wave is not None else None
    return body(
        "Deployment", name, annotations=annotations, spec={"replicas": 1, "template": {}}, **extra
    )


def config(name: str, wave: int | None = None, **annotations: str) -> dict[str, Any]:
    if wave is not None:
        annotations["fleet.dev/sync-wave"] = str(wave)
    return body("ConfigMap", name, annotations=annotations or None, data={"k": name})


def hook(
    name: str, phase: str, policy: str | None = None, kind: str = "Job", generate: bool = False
) -> dict[str, Any]:
    annotations = {"argocd.argoproj.io/hook": phase}
    if policy:
        annotations["argocd.argoproj.io/hook-delete-policy"] = policy
    out = body(kind, "" if generate else name, annotations=annotations, spec={"template": {}})
    if generate:
        out["metadata"]["generateName"] = name
    return out


def owned(cluster: FakeCluster, obj: dict[str, Any], app: str = "web") -> ObjectRef:
    """Put an object on the cluster as an earlier sync of ``app`` left it."""
    ref = ObjectRef.of(obj)
    meta = obj.setdefault("metadata", {})
    meta.setdefault("labels", {})[APP_LABEL] = app
    meta.setdefault("annotations", {})[TRACKING_ANNOTATION] = tracking_id(app, ref)
    return cluster.add(obj)


def failures(verdict: Succeeded | Failed) -> list[tuple[str, str]]:
    assert isinstance(verdict, Failed), verdict
    return [(f.reason, f.ref.name if f.ref else "") for f in verdict.failures]


# -- refusals before anything is touched -------------------------------------------------


def test_a_failed_render_does_nothing() -> None:
    cluster = FakeCluster()
    stale = owned(cluster, config("old"))
    trace = run_sync(
        manifests(config("new")),
        cluster,
        inventory=frozenset({stale}),
        render_error="kustomize: accumulating resources: no such file",
    )
    assert trace.lines == []
    assert failures(trace.verdict) == [(Reason.RENDER_FAILED, "")]
    assert "no such file" in trace.verdict.message
    assert trace.verdict.inventory == {stale}


def test_an_empty_render_prunes_nothing_unless_allowed() -> None:
    cluster = FakeCluster()
    stale = owned(cluster, config("old"))
    refused = run_sync([], cluster, inventory=frozenset({stale}))
    assert failures(refused.verdict) == [(Reason.EMPTY_RENDER, "")]
    assert stale in cluster.live
    allowed = run_sync(
        [],
        cluster,
        SyncOptions(allow_empty=True, prune_guard_share=None),
        inventory=frozenset({stale}),
    )
    assert isinstance(allowed.verdict, Succeeded)
    assert stale not in cluster.live
    assert allowed.verdict.inventory == frozenset()


def test_every_unreadable_annotation_is_reported_at_once() -> None:
    desired = manifests(
        config("a", **{"fleet.dev/sync-wave": "x"}),
        config("b", **{"argocd.argoproj.io/hook": "Presync"}),
        config("c"),
    )
    trace = run_sync(desired, FakeCluster())
    assert failures(trace.verdict) == [
        (Reason.INVALID_ANNOTATION, "a"),
        (Reason.INVALID_ANNOTATION, "b"),
    ]
    assert trace.lines == []


def test_an_object_rendered_twice_is_refused_naming_both_sources() -> None:
    first = Manifest.from_body(config("a"))
    second = Manifest(first.ref, config("a"), first.origin.__class__("apps/web/b.yaml", 3))
    trace = run_sync([first, second], FakeCluster())
    assert failures(trace.verdict) == [(Reason.DUPLICATE_OBJECT, "a")]
    assert "apps/web/b.yaml:3" in trace.verdict.message


def test_the_prune_guard_refuses_a_mass_deletion_until_confirmed() -> None:
    cluster = FakeCluster()
    stale = frozenset(owned(cluster, config(f"old-{i}")) for i in range(4))
    keep = owned(cluster, config("keep"))
    inventory = stale | {keep}
    refused = run_sync(manifests(config("keep")), cluster, inventory=inventory)
    assert failures(refused.verdict) == [(Reason.PRUNE_REFUSED, "")]
    assert "delete 4 of the app's 5 objects" in refused.verdict.message
    assert refused.lines == []
    assert all(ref in cluster.live for ref in stale)
    confirmed = run_sync(
        manifests(config("keep")), cluster, SyncOptions(confirm_prune=True), inventory=inventory
    )
    assert isinstance(confirmed.verdict, Succeeded)
    assert not any(ref in cluster.live for ref in stale)


# -- dry-run -----------------------------------------------------------------------------


def test_a_failed_dry_run_applies_nothing() -> None:
    cluster = FakeCluster(errors={})
    desired = manifests(config("a"), deployment("api"))

    class Refusing(FakeCluster):
        def execute(self, action: Any) -> Any:
            if type(action).__name__ == "DryRun" and action.ref.name == "api":
                return action.failed(ApiError(422, "Invalid", "spec.replicas: Invalid value"))
            return super().execute(action)

    cluster = Refusing()
    trace = run_sync(desired, cluster)
    assert failures(trace.verdict) == [(Reason.DRY_RUN_FAILED, "api")]
    assert "spec.replicas" in trace.verdict.message
    assert cluster.writes == []


def test_custom_resources_of_a_crd_in_the_same_sync_skip_the_dry_run() -> None:
    crd = body(
        "CustomResourceDefinition",
        "widgets.example.com",
        None,
        spec={"group": "example.com", "names": {"kind": "Widget"}},
    )
    widget = body("Widget", "w", api_version="example.com/v1")
    cluster = FakeCluster(unserved={"Widget"})
    cluster.add(body("Namespace", "web", None))
    trace = run_sync(manifests(crd, widget), cluster)
    assert trace.lines[0] == "DryRun: DryRun CustomResourceDefinition/widgets.example.com"
    assert isinstance(trace.verdict, Succeeded)


def test_objects_in_a_namespace_the_sync_creates_skip_the_dry_run() -> None:
    trace = run_sync(manifests(body("Namespace", "web", None), config("a")), FakeCluster())
    assert trace.lines[:2] == ["DryRun: DryRun Namespace/web", "Sync/0: Apply Namespace/web"]


def test_skip_dry_run_on_missing_resource() -> None:
    widget = body(
        "Widget",
        "w",
        api_version="example.com/v1",
        annotations={"argocd.argoproj.io/sync-options": "SkipDryRunOnMissingResource=true"},
    )
    cluster = FakeCluster(unserved={"Widget"})
    assert isinstance(run_sync(manifests(widget), cluster).verdict, Succeeded)
    plain = body("Widget", "w", api_version="example.com/v1")
    trace = run_sync(manifests(plain), FakeCluster(unserved={"Widget"}))
    assert failures(trace.verdict) == [(Reason.DRY_RUN_FAILED, "w")]
    assert "does not serve Widget.example.com" in trace.verdict.message


# -- applying ----------------------------------------------------------------------------


def test_objects_already_in_sync_are_not_applied() -> None:
    cluster = FakeCluster()
    desired = manifests(config("a"), config("b"))
    run_sync(desired, cluster)
    cluster.writes.clear()
    changed = manifests(config("a"), body("ConfigMap", "b", data={"k": "new"}))
    trace = run_sync(changed, cluster, inventory=frozenset(m.ref for m in desired))
    assert cluster.writes == ["apply ConfigMap/b"]
    assert isinstance(trace.verdict, Succeeded)


@pytest.mark.parametrize(
    ("options", "annotations", "applies"),
    [
        (SyncOptions(), {}, 0),
        (SyncOptions(apply_out_of_sync_only=False), {}, 1),
        (SyncOptions(), {"argocd.argoproj.io/sync-options": "ApplyOutOfSyncOnly=false"}, 1),
        (
            SyncOptions(apply_out_of_sync_only=False),
            {"argocd.argoproj.io/sync-options": "ApplyOutOfSyncOnly=true"},
            0,
        ),
    ],
    ids=["default: skip", "app option off", "object says apply", "object says skip"],
)
def test_apply_out_of_sync_only(
    options: SyncOptions, annotations: dict[str, str], applies: int
) -> None:
    cluster = FakeCluster()
    desired = manifests(config("a", **annotations))
    run_sync(desired, cluster, options)
    cluster.writes.clear()
    run_sync(desired, cluster, options, inventory=frozenset({desired[0].ref}))
    assert len(cluster.writes) == applies


def test_a_step_applies_in_runs_of_one_kind() -> None:
    cluster = FakeCluster()
    cluster.add(body("Namespace", "web", None))
    desired = manifests(
        deployment("b"), config("x"), deployment("a"), config("y"), body("Service", "s", spec={})
    )
    trace = run_sync(desired, cluster)
    assert trace.lines[1:4] == [
        "Sync/0: Apply ConfigMap/x; Apply ConfigMap/y",
        "Sync/0: Apply Service/s",
        "Sync/0: Apply Deployment/a; Apply Deployment/b",
    ]


def test_replace_and_force_are_passed_to_the_runtime() -> None:
    desired = manifests(
        config("a", **{"argocd.argoproj.io/sync-options": "Replace=true,Force=true"})
    )
    cluster = FakeCluster()
    cluster.add(body("Namespace", "web", None))
    inp = SyncInput(
        "web", "abc", desired, dict(cluster.live), frozenset(), SyncOptions(), Progress.start(0), 0
    )
    dry = decide(inp)
    assert isinstance(dry, Batch)
    assert dry.actions[0].mode == "replace"
    progress = dry.record([cluster.execute(a) for a in dry.actions], 1)  # type: ignore[misc]
    apply = decide(
        SyncInput(
            "web", "abc", desired, dict(cluster.live), frozenset(), SyncOptions(), progress, 1
        )
    )
    assert isinstance(apply, Batch)
    action = apply.actions[0]
    assert isinstance(action, Apply)
    assert action.replace
    assert action.force


def test_applied_objects_carry_the_tracking_label_and_annotation() -> None:
    cluster = FakeCluster()
    run_sync(manifests(config("a")), cluster, app="shop")
    meta = cluster.live[ObjectRef("", "ConfigMap", "web", "a")]["metadata"]
    assert meta["labels"][APP_LABEL] == "shop"
    assert meta["annotations"][TRACKING_ANNOTATION] == "shop:/ConfigMap:web/a"


def test_create_namespace_makes_an_untracked_namespace_first() -> None:
    cluster = FakeCluster()
    options = SyncOptions(create_namespace=True, namespace="web")
    trace = run_sync(manifests(config("a"), hook("migrate", "PreSync")), cluster, options)
    # the namespace is dry-run, created, then what lives in it is dry-run before any
    # other write (fleet.engine.namespaces; tests/engine/test_namespaces.py)
    assert trace.lines[:4] == [
        "DryRun: DryRun Namespace/web",
        "DryRun: Apply Namespace/web",
        "DryRun: DryRun Job/migrate; DryRun ConfigMap/a",
        "PreSync/0: CreateHook Job/migrate",
    ]
    namespace = cluster.live[ObjectRef("", "Namespace", "", "web")]
    assert "labels" not in namespace["metadata"]
    assert isinstance(trace.verdict, Succeeded)
    assert ObjectRef("", "Namespace", "", "web") not in trace.verdict.inventory


def test_respect_ignore_differences_keeps_live_values_in_what_is_applied() -> None:
    cluster = FakeCluster()
    cluster.add(body("Namespace", "web", None))
    options = SyncOptions(
        respect_ignore_differences=True,
        ignore_differences=(
            IgnoreDifference(kind="Deployment", json_pointers=("/spec/replicas", "/spec/paused")),
        ),
    )
    run_sync(manifests(deployment("api")), cluster, options)
    live = cluster.live[ObjectRef("apps", "Deployment", "web", "api")]
    live["spec"]["replicas"] = 7  # an autoscaler scaled it
    changed = manifests(deployment("api") | {"spec": {"replicas": 1, "template": {"x": 1}}})
    run_sync(changed, cluster, options, inventory=frozenset({changed[0].ref}))
    live = cluster.live[ObjectRef("apps", "Deployment", "web", "api")]
    assert live["spec"] == {"replicas": 7, "template": {"x": 1}}


# -- failures ----------------------------------------------------------------------------


def test_a_failed_apply_finishes_the_step_skips_later_steps_and_runs_sync_fail() -> None:
    cluster = FakeCluster(errors={"bad": [ApiError(422, "Invalid", "bad field")]})
    cluster.add(body("Namespace", "web", None))
    desired = manifests(
        config("bad"),
        deployment("api"),
        config("later", wave=1),
        hook("notify-", "SyncFail", generate=True),
    )
    trace = run_sync(desired, cluster)
    assert "apply Deployment/api" in cluster.writes, "the rest of the step was attempted"
    assert "apply ConfigMap/later" not in cluster.writes, "later steps never run"
    assert any(line.startswith("SyncFail/0: CreateHook Job/notify-") for line in trace.lines)
    assert failures(trace.verdict) == [(Reason.APPLY_FAILED, "bad")]
    assert "422 Invalid: bad field" in trace.verdict.message


def test_a_retryable_error_is_retried_after_a_back_off() -> None:
    errors = [ApiError(503, "ServiceUnavailable"), ApiError(429, "TooManyRequests")]
    cluster = FakeCluster(errors={"a": errors})
    cluster.add(body("Namespace", "web", None))
    trace = run_sync(manifests(config("a")), cluster)
    assert trace.lines == [
        "DryRun: DryRun ConfigMap/a",
        "Sync/0: Apply ConfigMap/a",
        "Sync/0: Wait[retry] ConfigMap/a",
        "Sync/0: Apply ConfigMap/a",
        "Sync/0: Wait[retry] ConfigMap/a",
        "Sync/0: Apply ConfigMap/a",
    ]
    assert isinstance(trace.verdict, Succeeded)


def test_retries_end_at_the_policy_maximum() -> None:
    cluster = FakeCluster(errors={"a": [ApiError(500, "InternalError", "etcd")] * 10})
    cluster.add(body("Namespace", "web", None))
    trace = run_sync(
        manifests(config("a")), cluster, SyncOptions(retry=RetryPolicy(max_attempts=3))
    )
    assert sum(line == "Sync/0: Apply ConfigMap/a" for line in trace.lines) == 3
    assert failures(trace.verdict) == [(Reason.APPLY_FAILED, "a")]
    assert "(after 3 attempts)" in trace.verdict.message


def test_a_degraded_resource_fails_the_sync_at_once() -> None:
    cluster = FakeCluster(by_name={"api": deadline_exceeded_deployment})
    cluster.add(body("Namespace", "web", None))
    trace = run_sync(manifests(deployment("api"), config("later", wave=1)), cluster)
    assert failures(trace.verdict) == [(Reason.DEGRADED, "api")]
    assert "exceeded its progress deadline" in trace.verdict.message
    assert "apply ConfigMap/later" not in cluster.writes


def test_a_wait_past_its_deadline_names_the_objects_and_their_last_message() -> None:
    cluster = FakeCluster(by_name={"api": never_ready_deployment})
    cluster.add(body("Namespace", "web", None))
    options = SyncOptions(timeouts=Timeouts(health=60))
    trace = run_sync(manifests(deployment("api"), config("c")), cluster, options)
    assert failures(trace.verdict) == [(Reason.TIMEOUT, "api")]
    failure = trace.verdict.failures[0]
    assert failure.message == (
        "not healthy after 60s; last: Progressing: 0 of 1 updated replicas available"
    )
    assert (failure.phase, failure.wave) == ("Sync", 0)
    waits = [line for line in trace.lines if "Wait[wait-health]" in line]
    assert len(waits) == 6, "one wait per tick until the deadline"


def test_a_failed_hook_fails_the_sync() -> None:
    cluster = FakeCluster(by_name={"migrate": failing_job})
    cluster.add(body("Namespace", "web", None))
    trace = run_sync(manifests(hook("migrate", "PreSync", "HookFailed"), config("c")), cluster)
    assert failures(trace.verdict) == [(Reason.HOOK_FAILED, "migrate")]
    assert "BackoffLimitExceeded" in trace.verdict.message
    assert trace.lines[-1] == "Cleanup: DeleteHook Job/migrate"
    assert "apply ConfigMap/c" not in cluster.writes


def test_sync_succeeds_only_after_every_step_is_healthy_with_separate_moments() -> None:
    cluster = FakeCluster()
    cluster.add(body("Namespace", "web", None))
    trace = run_sync(manifests(deployment("api")), cluster)
    verdict = trace.verdict
    assert isinstance(verdict, Succeeded)
    assert verdict.applied_at < verdict.healthy_at
    assert trace.lines[-1] == "Sync/0: Wait[wait-health] Deployment/api"


def test_a_suspended_resource_does_not_hold_the_sync() -> None:
    cluster = FakeCluster(by_name={"api": lambda obj, ticks: None})
    cluster.add(body("Namespace", "web", None))
    paused = deployment("api") | {"spec": {"paused": True, "replicas": 1}}
    assert isinstance(run_sync(manifests(paused), cluster).verdict, Succeeded)


# -- hooks -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "controller", "cleanup"),
    [
        (None, None, "ReleaseHook Job/migrate"),
        ("HookSucceeded", None, "DeleteHook Job/migrate"),
        ("HookFailed", None, "ReleaseHook Job/migrate"),
        ("HookFailed", failing_job, "DeleteHook Job/migrate"),
        ("HookSucceeded", failing_job, "ReleaseHook Job/migrate"),
    ],
    ids=[
        "default: kept",
        "HookSucceeded after success",
        "HookFailed after success",
        "HookFailed after failure",
        "HookSucceeded after failure",
    ],
)
def test_hook_delete_policies(policy: str | None, controller: Any, cleanup: str) -> None:
    cluster = FakeCluster(by_name={"migrate": controller} if controller else {})
    cluster.add(body("Namespace", "web", None))
    trace = run_sync(manifests(hook("migrate", "PreSync", policy)), cluster)
    assert trace.lines[-1] == f"Cleanup: {cleanup}"
    kept = cluster.live.get(ObjectRef("batch", "Job", "web", "migrate"))
    if cleanup.startswith("Release"):
        assert kept is not None
        assert kept["metadata"]["finalizers"] == []


def test_before_hook_creation_deletes_the_previous_syncs_instances() -> None:
    cluster = FakeCluster()
    cluster.add(body("Namespace", "web", None))
    desired = manifests(hook("migrate-", "PreSync", generate=True))
    first = run_sync(desired, cluster, start=1000)
    second = run_sync(desired, cluster, start=2000)
    assert first.lines[1] == "PreSync/0: CreateHook Job/migrate-abc1234-presync-1000"
    assert second.lines[1:3] == [
        "PreSync/0: DeleteHook Job/migrate-abc1234-presync-1000",
        "PreSync/0: CreateHook Job/migrate-abc1234-presync-2000",
    ]
    names = sorted(r.name for r in cluster.live if r.kind == "Job")
    assert names == ["migrate-abc1234-presync-2000"]


def test_a_named_hook_in_two_phases_is_recreated_for_the_second() -> None:
    cluster = FakeCluster()
    cluster.add(body("Namespace", "web", None))
    trace = run_sync(manifests(hook("check", "PreSync,PostSync", "HookSucceeded")), cluster)
    assert trace.lines[1:] == [
        "PreSync/0: CreateHook Job/check",
        "PreSync/0: Wait[wait-hooks] Job/check",
        "PostSync/0: DeleteHook Job/check",
        "PostSync/0: CreateHook Job/check",
        "PostSync/0: Wait[wait-hooks] Job/check",
        "Cleanup: DeleteHook Job/check",
    ]


def test_an_existing_hook_without_before_hook_creation_is_a_clear_failure() -> None:
    cluster = FakeCluster()
    cluster.add(body("Namespace", "web", None))
    owned(cluster, hook("check", "PreSync", "HookFailed"))
    trace = run_sync(manifests(hook("check", "PreSync", "HookFailed")), cluster)
    assert failures(trace.verdict) == [(Reason.HOOK_CREATE_FAILED, "check")]
    assert "AlreadyExists" in trace.verdict.message


def test_a_hand_made_object_where_a_named_hook_goes_is_neither_deleted_nor_replaced() -> None:
    cluster = FakeCluster()
    cluster.add(body("Namespace", "web", None))
    mine = cluster.add(hook("check", "PreSync"))  # BeforeHookCreation would delete it
    trace = run_sync(manifests(hook("check", "PreSync")), cluster)
    assert failures(trace.verdict) == [(Reason.ADOPTION_REFUSED, "check")]
    assert trace.lines == []
    assert mine in cluster.live


# -- prune -------------------------------------------------------------------------------


def test_prune_deletes_only_this_apps_stale_objects_and_keeps_the_protected() -> None:
    cluster = FakeCluster()
    cluster.add(body("Namespace", "web", None))
    stale = owned(cluster, config("stale"))
    theirs = owned(cluster, config("theirs"), app="shop")
    protected = owned(cluster, config("protected", **{"fleet.dev/prune": "disabled"}))
    copied = cluster.add(
        config("copied")
        | {"metadata": {"name": "copied", "namespace": "web", "labels": {APP_LABEL: "web"}}}
    )
    inventory = frozenset(
        {stale, theirs, protected, copied, ObjectRef("", "ConfigMap", "web", "gone-already")}
    )
    trace = run_sync(
        manifests(config("keep")), cluster, SyncOptions(prune_guard_share=None), inventory=inventory
    )
    verdict = trace.verdict
    assert isinstance(verdict, Succeeded)
    assert stale not in cluster.live
    assert all(ref in cluster.live for ref in (theirs, protected, copied))
    assert {c.ref.name: c.reason for c in verdict.kept} == {
        "theirs": "tracked by app 'shop'",
        "protected": "protected by a prune annotation",
        "copied": "no tracking annotation: not created by fleet",
    }
    assert verdict.inventory == {ObjectRef("", "ConfigMap", "web", "keep"), protected}


def test_prunes_run_in_mirrored_wave_order_and_wait_until_gone() -> None:
    cluster = FakeCluster()
    cluster.add(body("Namespace", "web", None))
    early = owned(cluster, config("early", wave=-1))
    late = owned(cluster, config("late", wave=2))
    trace = run_sync(
        manifests(config("keep", wave=0)),
        cluster,
        SyncOptions(prune_guard_share=None),
        inventory=frozenset({early, late}),
    )
    assert trace.lines[1:] == [
        "Sync/-1: Prune ConfigMap/late",
        "Sync/0: Apply ConfigMap/keep",
        "Sync/2: Prune ConfigMap/early",
    ]


def test_prune_last_prunes_after_the_last_wave() -> None:
    cluster = FakeCluster()
    cluster.add(body("Namespace", "web", None))
    stale = owned(cluster, config("stale"))
    trace = run_sync(
        manifests(config("a"), config("b", wave=3)),
        cluster,
        SyncOptions(prune_last=True, prune_guard_share=None),
        inventory=frozenset({stale}),
    )
    assert trace.lines[-1] == "Sync/4: Prune ConfigMap/stale"


def test_an_object_that_will_not_go_fails_the_sync_after_the_deletion_timeout() -> None:
    class Sticky(FakeCluster):
        def execute(self, action: Any) -> Any:
            if type(action).__name__ == "Prune":
                return action.succeeded()  # a finalizer keeps it
            return super().execute(action)

    cluster = Sticky()
    cluster.add(body("Namespace", "web", None))
    stale = owned(cluster, config("stale"))
    trace = run_sync(
        manifests(config("a")),
        cluster,
        SyncOptions(prune_guard_share=None, timeouts=Timeouts(deletion=30)),
        inventory=frozenset({stale}),
    )
    assert failures(trace.verdict) == [(Reason.TIMEOUT, "stale")]
    assert "not gone after 30s" in trace.verdict.message
    assert stale in trace.verdict.inventory


def test_prune_uses_the_objects_uid_and_propagation_policy() -> None:
    cluster = FakeCluster()
    cluster.add(body("Namespace", "web", None))
    stale = owned(
        cluster,
        config("stale", **{"argocd.argoproj.io/sync-options": "PrunePropagationPolicy=foreground"}),
    )
    seen: list[Any] = []
    run_sync(
        manifests(config("a")),
        cluster,
        SyncOptions(prune_guard_share=None),
        inventory=frozenset({stale}),
        on_decide=lambda inp, d: seen.extend(getattr(d, "actions", ())),
    )
    prune = next(a for a in seen if type(a).__name__ == "Prune")
    assert (prune.uid, prune.propagation) == ("uid-2", "Foreground")


# -- the protocol ------------------------------------------------------------------------


def test_progress_survives_json_and_the_same_input_gives_the_same_decision() -> None:
    cluster = FakeCluster(by_name={"api": never_ready_deployment})
    cluster.add(body("Namespace", "web", None))
    desired = manifests(deployment("api"), hook("migrate-", "PreSync", generate=True))
    checked = 0

    def check(inp: SyncInput, decision: Any) -> None:
        nonlocal checked
        resumed = Progress.from_json(inp.progress.to_json())
        assert resumed == inp.progress
        again = decide(
            SyncInput(
                inp.app,
                inp.revision,
                inp.desired,
                inp.live,
                inp.inventory,
                inp.options,
                resumed,
                inp.now,
            )
        )
        assert again == decision
        json.loads(inp.progress.to_json())
        checked += 1

    run_sync(desired, cluster, SyncOptions(timeouts=Timeouts(health=30)), on_decide=check)
    assert checked > 5


def test_a_failure_once_established_stays_even_if_the_object_heals() -> None:
    cluster = FakeCluster(by_name={"api": deadline_exceeded_deployment})
    cluster.add(body("Namespace", "web", None))
    desired = manifests(deployment("api"), hook("notify", "SyncFail"))
    decisions: list[Any] = []
    trace = run_sync(desired, cluster, on_decide=lambda inp, d: decisions.append((inp, d)))
    inp, decision = next((i, d) for i, d in decisions if i.progress.failures)
    healed = dict(inp.live)
    healed[ObjectRef("apps", "Deployment", "web", "api")] = deployment("api") | {
        "status": {
            "observedGeneration": 1,
            "replicas": 1,
            "updatedReplicas": 1,
            "availableReplicas": 1,
        }
    }
    again = decide(
        SyncInput(
            inp.app,
            inp.revision,
            inp.desired,
            healed,
            inp.inventory,
            inp.options,
            inp.progress,
            inp.now,
        )
    )
    assert again == decision
    assert failures(trace.verdict) == [(Reason.DEGRADED, "api")]


def test_batches_hold_either_writes_or_waits() -> None:
    cluster = FakeCluster()
    seen: list[Any] = []
    run_sync(
        manifests(body("Namespace", "web", None), deployment("api"), hook("m", "PreSync")),
        cluster,
        on_decide=lambda inp, d: seen.append(d),
    )
    for decision in seen:
        if isinstance(decision, Batch):
            kinds = {type(a).__name__ == "Wait" for a in decision.actions}
            assert len(kinds) == 1
            assert decision.actions


# -- CRDs --------------------------------------------------------------------------------

CRD = body(
    "CustomResourceDefinition",
    "widgets.example.com",
    None,
    spec={"group": "example.com", "names": {"kind": "Widget"}},
)
WIDGET = body("Widget", "w", api_version="example.com/v1")


def slow_crd(ready_after: int) -> Any:
    def controller(obj: dict[str, Any], ticks: int) -> dict[str, Any]:
        established = "True" if ticks >= ready_after else "False"
        return {"conditions": [{"type": "Established", "status": established}]}

    return controller


def test_custom_resources_wait_until_their_crd_is_established() -> None:
    cluster = FakeCluster(unserved={"Widget"})
    cluster.add(body("Namespace", "web", None))
    cluster.controllers["CustomResourceDefinition"] = slow_crd(2)
    trace = run_sync(manifests(CRD, WIDGET), cluster)
    assert trace.lines[1:] == [
        "Sync/0: Apply CustomResourceDefinition/widgets.example.com",
        "Sync/0: Wait[wait-crd] CustomResourceDefinition/widgets.example.com",
        "Sync/0: Wait[wait-crd] CustomResourceDefinition/widgets.example.com",
        "Sync/0: Apply Widget/w",
    ]
    assert isinstance(trace.verdict, Succeeded)


def test_a_crd_that_is_never_established_fails_without_writing_its_resources() -> None:
    cluster = FakeCluster(unserved={"Widget"})
    cluster.add(body("Namespace", "web", None))
    cluster.controllers["CustomResourceDefinition"] = slow_crd(1000)
    trace = run_sync(manifests(CRD, WIDGET), cluster, SyncOptions(timeouts=Timeouts(health=20)))
    assert failures(trace.verdict) == [(Reason.TIMEOUT, "widgets.example.com")]
    assert "not established after 20s" in trace.verdict.message
    assert "apply Widget/w" not in cluster.writes


# -- retries, stuck deletions, a lagging watch cache ------------------------------------


def test_a_dry_run_that_fails_for_a_while_is_retried() -> None:
    cluster = FakeCluster(dry_run_errors={"a": [ApiError(0, "ConnectionError", "reset")]})
    cluster.add(body("Namespace", "web", None))
    trace = run_sync(manifests(config("a")), cluster)
    assert trace.lines[:3] == [
        "DryRun: DryRun ConfigMap/a",
        "DryRun: Wait[retry] ConfigMap/a",
        "DryRun: DryRun ConfigMap/a",
    ]
    assert isinstance(trace.verdict, Succeeded)


def test_a_prune_is_retried_and_a_final_prune_error_fails_the_sync() -> None:
    cluster = FakeCluster(errors={"stale": [ApiError(503, "ServiceUnavailable")]})
    cluster.add(body("Namespace", "web", None))
    stale = owned(cluster, config("stale"))
    trace = run_sync(
        manifests(config("a")),
        cluster,
        SyncOptions(prune_guard_share=None),
        inventory=frozenset({stale}),
    )
    assert trace.lines[1:4] == [
        "Sync/0: Prune ConfigMap/stale",
        "Sync/0: Wait[retry] ConfigMap/stale",
        "Sync/0: Prune ConfigMap/stale",
    ]
    assert isinstance(trace.verdict, Succeeded)

    cluster = FakeCluster(errors={"stale": [ApiError(403, "Forbidden", "no delete")]})
    cluster.add(body("Namespace", "web", None))
    stale = owned(cluster, config("stale"))
    trace = run_sync(
        manifests(config("a")),
        cluster,
        SyncOptions(prune_guard_share=None),
        inventory=frozenset({stale}),
    )
    assert failures(trace.verdict) == [(Reason.PRUNE_FAILED, "stale")]
    assert "apply ConfigMap/a" in cluster.writes, "the rest of the step still ran"


def previous_instance(cluster: FakeCluster) -> ObjectRef:
    """A migration Job an earlier sync of ``web`` left behind."""
    old = hook("migrate-abc1234-presync-1", "PreSync")
    old["metadata"]["annotations"]["fleet.dev/hook-source"] = "web:batch/Job:web/migrate-@PreSync"
    return cluster.add(old)


def test_before_hook_creation_waits_until_the_old_hook_is_gone() -> None:
    cluster = FakeCluster(sticky={"migrate-abc1234-presync-1"})
    cluster.add(body("Namespace", "web", None))
    old = previous_instance(cluster)
    options = SyncOptions(timeouts=Timeouts(deletion=25))
    trace = run_sync(manifests(hook("migrate-", "PreSync", generate=True)), cluster, options)
    assert trace.lines[1:] == [
        "PreSync/0: DeleteHook Job/migrate-abc1234-presync-1",
        "PreSync/0: Wait[wait-hooks-gone] Job/migrate-abc1234-presync-1",
        "PreSync/0: Wait[wait-hooks-gone] Job/migrate-abc1234-presync-1",
        "PreSync/0: Wait[wait-hooks-gone] Job/migrate-abc1234-presync-1",
    ]
    assert failures(trace.verdict) == [(Reason.TIMEOUT, old.name)]
    assert "old hook still present after 25s" in trace.verdict.message


def test_failing_deletions_of_old_hooks_are_retried_then_fail() -> None:
    cluster = FakeCluster(
        errors={
            "migrate-abc1234-presync-1": [
                ApiError(500, "InternalError"),
                ApiError(403, "Forbidden", "cannot delete jobs"),
            ]
        }
    )
    cluster.add(body("Namespace", "web", None))
    previous_instance(cluster)
    trace = run_sync(manifests(hook("migrate-", "PreSync", generate=True)), cluster)
    assert trace.lines[1:4] == [
        "PreSync/0: DeleteHook Job/migrate-abc1234-presync-1",
        "PreSync/0: Wait[retry] Job/migrate-abc1234-presync-1",
        "PreSync/0: DeleteHook Job/migrate-abc1234-presync-1",
    ]
    assert failures(trace.verdict) == [(Reason.HOOK_DELETE_FAILED, "migrate-abc1234-presync-1000")]
    assert "cannot delete jobs" in trace.verdict.message


def test_objects_not_yet_in_the_watch_cache_are_waited_for() -> None:
    cluster = FakeCluster(lagging={"api": 1, "migrate": 1})
    cluster.add(body("Namespace", "web", None))
    trace = run_sync(manifests(deployment("api"), hook("migrate", "PostSync")), cluster)
    assert "Sync/0: Wait[wait-health] Deployment/api" in trace.lines
    assert "PostSync/0: Wait[wait-hooks] Job/migrate" in trace.lines
    assert isinstance(trace.verdict, Succeeded)


def test_a_failed_hook_cleanup_is_a_warning_not_a_failure() -> None:
    class CannotDelete(FakeCluster):
        def execute(self, action: Any) -> Any:
            if type(action).__name__ == "DeleteHook":
                return action.failed(ApiError(403, "Forbidden", "nope"))
            return super().execute(action)

    trace_cluster = CannotDelete()
    trace_cluster.add(body("Namespace", "web", None))
    trace = run_sync(manifests(hook("migrate", "PreSync", "HookSucceeded")), trace_cluster)
    assert isinstance(trace.verdict, Succeeded)
    assert trace.verdict.warnings == (
        "hook Job.batch web/migrate was not cleaned up: 403 Forbidden: nope",
    )


def test_respect_ignore_differences_drops_fields_absent_live_and_skips_missing_parents() -> None:
    cluster = FakeCluster()
    cluster.add(body("Namespace", "web", None))
    options = SyncOptions(
        respect_ignore_differences=True,
        ignore_differences=(
            IgnoreDifference(kind="ConfigMap", json_pointers=("/data/generated", "/binaryData/x")),
        ),
    )
    first = manifests(config("c"))
    run_sync(first, cluster, options)
    live = cluster.live[first[0].ref]
    assert "generated" not in live["data"]
    with_generated = manifests(body("ConfigMap", "c", data={"k": "c2", "generated": "mine"}))
    run_sync(with_generated, cluster, options, inventory=frozenset({first[0].ref}))
    live = cluster.live[first[0].ref]
    assert live["data"] == {"k": "c2"}, "a field absent live is left out of the apply"
    assert "binaryData" not in live


def test_create_namespace_leaves_a_rendered_namespace_alone() -> None:
    cluster = FakeCluster()
    options = SyncOptions(create_namespace=True, namespace="web")
    desired = manifests(body("Namespace", "web", None, labels={"team": "a"}), config("a"))
    trace = run_sync(desired, cluster, options)
    assert isinstance(trace.verdict, Succeeded)
    namespace = ObjectRef("", "Namespace", "", "web")
    assert namespace in trace.verdict.inventory
    assert cluster.live[namespace]["metadata"]["labels"][APP_LABEL] == "web"


def test_a_hook_dry_run_is_a_create_and_reports_no_diff() -> None:
    desired = manifests(hook("migrate", "PreSync"))
    inp = SyncInput("web", "abc", desired, {}, frozenset(), SyncOptions(), Progress.start(0), 0)
    batch = decide(inp)
    assert isinstance(batch, Batch)
    action = batch.actions[0]
    assert action.mode == "create"  # type: ignore[union-attr]
    result = action.succeeded_with({"anything": 1})  # type: ignore[union-attr]
    assert (result.ok, result.in_sync, result.changed) == (True, None, ())


def test_respect_ignore_differences_skips_a_field_whose_parent_is_not_rendered() -> None:
    cluster = FakeCluster()
    cluster.add(body("Namespace", "web", None))
    first = manifests(config("c"))
    run_sync(first, cluster)
    cluster.live[first[0].ref]["binaryData"] = {"x": "AAAA"}  # written by someone else
    options = SyncOptions(
        respect_ignore_differences=True,
        apply_out_of_sync_only=False,
        ignore_differences=(IgnoreDifference(kind="ConfigMap", json_pointers=("/binaryData/x",)),),
    )
    seen: list[Any] = []
    run_sync(
        first,
        cluster,
        options,
        inventory=frozenset({first[0].ref}),
        on_decide=lambda inp, d: seen.extend(getattr(d, "actions", ())),
    )
    applied = next(a for a in seen if isinstance(a, Apply))
    assert "binaryData" not in applied.body


def test_an_object_another_app_tracks_is_never_taken_over() -> None:
    cluster = FakeCluster()
    cluster.add(body("Namespace", "web", None))
    owned(cluster, config("shared"), app="shop")
    trace = run_sync(manifests(config("shared"), config("mine")), cluster)
    assert failures(trace.verdict) == [(Reason.SHARED_RESOURCE, "shared")]
    assert "already tracked by app 'shop'" in trace.verdict.message
    assert trace.lines == []
    assert cluster.writes == []


def test_an_untracked_object_is_not_taken_over_unless_the_app_adopts() -> None:
    cluster = FakeCluster()
    cluster.add(body("Namespace", "web", None))
    ref = cluster.add(config("by-hand"))
    refused = run_sync(manifests(config("by-hand"), config("mine")), cluster)
    assert failures(refused.verdict) == [(Reason.ADOPTION_REFUSED, "by-hand")]
    assert "fleet did not create it" in refused.verdict.message
    assert refused.lines == []
    assert cluster.writes == []
    adopted = run_sync(manifests(config("by-hand")), cluster, SyncOptions(adopt=True))
    assert isinstance(adopted.verdict, Succeeded)
    assert cluster.live[ref]["metadata"]["annotations"][TRACKING_ANNOTATION] == (
        "web:/ConfigMap:web/by-hand"
    )
    again = run_sync(manifests(config("by-hand")), cluster, inventory=adopted.verdict.inventory)
    assert isinstance(again.verdict, Succeeded)  # adopted once, it is the app's own


def test_a_crash_after_creating_a_hook_does_not_run_it_twice() -> None:
    cluster = FakeCluster()
    cluster.add(body("Namespace", "web", None))
    desired = manifests(hook("migrate-", "PreSync", generate=True), config("a"))
    progress = Progress.start(1000.0)
    now = 1000.0
    while True:
        decision = decide(
            SyncInput(
                "web",
                "abc1234",
                desired,
                cluster.visible(),
                frozenset(),
                SyncOptions(),
                progress,
                now,
            )
        )
        assert isinstance(decision, Batch)
        results = [cluster.execute(a) for a in decision.actions]
        if any(isinstance(a, CreateHook) for a in decision.actions):
            break  # the runtime died before it could record these results
        progress = decision.record([r for r in results if r is not None], now)
        now += 1
    resumed = decide(
        SyncInput(
            "web",
            "abc1234",
            desired,
            cluster.visible(),
            frozenset(),
            SyncOptions(),
            Progress.from_json(progress.to_json()),
            now + 5,
        )
    )
    assert isinstance(resumed, Batch)
    assert resumed.is_wait, resumed.actions
    assert cluster.writes.count("create Job/migrate-abc1234-presync-1000") == 1


def _memo_app() -> list[Manifest]:
    hook = body(
        "Job", "migrate", annotations={"argocd.argoproj.io/hook": "PreSync"}, spec={"template": {}}
    )
    return manifests(hook, deployment("api", wave=0), deployment("worker", wave=1))


def test_a_memo_of_its_own_changes_no_answer() -> None:
    desired = _memo_app()
    plain = run_sync(desired, FakeCluster())
    memoized = run_sync(desired, FakeCluster(), memo=PlanMemo())
    assert memoized.lines == plain.lines
    assert type(memoized.verdict) is type(plain.verdict) is Succeeded


def test_syncs_that_interleave_keep_their_plans_in_their_own_memos(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Eight syncs of one revision (as on eight clusters) decided in turn, three times."""
    import fleet.engine.prepare as prepare

    made: list[object] = []
    real = prepare._plan_desired

    def counting(*args: Any) -> Any:
        made.append(args)
        return real(*args)

    monkeypatch.setattr(prepare, "_plan_desired", counting)
    desired = _memo_app()
    syncs = [
        SyncInput(
            "web",
            "abc1234def",
            desired,
            {},
            frozenset(),
            SyncOptions(),
            Progress.start(1000.0 + index),
            1000.0 + index,
            memo=PlanMemo(),
        )
        for index in range(8)
    ]
    for _ in range(3):
        answers = [decide(sync) for sync in syncs]
        assert all(isinstance(answer, Batch) for answer in answers)
    assert len(made) == 8, "one plan per sync, made once"
