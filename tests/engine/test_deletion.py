"""Deleting a whole app: hooks, reverse wave order, what is kept."""

from __future__ import annotations

from typing import Any

from fleet.engine import Failed, Reason, Succeeded, SyncOptions, Timeouts
from fleet.model.refs import ObjectRef
from fleet.model.tracking import APP_LABEL, TRACKING_ANNOTATION, tracking_id
from tests.engine.cluster import FakeCluster, body, manifests, run_sync


def owned(cluster: FakeCluster, obj: dict[str, Any], app: str = "web") -> ObjectRef:
    ref = ObjectRef.of(obj)
    meta = obj["metadata"]
    meta.setdefault("labels", {})[APP_LABEL] = app
    meta.setdefault("annotations", {})[TRACKING_ANNOTATION] = tracking_id(app, ref)
    return cluster.add(obj)


def config(name: str, wave: int = 0, **annotations: str) -> dict[str, Any]:
    return body(
        "ConfigMap", name, data={}, annotations={"fleet.dev/sync-wave": str(wave), **annotations}
    )


def hook(name: str, phase: str) -> dict[str, Any]:
    return body(
        "Job",
        name,
        annotations={
            "argocd.argoproj.io/hook": phase,
            "argocd.argoproj.io/hook-delete-policy": "HookSucceeded",
        },
        spec={},
    )


def app_on_cluster() -> tuple[FakeCluster, frozenset[ObjectRef]]:
    cluster = FakeCluster()
    cluster.add(body("Namespace", "web", None))
    refs = {
        owned(cluster, config("first", wave=-1)),
        owned(cluster, config("middle")),
        owned(cluster, config("last", wave=1)),
        owned(cluster, config("keep-me", **{"argocd.argoproj.io/sync-options": "Delete=false"})),
        owned(cluster, config("ask-me", **{"fleet.dev/sync-options": "Delete=confirm"})),
        owned(cluster, config("theirs"), app="shop"),
    }
    return cluster, frozenset(refs)


def test_delete_an_app_with_hooks_in_reverse_wave_order() -> None:
    cluster, inventory = app_on_cluster()
    last_render = manifests(
        hook("drain", "PreDelete"),
        hook("farewell", "PostDelete"),
        config("first", wave=-1),
        config("middle"),
        config("last", wave=1),
    )
    trace = run_sync(last_render, cluster, inventory=inventory, deleting=True)
    assert trace.lines == [
        "DryRun: DryRun Job/drain; DryRun Job/farewell",
        "PreDelete/0: CreateHook Job/drain",
        "PreDelete/0: Wait[wait-hooks] Job/drain",
        "Sync/-1: Prune ConfigMap/last",
        "Sync/0: Prune ConfigMap/middle",
        "Sync/1: Prune ConfigMap/first",
        "PostDelete/0: CreateHook Job/farewell",
        "PostDelete/0: Wait[wait-hooks] Job/farewell",
        "Cleanup: DeleteHook Job/drain; DeleteHook Job/farewell",
    ]
    verdict = trace.verdict
    assert isinstance(verdict, Succeeded)
    assert {c.ref.name: c.reason for c in verdict.kept} == {
        "keep-me": "Delete=false: kept when the app is deleted",
        "ask-me": "Delete=confirm: needs confirmation",
        "theirs": "tracked by app 'shop'",
    }
    assert {ref.name for ref in verdict.inventory} == {"keep-me", "ask-me"}
    assert {r.name for r in cluster.live if r.kind == "ConfigMap"} == {
        "keep-me",
        "ask-me",
        "theirs",
    }


def test_a_confirmed_deletion_takes_delete_confirm_objects_too() -> None:
    cluster, inventory = app_on_cluster()
    trace = run_sync(
        [], cluster, SyncOptions(confirm_prune=True), inventory=inventory, deleting=True
    )
    assert isinstance(trace.verdict, Succeeded)
    assert {ref.name for ref in trace.verdict.inventory} == {"keep-me"}


def test_deletion_needs_no_render_and_ignores_prune_protection_and_the_guard() -> None:
    cluster = FakeCluster()
    refs = frozenset(
        owned(cluster, config(f"c{i}", **{"fleet.dev/prune": "disabled"})) for i in range(5)
    )
    trace = run_sync(
        [], cluster, inventory=refs, deleting=True, render_error="the repository is gone"
    )
    assert isinstance(trace.verdict, Succeeded)
    assert not any(ref in cluster.live for ref in refs)


def test_an_object_that_will_not_go_fails_the_deletion() -> None:
    cluster = FakeCluster(sticky={"middle"})
    ref = owned(cluster, config("middle"))
    trace = run_sync(
        [],
        cluster,
        SyncOptions(timeouts=Timeouts(deletion=15)),
        inventory=frozenset({ref}),
        deleting=True,
    )
    assert isinstance(trace.verdict, Failed)
    assert [(f.reason, f.ref) for f in trace.verdict.failures] == [(Reason.TIMEOUT, ref)]
    assert trace.verdict.inventory == {ref}


def test_an_unreadable_deletion_hook_is_refused() -> None:
    cluster, inventory = app_on_cluster()
    bad = body("Job", "drain", annotations={"argocd.argoproj.io/hook": "PreDelet"})
    trace = run_sync(manifests(bad), cluster, inventory=inventory, deleting=True)
    assert isinstance(trace.verdict, Failed)
    assert trace.verdict.failures[0].reason == Reason.INVALID_ANNOTATION
    assert trace.lines == []


def test_hooks_are_never_deleted_with_the_app() -> None:
    cluster = FakeCluster()
    hook_ref = owned(cluster, hook("old-hook", "PreSync") | {})
    cluster.live[hook_ref]["metadata"]["annotations"]["fleet.dev/hook-source"] = "web:x@PreSync"
    trace = run_sync([], cluster, inventory=frozenset({hook_ref}), deleting=True)
    assert isinstance(trace.verdict, Succeeded)
    assert hook_ref in cluster.live


def test_deletion_keeps_unreadable_objects_and_runs_only_delete_hooks() -> None:
    cluster = FakeCluster()
    odd = owned(cluster, config("odd", **{"fleet.dev/sync-options": "Bogus=1"}))
    both = body("Job", "check", annotations={"fleet.dev/hook": "PreSync,PreDelete"}, spec={})
    trace = run_sync(manifests(both), cluster, inventory=frozenset({odd}), deleting=True)
    assert isinstance(trace.verdict, Succeeded)
    assert trace.lines[1] == "PreDelete/0: CreateHook Job/check"
    assert [c.reason.split(":")[0] for c in trace.verdict.kept] == ["kept"]
    assert trace.verdict.inventory == {odd}
