"""CreateNamespace keeps the all-or-nothing dry-run (fleet.engine.namespaces).

The fake cluster answers 404 for anything in a namespace that does not exist, before it
looks at the object, as an API server does: the objects of the namespace a sync creates
can only be dry-run once it exists.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from fleet.engine import ApiError, Batch, Failed, Progress, Succeeded, SyncInput, SyncOptions
from fleet.engine import decide as engine_decide
from fleet.engine.failures import sync_may_pass
from fleet.model.refs import ObjectRef
from tests.engine.cluster import FakeCluster, body, manifests, run_sync

NAMESPACE = ObjectRef("", "Namespace", "", "web")
OPTIONS = SyncOptions(create_namespace=True, namespace="web")
INVALID = ApiError(422, "Invalid", 'ConfigMap "bad" is invalid: data: Invalid value')


def config(name: str, namespace: str | None = "web") -> dict[str, Any]:
    return body("ConfigMap", name, namespace, data={"k": name})


def strict_cluster() -> FakeCluster:
    cluster = FakeCluster(check_namespaces=True)
    cluster.add(body("Namespace", "other", None))
    return cluster


def test_every_object_in_the_new_namespace_is_dry_run_before_any_other_write() -> None:
    cluster = strict_cluster()
    desired = manifests(config("a"), config("b"), config("elsewhere", "other"))
    trace = run_sync(desired, cluster, OPTIONS)
    assert trace.lines[:3] == [
        "DryRun: DryRun Namespace/web; DryRun ConfigMap/elsewhere",
        "DryRun: Apply Namespace/web",
        "DryRun: DryRun ConfigMap/a; DryRun ConfigMap/b",
    ]
    assert isinstance(trace.verdict, Succeeded), trace.verdict
    assert cluster.writes[0] == "apply Namespace/web"
    assert NAMESPACE not in trace.verdict.inventory, "the namespace stays untracked"


def test_a_bad_object_in_the_new_namespace_leaves_the_cluster_as_it_was() -> None:
    cluster = strict_cluster()
    cluster.dry_run_errors["bad"] = [INVALID]
    desired = manifests(config("a"), config("bad"), config("elsewhere", "other"))
    trace = run_sync(desired, cluster, OPTIONS)
    assert isinstance(trace.verdict, Failed)
    assert [(f.reason, f.ref) for f in trace.verdict.failures] == [
        ("DryRunFailed", ObjectRef("", "ConfigMap", "web", "bad"))
    ]
    # the namespace made for the dry-run is removed again; nothing else was written
    assert cluster.writes == ["apply Namespace/web", "delete Namespace/web"]
    assert trace.lines[-1] == "DryRun: DeleteHook Namespace/web"
    assert NAMESPACE not in cluster.live
    assert not sync_may_pass(trace.verdict).may_pass


def test_a_bad_object_outside_the_new_namespace_means_it_is_never_created() -> None:
    cluster = strict_cluster()
    cluster.dry_run_errors["elsewhere"] = [INVALID]
    trace = run_sync(manifests(config("a"), config("elsewhere", "other")), cluster, OPTIONS)
    assert isinstance(trace.verdict, Failed)
    assert cluster.writes == []
    assert trace.lines == ["DryRun: DryRun Namespace/web; DryRun ConfigMap/elsewhere"]


def test_an_unchanged_app_in_its_created_namespace_writes_nothing() -> None:
    cluster = strict_cluster()
    desired = manifests(config("a"), config("b"))
    first = run_sync(desired, cluster, OPTIONS)
    assert isinstance(first.verdict, Succeeded)
    cluster.writes.clear()
    again = run_sync(desired, cluster, OPTIONS, inventory=first.verdict.inventory)
    assert isinstance(again.verdict, Succeeded)
    assert cluster.writes == []
    assert again.lines == ["DryRun: DryRun ConfigMap/a; DryRun ConfigMap/b"]


def test_a_resumed_sync_keeps_the_namespace_it_created_and_does_not_wait_for_it() -> None:
    cluster = strict_cluster()
    desired = manifests(config("a"))
    progress = Progress.start(1_000.0)
    now = 1_000.0
    # run until the ConfigMap is applied, then start again from the saved progress
    for _ in range(10):
        decision = engine_decide(
            SyncInput("web", "abc", desired, cluster.visible(), frozenset(), OPTIONS, progress, now)
        )
        assert isinstance(decision, Batch)
        results = [r for a in decision.actions if (r := cluster.execute(a)) is not None]
        now += 1.0
        progress = decision.record(results, now)
        if "apply ConfigMap/a" in cluster.writes:
            break
    resumed = replace(progress, waits={})
    cluster.tick()
    verdict = engine_decide(
        SyncInput("web", "abc", desired, cluster.visible(), frozenset(), OPTIONS, resumed, now)
    )
    assert isinstance(verdict, Succeeded), verdict
    assert cluster.writes == ["apply Namespace/web", "apply ConfigMap/a"]


def test_a_namespace_made_by_someone_else_meanwhile_is_used_and_never_removed() -> None:
    """Two apps sharing a namespace sync at once: the second one's POST finds it made."""
    cluster = strict_cluster()
    cluster.dry_run_errors["bad"] = [INVALID]
    desired = manifests(config("a"), config("bad"))
    progress = Progress.start(0.0)
    first = engine_decide(SyncInput("web", "abc", desired, {}, frozenset(), OPTIONS, progress, 0))
    assert isinstance(first, Batch)
    progress = first.record([cluster.execute(a) for a in first.actions], 1.0)  # type: ignore[misc]
    cluster.add(body("Namespace", "web", None))  # someone else, just now
    create = engine_decide(SyncInput("web", "abc", desired, {}, frozenset(), OPTIONS, progress, 1))
    assert isinstance(create, Batch)
    progress = create.record([cluster.execute(a) for a in create.actions], 2.0)  # type: ignore[misc]
    # the sync goes on: its objects are dry-run in the namespace it found
    dry_run = engine_decide(SyncInput("web", "abc", desired, {}, frozenset(), OPTIONS, progress, 2))
    assert isinstance(dry_run, Batch), dry_run
    assert sorted(a.ref.name for a in dry_run.actions) == ["a", "bad"]
    progress = dry_run.record([cluster.execute(a) for a in dry_run.actions], 3.0)  # type: ignore[misc]
    verdict = engine_decide(SyncInput("web", "abc", desired, {}, frozenset(), OPTIONS, progress, 3))
    assert isinstance(verdict, Failed), verdict
    assert [f.ref.name for f in verdict.failures] == ["bad"]
    assert cluster.writes == [], "not ours: never removed again"
    assert NAMESPACE in cluster.live


@pytest.mark.parametrize("exists", [True, False])
def test_without_create_namespace_nothing_changes(exists: bool) -> None:
    cluster = strict_cluster()
    if exists:
        cluster.add(body("Namespace", "web", None))
    trace = run_sync(manifests(config("a")), cluster, SyncOptions(namespace="web"))
    if exists:
        assert isinstance(trace.verdict, Succeeded)
    else:
        assert isinstance(trace.verdict, Failed)
        assert "NotFound" in trace.verdict.message
    assert "apply Namespace/web" not in cluster.writes
