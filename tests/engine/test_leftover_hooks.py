"""Hooks a killed sync left holding fleet's finalizer: found, and cleaned up by policy."""

from __future__ import annotations

from typing import Any

import pytest

from fleet.engine import ApiError, Failed, Succeeded, SyncOptions
from fleet.engine.annotations import Phase
from fleet.engine.hooks import instance_body
from fleet.engine.leftover_hooks import leftover_hooks
from fleet.engine.prune import rebuild_inventory
from fleet.model.annotations import HOOK_FINALIZER, HOOK_SOURCE
from fleet.model.manifests import Manifest
from fleet.model.refs import ObjectRef
from fleet.model.tracking import TRACKING_ANNOTATION
from tests.engine.cluster import FakeCluster, body, manifests, run_sync

COMPLETE = {"conditions": [{"type": "Complete", "status": "True"}]}
FAILED = {"conditions": [{"type": "Failed", "status": "True", "message": "exit 1"}]}
RUNNING: dict[str, Any] = {"active": 1}


def left_hook(
    name: str = "migrate",
    status: dict[str, Any] | None = None,
    policy: str | None = None,
    app: str = "web",
    namespace: str = "web",
) -> dict[str, Any]:
    """A hook as a killed sync of ``app`` created it: tracked, marked, finalizer held."""
    annotations = {"argocd.argoproj.io/hook": "PreSync"}
    if policy is not None:
        annotations["argocd.argoproj.io/hook-delete-policy"] = policy
    manifest = Manifest.from_body(
        body("Job", name, namespace, annotations=annotations, spec={"template": {}})
    )
    out = instance_body(manifest, app, manifest.ref, Phase.PRE_SYNC)
    out["status"] = dict(status if status is not None else COMPLETE)
    out["metadata"]["uid"] = f"uid-{name}"
    return out


def found(*objects: dict[str, Any], created: frozenset[ObjectRef] = frozenset()) -> list[str]:
    live = [(ObjectRef.of(o), o) for o in objects]
    return [
        f"{'delete' if h.delete else 'release'} {h.ref.name} {h.outcome}"
        for h in leftover_hooks("web", live, created)
    ]


def without(obj: dict[str, Any], where: str, item: str) -> dict[str, Any]:
    meta = obj["metadata"]
    if where == "finalizers":
        meta["finalizers"] = [f for f in meta["finalizers"] if f != item]
    else:
        del meta[where][item]
    return obj


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        (left_hook(), ["release migrate Succeeded"]),
        (left_hook(policy="BeforeHookCreation"), ["release migrate Succeeded"]),
        (left_hook(policy="HookSucceeded"), ["delete migrate Succeeded"]),
        (left_hook(status=FAILED, policy="HookSucceeded"), ["release migrate Failed"]),
        (left_hook(status=FAILED, policy="HookFailed"), ["delete migrate Failed"]),
        (left_hook(policy="HookFailed"), ["release migrate Succeeded"]),
        (left_hook(status=RUNNING, policy="HookSucceeded"), ["release migrate Running"]),
        (
            left_hook(status=FAILED, policy="HookSucceeded,HookFailed"),
            ["delete migrate Failed"],
        ),
        (without(left_hook(), "finalizers", HOOK_FINALIZER), []),
        (without(left_hook(), "annotations", HOOK_SOURCE), []),
        (without(left_hook(), "annotations", TRACKING_ANNOTATION), []),
        (left_hook(app="api"), []),
    ],
    ids=[
        "no policy: released, kept",
        "BeforeHookCreation: kept until the next instance",
        "HookSucceeded and succeeded: deleted",
        "HookSucceeded but failed: released",
        "HookFailed and failed: deleted",
        "HookFailed but succeeded: released",
        "still running: released, never deleted",
        "both policies, failed: deleted",
        "finalizer already gone: nothing to do",
        "not a hook fleet created: untouched",
        "untracked: untouched",
        "another app's hook: untouched",
    ],
)
def test_which_leftovers_and_what_happens_to_them(obj: dict[str, Any], expected: list[str]) -> None:
    assert found(obj) == expected


