"""Ownership and prune decisions, as tables."""

from __future__ import annotations

from typing import Any

import pytest

from fleet.engine.options import SyncOptions
from fleet.engine.prune import (
    candidate,
    guard_refusal,
    ownership_problem,
    prune_candidates,
    rebuild_inventory,
)
from fleet.model.refs import ObjectRef
from fleet.model.tracking import APP_LABEL, TRACKING_ANNOTATION, tracking_id

REF = ObjectRef("", "ConfigMap", "web", "old")


def live(
    ref: ObjectRef = REF, app: str | None = "web", tracking: str | None = None, **annotations: str
) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": ref.name,
        "namespace": ref.namespace,
        "uid": "u-1",
        "labels": {APP_LABEL: app or "web"},
        "annotations": dict(annotations),
    }
    if tracking is not None:
        meta["annotations"][TRACKING_ANNOTATION] = tracking
    elif app is not None:
        meta["annotations"][TRACKING_ANNOTATION] = tracking_id(app, ref)
    return {"apiVersion": "v1", "kind": ref.kind, "metadata": meta}


OWNERSHIP: list[tuple[str, dict[str, Any], str | None]] = [
    ("tracked by this app: ours", live(), None),
    ("no tracking annotation (only the label): not ours", live(app=None), "no tracking"),
    ("tracked by another app", live(app="shop"), "tracked by app 'shop'"),
    (
        "tracking annotation copied from another object",
        live(tracking=tracking_id("web", ObjectRef("", "ConfigMap", "web", "other"))),
        "a copy",
    ),
    ("unreadable tracking annotation", live(tracking="garbage"), "unreadable"),
]


@pytest.mark.parametrize(
    ("obj", "problem"), [(o, p) for _, o, p in OWNERSHIP], ids=[row[0] for row in OWNERSHIP]
)
def test_ownership(obj: dict[str, Any], problem: str | None) -> None:
    found = ownership_problem("web", REF, obj)
    if problem is None:
        assert found is None
    else:
        assert found is not None
        assert problem in found


CANDIDATES: list[tuple[str, dict[str, Any], SyncOptions, bool, str]] = [
    ("owned and unprotected: pruned", live(), SyncOptions(), True, ""),
    ("another app's: kept", live(app="shop"), SyncOptions(), False, "tracked by app"),
    (
        "fleet.dev/prune: disabled",
        live(**{"fleet.dev/prune": "disabled"}),
        SyncOptions(),
        False,
        "protected",
    ),
    (
        "Argo CD Prune=false",
        live(**{"argocd.argoproj.io/sync-options": "Prune=false"}),
        SyncOptions(),
        False,
        "protected",
    ),
    (
        "Flux prune: disabled",
        live(**{"kustomize.toolkit.fluxcd.io/prune": "disabled"}),
        SyncOptions(),
        False,
        "protected",
    ),
    (
        "Prune=confirm without confirmation",
        live(**{"fleet.dev/sync-options": "Prune=confirm"}),
        SyncOptions(),
        False,
        "needs confirmation",
    ),
    (
        "Prune=confirm with confirmation",
        live(**{"fleet.dev/sync-options": "Prune=confirm"}),
        SyncOptions(confirm_prune=True),
        True,
        "",
    ),
    ("pruning off for the app", live(), SyncOptions(prune=False), False, "pruning is off"),
    (
        "a hook fleet created",
        live(**{"fleet.dev/hook-source": "web:x@PreSync"}),
        SyncOptions(),
        False,
        "hook",
    ),
    (
        "an object annotated as a hook",
        live(**{"argocd.argoproj.io/hook": "PostSync"}),
        SyncOptions(),
        False,
        "hook",
    ),
    (
        "unreadable annotations: kept",
        live(**{"fleet.dev/sync-wave": "x"}),
        SyncOptions(),
        False,
        "kept",
    ),
]


