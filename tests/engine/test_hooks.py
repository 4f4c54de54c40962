"""Hooks: generated names, completion, the bodies fleet creates."""

from __future__ import annotations

from typing import Any

import pytest

from fleet.engine.annotations import Phase
from fleet.engine.hooks import (
    MAX_NAME,
    HookOutcome,
    generated_name,
    hook_state,
    instance_body,
    instance_ref,
)
from fleet.model.manifests import Manifest
from fleet.model.tracking import APP_LABEL, TRACKING_ANNOTATION


def job(**status: Any) -> dict[str, Any]:
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j"}, "status": status}


def cond(type_: str, status: str, message: str = "") -> dict[str, str]:
    return {"type": type_, "status": status, "message": message}


OUTCOMES: list[tuple[str, dict[str, Any], HookOutcome]] = [
    (
        "Job Complete True succeeded",
        job(conditions=[cond("Complete", "True")]),
        HookOutcome.SUCCEEDED,
    ),
    (
        "Job Failed True failed",
        job(conditions=[cond("Failed", "True", "deadline")]),
        HookOutcome.FAILED,
    ),
    (
        "Job Complete with status False is still running (fleet requires True)",
        job(conditions=[cond("Complete", "False")]),
        HookOutcome.RUNNING,
    ),
    (
        "Job Failed with status False is still running",
        job(conditions=[cond("Failed", "False")]),
        HookOutcome.RUNNING,
    ),
    ("Job without conditions is running", job(active=1), HookOutcome.RUNNING),
    (
        "Pod Succeeded",
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "p"},
            "status": {"phase": "Succeeded"},
        },
        HookOutcome.SUCCEEDED,
    ),
    (
        "Pod Failed",
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "p"},
            "status": {"phase": "Failed"},
        },
        HookOutcome.FAILED,
    ),
    (
        "Pod Running (restartPolicy Never) is running",
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "p"},
            "spec": {"restartPolicy": "Never"},
            "status": {"phase": "Running"},
        },
        HookOutcome.RUNNING,
    ),
    (
        "Pod without status is running",
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}},
        HookOutcome.RUNNING,
    ),
    (
        "other kinds: Healthy succeeded",
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}},
        HookOutcome.SUCCEEDED,
    ),
    (
        "other kinds: Degraded failed",
        {
            "apiVersion": "x.io/v1",
            "kind": "Workflow",
            "metadata": {"name": "w"},
            "status": {"conditions": [cond("Stalled", "True")]},
        },
        HookOutcome.FAILED,
    ),
    (
        "other kinds: Progressing running",
        {
            "apiVersion": "x.io/v1",
            "kind": "Workflow",
            "metadata": {"name": "w"},
            "status": {"conditions": [cond("Ready", "False")]},
        },
        HookOutcome.RUNNING,
    ),
]


@pytest.mark.parametrize(
    ("obj", "outcome"), [(o, r) for _, o, r in OUTCOMES], ids=[row[0] for row in OUTCOMES]
)
def test_hook_outcome(obj: dict[str, Any], outcome: HookOutcome) -> None:
    assert hook_state(obj).outcome is outcome


def test_generated_name_is_argo_shaped_and_stable() -> None:
    name = generated_name("migrate-", "4f2a9c1d00", Phase.PRE_SYNC, 1_700_000_000.9)
    assert name == "migrate-4f2a9c1-presync-1700000000"
    assert generated_name("migrate-", "4f2a9c1d00", Phase.PRE_SYNC, 1_700_000_000.9) == name


@pytest.mark.parametrize(
    ("revision", "phase", "started"),
    [
        ("4f2a9c1d00", Phase.POST_SYNC, 1_700_000_000),
        ("ffffff0000", Phase.PRE_SYNC, 1_700_000_000),
        ("4f2a9c1d00", Phase.PRE_SYNC, 1_700_000_100),
    ],
)
def test_a_new_name_per_sync_and_phase(revision: str, phase: Phase, started: float) -> None:
    base = generated_name("migrate-", "4f2a9c1d00", Phase.PRE_SYNC, 1_700_000_000)
    assert generated_name("migrate-", revision, phase, started) != base


def test_long_generate_names_are_shortened_to_a_valid_unique_name() -> None:
    long_a = generated_name("a" * 70 + "-", "abc", Phase.POST_SYNC, 1_700_000_000)
    long_b = generated_name("a" * 69 + "b-", "abc", Phase.POST_SYNC, 1_700_000_000)
    assert len(long_a) == MAX_NAME
    assert long_a != long_b
    assert long_a.endswith("-abc-postsync-1700000000")


def test_revision_is_made_name_safe() -> None:
    assert generated_name("x-", "Tag/V1.2", Phase.SYNC, 1).startswith("x-tagv12-sync-")
    assert generated_name("x-", "", Phase.SYNC, 1) == "x-norev-sync-1"


def test_instance_body_is_tracked_marked_and_held() -> None:
    manifest = Manifest.from_body(
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {
                "generateName": "migrate-",
                "namespace": "web",
                "annotations": {"argocd.argoproj.io/hook": "PreSync"},
                "finalizers": ["other"],
            },
            "spec": {"template": {}},
        }
    )
    ref = instance_ref(manifest, "abc1234", Phase.PRE_SYNC, 1000)
    created = instance_body(manifest, "web", ref, Phase.PRE_SYNC)
    meta = created["metadata"]
    assert meta["name"] == ref.name == "migrate-abc1234-presync-1000"
    assert "generateName" not in meta
    assert meta["labels"][APP_LABEL] == "web"
    assert meta["annotations"][TRACKING_ANNOTATION] == f"web:batch/Job:web/{ref.name}"
    assert meta["annotations"]["fleet.dev/hook-source"] == "web:batch/Job:web/migrate-@PreSync"
    assert meta["finalizers"] == ["other", "fleet.dev/hook-finalizer"]
    assert "name" not in manifest.body["metadata"], "the manifest itself is untouched"
    assert manifest.body["metadata"]["finalizers"] == ["other"]


def test_a_named_hook_keeps_its_name() -> None:
    manifest = Manifest.from_body(
        {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "smoke", "namespace": "web"}}
    )
    assert instance_ref(manifest, "abc", Phase.POST_SYNC, 1) == manifest.ref
