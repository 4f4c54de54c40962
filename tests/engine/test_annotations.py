"""Sync annotations, as a table: one row, one behaviour."""

from __future__ import annotations

from typing import Any

import pytest

from fleet.engine.annotations import (
    AnnotationError,
    DeletePolicy,
    ObjectSettings,
    Phase,
    read_settings,
)
from fleet.model.manifests import Origin
from fleet.model.refs import ObjectRef

REF = ObjectRef("batch", "Job", "web", "migrate")
BHC, SUCCEEDED, FAILED = (
    DeletePolicy.BEFORE_HOOK_CREATION,
    DeletePolicy.HOOK_SUCCEEDED,
    DeletePolicy.HOOK_FAILED,
)

SETTINGS: list[tuple[str, dict[str, str], dict[str, Any]]] = [
    ("no annotations: wave 0, no hook", {}, {"wave": 0, "hook_phases": (), "ignored": False}),
    ("fleet's sync-wave", {"fleet.dev/sync-wave": "3"}, {"wave": 3}),
    ("Argo CD's sync-wave", {"argocd.argoproj.io/sync-wave": "-2"}, {"wave": -2}),
    ("Helm's hook-weight is the wave when no sync-wave", {"helm.sh/hook-weight": "5"}, {"wave": 5}),
    (
        "fleet's sync-wave wins over Argo CD's",
        {"fleet.dev/sync-wave": "1", "argocd.argoproj.io/sync-wave": "7"},
        {"wave": 1},
    ),
    (
        "sync-wave wins over Helm's hook-weight",
        {"argocd.argoproj.io/sync-wave": "1", "helm.sh/hook-weight": "-9"},
        {"wave": 1},
    ),
    ("a wave may carry spaces", {"fleet.dev/sync-wave": " 4 "}, {"wave": 4}),
    (
        "fleet hook with several phases",
        {"fleet.dev/hook": "PreSync, PostSync"},
        {"hook_phases": (Phase.PRE_SYNC, Phase.POST_SYNC), "delete_policies": {BHC}},
    ),
    ("Argo CD hook", {"argocd.argoproj.io/hook": "SyncFail"}, {"hook_phases": (Phase.SYNC_FAIL,)}),
    ("Skip alone: object left out", {"argocd.argoproj.io/hook": "Skip"}, {"ignored": True}),
    (
        "Skip with a phase: the phase counts",
        {"argocd.argoproj.io/hook": "Skip,PostSync"},
        {"hook_phases": (Phase.POST_SYNC,), "ignored": False},
    ),
    (
        "fleet's hook wins over Argo CD's",
        {"fleet.dev/hook": "PostSync", "argocd.argoproj.io/hook": "PreSync"},
        {"hook_phases": (Phase.POST_SYNC,)},
    ),
    (
        "Argo CD's hook wins over Helm's",
        {"argocd.argoproj.io/hook": "Sync", "helm.sh/hook": "pre-install"},
        {"hook_phases": (Phase.SYNC,)},
    ),
    (
        "Helm pre-install and pre-upgrade are one PreSync",
        {"helm.sh/hook": "pre-install,pre-upgrade"},
        {"hook_phases": (Phase.PRE_SYNC,)},
    ),
    (
        "Helm post-install/post-upgrade is PostSync",
        {"helm.sh/hook": "post-install,post-upgrade"},
        {"hook_phases": (Phase.POST_SYNC,)},
    ),
    ("Helm test hook: left out of a sync", {"helm.sh/hook": "test"}, {"ignored": True}),
    ("Helm delete hook: left out of a sync", {"helm.sh/hook": "pre-delete"}, {"ignored": True}),
    (
        "Helm crd-install is an ordinary resource",
        {"helm.sh/hook": "crd-install"},
        {"hook_phases": (), "ignored": False},
    ),
    (
        "PreDelete is read (it runs when the app is deleted)",
        {"argocd.argoproj.io/hook": "PreDelete"},
        {"hook_phases": (Phase.PRE_DELETE,)},
    ),
    (
        "delete policy defaults to BeforeHookCreation",
        {"fleet.dev/hook": "PreSync"},
        {"delete_policies": {BHC}},
    ),
    (
        "Argo CD delete policies",
        {
            "argocd.argoproj.io/hook": "PreSync",
            "argocd.argoproj.io/hook-delete-policy": "HookSucceeded,HookFailed",
        },
        {"delete_policies": {SUCCEEDED, FAILED}},
    ),
    (
        "Helm delete policies map to Argo CD's",
        {"helm.sh/hook": "pre-install", "helm.sh/hook-delete-policy": "hook-succeeded"},
        {"delete_policies": {SUCCEEDED}},
    ),
    (
        "Argo CD and Helm delete policies add up (as in Argo CD)",
        {
            "argocd.argoproj.io/hook": "PreSync",
            "argocd.argoproj.io/hook-delete-policy": "HookFailed",
            "helm.sh/hook-delete-policy": "before-hook-creation",
        },
        {"delete_policies": {FAILED, BHC}},
    ),
    (
        "fleet's delete policy replaces the others",
        {
            "fleet.dev/hook": "PreSync",
            "fleet.dev/hook-delete-policy": "HookSucceeded",
            "argocd.argoproj.io/hook-delete-policy": "HookFailed",
        },
        {"delete_policies": {SUCCEEDED}},
    ),
    (
        "delete policy on a non-hook means nothing",
        {"argocd.argoproj.io/hook-delete-policy": "HookSucceeded"},
        {"delete_policies": frozenset()},
    ),
    ("Prune=false protects", {"argocd.argoproj.io/sync-options": "Prune=false"}, {"prune": "no"}),
    ("Prune=confirm asks", {"fleet.dev/sync-options": "Prune=confirm"}, {"prune": "confirm"}),
    ("fleet.dev/prune: disabled protects", {"fleet.dev/prune": "disabled"}, {"prune": "no"}),
    (
        "Flux's prune: disabled protects",
        {"kustomize.toolkit.fluxcd.io/prune": "disabled"},
        {"prune": "no"},
    ),
    ("prune: enabled is the default", {"fleet.dev/prune": "enabled"}, {"prune": "yes"}),
    ("Delete=false", {"argocd.argoproj.io/sync-options": "Delete=false"}, {"delete": "no"}),
    (
        "Replace and Force",
        {"argocd.argoproj.io/sync-options": "Replace=true,Force=true"},
        {"replace": True, "force": True},
    ),
    (
        "SkipDryRunOnMissingResource",
        {"argocd.argoproj.io/sync-options": "SkipDryRunOnMissingResource=true"},
        {"skip_dry_run_on_missing_resource": True},
    ),
    (
        "ApplyOutOfSyncOnly=false on one object",
        {"argocd.argoproj.io/sync-options": "ApplyOutOfSyncOnly=false"},
        {"apply_out_of_sync_only": False},
    ),
    ("ApplyOutOfSyncOnly unset: the app decides", {}, {"apply_out_of_sync_only": None}),
    ("PruneLast", {"argocd.argoproj.io/sync-options": "PruneLast=true"}, {"prune_last": True}),
    (
        "PrunePropagationPolicy",
        {"argocd.argoproj.io/sync-options": "PrunePropagationPolicy=foreground"},
        {"prune_propagation": "foreground"},
    ),
    (
        "RespectIgnoreDifferences",
        {"argocd.argoproj.io/sync-options": "RespectIgnoreDifferences=true"},
        {"respect_ignore_differences": True},
    ),
    (
        "known Argo CD options fleet has no use for are accepted",
        {"argocd.argoproj.io/sync-options": "ServerSideApply=true,Validate=false"},
        {"replace": False},
    ),
    (
        "fleet's sync-options override Argo CD's key by key",
        {
            "argocd.argoproj.io/sync-options": "Prune=false,Replace=true",
            "fleet.dev/sync-options": "Prune=true",
        },
        {"prune": "yes", "replace": True},
    ),
    (
        "IgnoreExtraneous compare option",
        {"argocd.argoproj.io/compare-options": "IgnoreExtraneous"},
        {"ignore_extraneous": True},
    ),
    (
        "option values are case-insensitive",
        {"argocd.argoproj.io/sync-options": "Prune=False"},
        {"prune": "no"},
    ),
    ("unrelated annotations are ignored", {"team": "payments"}, {"wave": 0}),
]


