"""Whose object is it: when a sync may write over a live object, and when it refuses."""

from __future__ import annotations

from typing import Any

import pytest

from fleet.engine import Failed, Reason, Succeeded, SyncOptions
from fleet.engine.adoption import REFUSED, SHARED, claim_problem
from fleet.model.refs import ObjectRef
from fleet.model.tracking import TRACKING_ANNOTATION, tracking_id
from tests.engine.cluster import FakeCluster, body, manifests, run_sync

REF = ObjectRef("", "ConfigMap", "web", "settings")
OTHER = ObjectRef("", "ConfigMap", "web", "elsewhere")


def live(annotations: dict[str, str] | None = None, labels: dict[str, str] | None = None) -> Any:
    meta: dict[str, Any] = {"name": REF.name, "namespace": REF.namespace}
    if annotations is not None:
        meta["annotations"] = annotations
    if labels is not None:
        meta["labels"] = labels
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta}


ADOPT = {"fleet.dev/adopt": "true"}

# (case, live object, desired annotations, app's adopt, expected reason or None)
CLAIMS: list[tuple[str, Any, dict[str, str], bool, str | None]] = [
    ("nothing live: a create", None, {}, False, None),
    (
        "created by fleet for this app",
        live({TRACKING_ANNOTATION: tracking_id("web", REF)}),
        {},
        False,
        None,
    ),
    ("made by hand", live(), {}, False, REFUSED),
    ("made by hand, the app adopts", live(), {}, True, None),
    ("made by hand, the manifest says adopt", live(), ADOPT, False, None),
    ("made by hand, its maker says adopt", live(ADOPT), {}, False, None),
    ("the manifest says adopt: false", live(), {"fleet.dev/adopt": "false"}, False, REFUSED),
    ("an unreadable adopt value", live(), {"fleet.dev/adopt": "yes"}, True, REFUSED),
    ("Flux ssa: Merge in Git", live(), {"kustomize.toolkit.fluxcd.io/ssa": "Merge"}, False, None),
    (
        "Flux ssa: Override in Git",
        live(),
        {"kustomize.toolkit.fluxcd.io/ssa": "Override"},
        False,
        REFUSED,
    ),
    (
        "applied by Argo CD for an app of this name",
        live({"argocd.argoproj.io/tracking-id": "web:/ConfigMap:web/settings"}),
        {},
        False,
        None,
    ),
    (
        "applied by Argo CD (app in another namespace) for an app of this name",
        live({"argocd.argoproj.io/tracking-id": "team_web:/ConfigMap:web/settings"}),
        {},
        False,
        None,
    ),
    (
        "applied by Argo CD for another app",
        live({"argocd.argoproj.io/tracking-id": "shop:/ConfigMap:web/settings"}),
        {},
        False,
        REFUSED,
    ),
    (
        "Argo CD tracking copied from another object",
        live({"argocd.argoproj.io/tracking-id": "web:/ConfigMap:web/elsewhere"}),
        {},
        False,
        REFUSED,
    ),
    (
        "applied by Flux's Kustomization of this name",
        live(labels={"kustomize.toolkit.fluxcd.io/name": "web"}),
        {},
        False,
        None,
    ),
    (
        "applied by another Flux Kustomization",
        live(labels={"kustomize.toolkit.fluxcd.io/name": "shop"}),
        {},
        False,
        REFUSED,
    ),
    (
        "tracked by another fleet app",
        live({TRACKING_ANNOTATION: tracking_id("shop", REF)}),
        {},
        True,
        SHARED,
    ),
    (
        "fleet tracking copied from another object",
        live({TRACKING_ANNOTATION: tracking_id("web", OTHER)}),
        {},
        False,
        REFUSED,
    ),
    (
        "an unreadable fleet tracking annotation",
        live({TRACKING_ANNOTATION: "junk"}),
        {},
        False,
        REFUSED,
    ),
    (
        "an unreadable tracking annotation, the app adopts",
        live({TRACKING_ANNOTATION: "junk"}),
        {},
        True,
        None,
    ),
]


@pytest.mark.parametrize(
    ("case", "obj", "wanted", "adopt", "reason"), CLAIMS, ids=[c[0] for c in CLAIMS]
)
def test_claims(
    case: str, obj: Any, wanted: dict[str, str], adopt: bool, reason: str | None
) -> None:
    problem = claim_problem("web", REF, obj, wanted, adopt)
    assert (problem.reason if problem else None) == reason


@pytest.mark.parametrize(
    ("obj", "says"),
    [
        (live(), "fleet did not create it (no tracking annotation)"),
        (live({TRACKING_ANNOTATION: "junk"}), "an unreadable tracking annotation 'junk'"),
        (
            live({TRACKING_ANNOTATION: tracking_id("web", OTHER)}),
            "a tracking annotation copied from ConfigMap web/elsewhere",
        ),
    ],
)
def test_a_refusal_says_why_and_how_to_allow_it(obj: Any, says: str) -> None:
    problem = claim_problem("web", REF, obj, {}, False)
    assert problem is not None
    assert says in problem.message
    assert 'syncPolicy.adopt: true, or the annotation fleet.dev/adopt: "true"' in problem.message


def test_a_hand_made_object_stops_the_sync_before_anything_is_written() -> None:
    cluster = FakeCluster()
    cluster.add(body("Namespace", "web", None))
    cluster.add(body("ConfigMap", "settings", data={"by": "hand"}))
    desired = manifests(body("ConfigMap", "a"), body("ConfigMap", "settings", data={"by": "git"}))
    trace = run_sync(desired, cluster)
    assert isinstance(trace.verdict, Failed)
    assert [(f.reason, str(f.ref)) for f in trace.verdict.failures] == [
        (Reason.ADOPTION_REFUSED, "ConfigMap web/settings")
    ]
    assert trace.lines == []
    assert cluster.live[REF]["data"] == {"by": "hand"}


def test_a_manifest_that_says_adopt_takes_the_object_over() -> None:
    cluster = FakeCluster()
    cluster.add(body("Namespace", "web", None))
    cluster.add(body("ConfigMap", "settings", data={"by": "hand"}))
    desired = manifests(body("ConfigMap", "settings", annotations=ADOPT, data={"by": "git"}))
    trace = run_sync(desired, cluster, SyncOptions())
    assert isinstance(trace.verdict, Succeeded)
    assert cluster.live[REF]["metadata"]["annotations"][TRACKING_ANNOTATION] == tracking_id(
        "web", REF
    )
    assert trace.verdict.inventory == {REF}