@pytest.mark.parametrize(
    ("obj", "options", "prune", "reason"),
    [(o, op, p, r) for _, o, op, p, r in CANDIDATES],
    ids=[row[0] for row in CANDIDATES],
)
def test_candidate(obj: dict[str, Any], options: SyncOptions, prune: bool, reason: str) -> None:
    found = candidate("web", REF, obj, options)
    assert found.prune is prune
    assert reason in found.reason
    assert found.uid == "u-1"


def test_candidates_are_stale_existing_objects_in_order() -> None:
    refs = [ObjectRef("", "ConfigMap", "web", n) for n in ("c", "a", "b", "kept")]
    inventory = frozenset(refs)
    existing = {r: live(r) for r in refs if r.name != "b"}
    found = prune_candidates("web", inventory, {refs[3]}, existing, SyncOptions())
    assert [c.ref.name for c in found] == ["a", "c"]


GUARD: list[tuple[str, int, int, SyncOptions, bool]] = [
    ("nothing to prune", 0, 10, SyncOptions(), False),
    ("half of the app is allowed", 5, 10, SyncOptions(), False),
    ("more than half is refused", 6, 10, SyncOptions(), True),
    ("fewer than the minimum is allowed whatever the share", 2, 2, SyncOptions(), False),
    ("the minimum itself counts", 3, 3, SyncOptions(), True),
    ("confirmation lets it through", 10, 10, SyncOptions(confirm_prune=True), False),
    ("the guard can be turned off", 10, 10, SyncOptions(prune_guard_share=None), False),
    (
        "a stricter share",
        2,
        10,
        SyncOptions(prune_guard_share=0.1, prune_guard_min_objects=1),
        True,
    ),
]


@pytest.mark.parametrize(
    ("count", "owned", "options", "refused"),
    [(c, o, op, r) for _, c, o, op, r in GUARD],
    ids=[row[0] for row in GUARD],
)
def test_prune_guard(count: int, owned: int, options: SyncOptions, refused: bool) -> None:
    message = guard_refusal(count, owned, options)
    assert (message is not None) is refused
    if message:
        assert f"delete {count} of the app's {owned} objects" in message


def test_rebuild_inventory_counts_only_this_apps_own_objects() -> None:
    mine = ObjectRef("", "ConfigMap", "web", "mine")
    objects = [
        live(mine),
        live(ObjectRef("", "ConfigMap", "web", "theirs"), app="shop"),
        live(ObjectRef("", "ConfigMap", "web", "label-only"), app=None),
        live(ObjectRef("", "ConfigMap", "web", "copy"), tracking=tracking_id("web", mine)),
        live(ObjectRef("batch", "Job", "web", "hook"), **{"fleet.dev/hook-source": "web:x"})
        | {"apiVersion": "batch/v1"},
    ]
    assert rebuild_inventory("web", objects) == frozenset({mine})


def test_extraneous_objects_make_the_app_out_of_sync_unless_ignored() -> None:
    from fleet.engine.prune import extraneous

    desired = ObjectRef("", "ConfigMap", "web", "desired")
    stale = ObjectRef("", "ConfigMap", "web", "stale")
    ignored = ObjectRef("", "ConfigMap", "web", "generated")
    hook = ObjectRef("", "ConfigMap", "web", "hook")
    theirs = ObjectRef("", "ConfigMap", "web", "theirs")
    odd = ObjectRef("", "ConfigMap", "web", "odd")
    objects = {
        desired: live(desired),
        stale: live(stale),
        ignored: live(ignored, **{"argocd.argoproj.io/compare-options": "IgnoreExtraneous"}),
        hook: live(hook, **{"fleet.dev/hook-source": "web:x@PreSync"}),
        theirs: live(theirs, app="shop"),
        odd: live(odd, **{"fleet.dev/sync-wave": "x"}),
    }
    assert extraneous("web", {desired}, objects) == [odd, stale]