@pytest.mark.parametrize(
    ("annotations", "expected"), [(a, e) for _, a, e in SETTINGS], ids=[row[0] for row in SETTINGS]
)
def test_settings(annotations: dict[str, str], expected: dict[str, Any]) -> None:
    settings = read_settings(annotations, REF)
    for name, value in expected.items():
        actual = getattr(settings, name)
        if isinstance(value, set):
            actual = set(actual)
        assert actual == value, name


ERRORS: list[tuple[str, dict[str, str], str]] = [
    ("wave not a number", {"fleet.dev/sync-wave": "first"}, "expected an integer"),
    ("Argo CD wave not a number", {"argocd.argoproj.io/sync-wave": "1.5"}, "expected an integer"),
    ("hook typo", {"argocd.argoproj.io/hook": "Presync"}, "unknown hook 'Presync'"),
    ("empty hook", {"fleet.dev/hook": " , "}, "empty hook annotation"),
    ("unknown Helm hook", {"helm.sh/hook": "pre-instal"}, "unknown Helm hook"),
    (
        "unknown delete policy",
        {"fleet.dev/hook": "PreSync", "fleet.dev/hook-delete-policy": "Always"},
        "unknown delete policy 'Always'",
    ),
    (
        "unknown Helm delete policy",
        {"helm.sh/hook": "pre-install", "helm.sh/hook-delete-policy": "never"},
        "unknown delete policy",
    ),
    ("unknown sync option", {"fleet.dev/sync-options": "Prun=false"}, "unknown option 'Prun'"),
    ("bad option value", {"fleet.dev/sync-options": "Replace=yes"}, "Replace takes"),
    ("bad compare option", {"fleet.dev/compare-options": "IgnoreAll"}, "unknown option"),
    ("bad prune value", {"fleet.dev/prune": "off"}, "expected 'disabled' or 'enabled'"),
]


@pytest.mark.parametrize(
    ("annotations", "message"), [(a, m) for _, a, m in ERRORS], ids=[row[0] for row in ERRORS]
)
def test_errors_name_the_object_and_its_source(annotations: dict[str, str], message: str) -> None:
    with pytest.raises(AnnotationError) as caught:
        read_settings(annotations, REF, Origin("apps/web/job.yaml", 12))
    text = str(caught.value)
    assert message in text
    assert text.startswith("apps/web/job.yaml:12: Job.batch web/migrate: annotation ")
    assert caught.value.key in annotations


def test_errors_are_not_memoised_across_objects() -> None:
    bad = {"fleet.dev/sync-wave": "x"}
    other = ObjectRef("", "ConfigMap", "web", "other")
    with pytest.raises(AnnotationError, match=r"Job\.batch web/migrate"):
        read_settings(bad, REF)
    with pytest.raises(AnnotationError, match="ConfigMap web/other"):
        read_settings(bad, other)


def test_plain_objects_share_the_default_settings() -> None:
    assert read_settings({}, REF) is read_settings({"team": "a"}, REF)
    assert read_settings({}, REF) == ObjectSettings()