def test_hooks_the_running_sync_created_are_its_own_cleanup_s_business() -> None:
    mine, old = left_hook("migrate"), left_hook("old-migrate")
    assert found(mine, old, created=frozenset({ObjectRef.of(mine)})) == [
        "release old-migrate Succeeded"
    ]


def test_a_copy_whose_tracking_annotation_names_another_object_is_untouched() -> None:
    copy = left_hook("migrate")
    copy["metadata"]["name"] = "migrate-copy"
    assert found(copy) == []


def test_a_leftover_is_never_read_back_into_the_inventory() -> None:
    leftover = left_hook()
    assert rebuild_inventory("web", [leftover]) == frozenset()


# -- in a sync ---------------------------------------------------------------------------


def app_config() -> dict[str, Any]:
    return body("ConfigMap", "settings", data={"a": "b"})


@pytest.mark.parametrize(
    ("leftover", "cleanup", "stays"),
    [
        (left_hook("old-migrate"), "ReleaseHook Job/old-migrate", True),
        (left_hook("old-migrate", policy="HookSucceeded"), "DeleteHook Job/old-migrate", False),
        (left_hook("old-migrate", FAILED, "HookFailed"), "DeleteHook Job/old-migrate", False),
        (left_hook("old-migrate", RUNNING, "HookSucceeded"), "ReleaseHook Job/old-migrate", True),
    ],
    ids=["kept", "succeeded, HookSucceeded", "failed, HookFailed", "running"],
)
def test_a_sync_cleans_up_hooks_a_killed_sync_left(
    leftover: dict[str, Any], cleanup: str, stays: bool
) -> None:
    cluster = FakeCluster(controllers={})  # the leftover keeps its status as it was
    cluster.add(body("Namespace", "web", None))
    ref = cluster.add(leftover)
    trace = run_sync(manifests(app_config()), cluster)
    assert isinstance(trace.verdict, Succeeded), trace.verdict
    assert trace.lines[-1] == f"Cleanup: {cleanup}"
    assert ref not in trace.verdict.inventory  # a hook is never an ordinary resource
    if stays:
        assert cluster.live[ref]["metadata"]["finalizers"] == []
    else:
        assert ref not in cluster.live


def test_a_leftover_does_not_make_the_sync_wait_and_is_cleaned_up_once() -> None:
    cluster = FakeCluster(controllers={})
    cluster.add(body("Namespace", "web", None))
    cluster.add(left_hook("old-migrate", RUNNING))
    trace = run_sync(manifests(app_config()), cluster)
    assert not [line for line in trace.lines if "Wait" in line and "old-migrate" in line]
    assert [line for line in trace.lines if "old-migrate" in line] == [
        "Cleanup: ReleaseHook Job/old-migrate"
    ]
    again = run_sync(manifests(app_config()), cluster, start=2000)
    assert not [line for line in again.lines if "old-migrate" in line]


def test_a_failed_sync_cleans_up_leftovers_too() -> None:
    cluster = FakeCluster(controllers={})
    cluster.add(body("Namespace", "web", None))
    ref = cluster.add(left_hook("old-migrate"))
    cluster.errors["settings"] = [ApiError(422, "Invalid", "bad value")]
    trace = run_sync(manifests(app_config()), cluster)
    assert isinstance(trace.verdict, Failed)
    assert cluster.live[ref]["metadata"]["finalizers"] == []


def test_a_leftover_that_cannot_be_released_is_a_warning() -> None:
    cluster = FakeCluster(controllers={})
    cluster.add(body("Namespace", "web", None))
    cluster.add(left_hook("old-migrate"))
    cluster.errors["old-migrate"] = [ApiError(403, "Forbidden", "no")]
    trace = run_sync(manifests(app_config()), cluster, options=SyncOptions())
    assert isinstance(trace.verdict, Succeeded)
    assert any(
        "web/old-migrate left over by an earlier sync was not cleaned up" in w
        for w in trace.verdict.warnings
    ), trace.verdict.warnings
