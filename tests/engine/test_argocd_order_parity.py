"""Ordering cases where fleet and Argo CD could part: each row pins what fleet does.

docs/engine.md ("Where fleet differs from Argo CD") says, case by case, whether fleet
matches Argo CD or differs, and why; these tables are the proof of each row there.
"""

from __future__ import annotations

from typing import Any

import pytest

from fleet.engine import Progress, SyncInput, SyncOptions
from fleet.engine.annotations import Phase
from fleet.engine.ordering import apply_order, manifest_tasks, order_tasks
from fleet.engine.prepare import Prepared, prepare
from fleet.model.manifests import Manifest
from fleet.model.refs import ObjectRef
from fleet.model.tracking import APP_LABEL, TRACKING_ANNOTATION, tracking_id
from tests.engine.cluster import FakeCluster, body, manifests, run_sync

ARGO_WAVE = "argocd.argoproj.io/sync-wave"


def obj(kind: str, name: str, namespace: str | None, wave: int = 0, **extra: Any) -> Manifest:
    annotations = {ARGO_WAVE: str(wave), **extra.pop("annotations", {})}
    return Manifest.from_body(body(kind, name, namespace, annotations=annotations, **extra))


def hook(name: str, phase: str = "PreSync", generate: bool = False, wave: int = 0) -> Manifest:
    meta: dict[str, Any] = {
        "namespace": "web",
        "annotations": {"argocd.argoproj.io/hook": phase, ARGO_WAVE: str(wave)},
    }
    meta["generateName" if generate else "name"] = name
    return Manifest.from_body({"apiVersion": "batch/v1", "kind": "Job", "metadata": meta})


def steps(desired: list[Manifest]) -> list[tuple[str, str, int]]:
    tasks = [t for m in desired for t in manifest_tasks(m)]
    return [(f"{t.ref.kind}/{t.ref.name}", t.phase.value, t.wave) for t in order_tasks(tasks)]


# -- 1. objects without a namespace -------------------------------------------------------

NAMESPACE_HOIST: list[tuple[str, list[Manifest], list[tuple[str, str, int]]]] = [
    (
        "a cluster-scoped object at an earlier wave keeps the Namespace at its own wave",
        [obj("Namespace", "web", None, 0), obj("ClusterRole", "reader", None, -1)],
        [("ClusterRole/reader", "Sync", -1), ("Namespace/web", "Sync", 0)],
    ),
    (
        "an object in the namespace at an earlier wave pulls the Namespace forward",
        [obj("Namespace", "web", None, 0), obj("ConfigMap", "cfg", "web", -1)],
        [("Namespace/web", "Sync", -1), ("ConfigMap/cfg", "Sync", -1)],
    ),
    (
        "both: the Namespace moves to its first object, after the cluster-scoped one",
        [
            obj("Namespace", "web", None, 2),
            obj("ClusterRole", "reader", None, -1),
            obj("ConfigMap", "cfg", "web", 0),
        ],
        [
            ("ClusterRole/reader", "Sync", -1),
            ("Namespace/web", "Sync", 0),
            ("ConfigMap/cfg", "Sync", 0),
        ],
    ),
]


@pytest.mark.parametrize(
    ("desired", "expected"),
    [(d, e) for _, d, e in NAMESPACE_HOIST],
    ids=[row[0] for row in NAMESPACE_HOIST],
)
def test_a_namespace_moves_ahead_only_of_objects_in_it(
    desired: list[Manifest], expected: list[tuple[str, str, int]]
) -> None:
    assert steps(desired) == expected


# -- 2. CreateNamespace: every object of the app is dry-run -------------------------------

CREATE_NAMESPACE_APPS: list[tuple[str, list[Manifest]]] = [
    ("objects in the new namespace only", manifests(body("ConfigMap", "a", "web"))),
    (
        "objects in it, in another namespace and cluster-scoped",
        manifests(
            body("ConfigMap", "a", "web"),
            body("Secret", "b", "web"),
            body("ConfigMap", "elsewhere", "other"),
            body("ClusterRole", "reader", None),
        ),
    ),
]


@pytest.mark.parametrize(
    "desired", [d for _, d in CREATE_NAMESPACE_APPS], ids=[r[0] for r in CREATE_NAMESPACE_APPS]
)
def test_create_namespace_dry_runs_every_object_before_any_apply(desired: list[Manifest]) -> None:
    cluster = FakeCluster(check_namespaces=True)  # 404 in a missing namespace, as a server
    cluster.add(body("Namespace", "other", None))
    trace = run_sync(desired, cluster, SyncOptions(create_namespace=True, namespace="web"))
    dry_run_lines = [line for line in trace.lines if line.startswith("DryRun:")]
    dry_run = {
        part.strip().removeprefix("DryRun ")
        for line in dry_run_lines
        for part in line.removeprefix("DryRun:").split(";")
        if part.strip().startswith("DryRun ")
    }
    wanted = {f"{m.ref.kind}/{m.ref.name}" for m in desired} | {"Namespace/web"}
    assert dry_run == wanted
    # the only write before the last dry-run is the namespace itself
    assert cluster.writes[0] == "apply Namespace/web"
    assert trace.lines.index(dry_run_lines[-1]) < next(
        i for i, line in enumerate(trace.lines) if line.startswith("Sync/")
    )


# -- 3. PruneLast's wave ------------------------------------------------------------------


def owned(cluster: FakeCluster, obj_body: dict[str, Any]) -> ObjectRef:
    ref = ObjectRef.of(obj_body)
    meta = obj_body.setdefault("metadata", {})
    meta.setdefault("labels", {})[APP_LABEL] = "web"
    meta.setdefault("annotations", {})[TRACKING_ANNOTATION] = tracking_id("web", ref)
    return cluster.add(obj_body)


PRUNE_LAST: list[tuple[str, list[Manifest], str]] = [
    (
        "no hoisting: one after the last wave",
        [obj("ConfigMap", "a", "web", 0), obj("ConfigMap", "b", "web", 3)],
        "Sync/4: Prune ConfigMap/stale",
    ),
    (
        "a Namespace written at wave 5 counts with wave 5, though it moves to wave 0",
        [obj("Namespace", "web", None, 5), obj("ConfigMap", "a", "web", 0)],
        "Sync/6: Prune ConfigMap/stale",
    ),
    (
        "a CRD written at wave 7 counts with wave 7, though it moves to its resource",
        [
            obj(
                "CustomResourceDefinition",
                "widgets.example.com",
                None,
                7,
                spec={"group": "example.com", "names": {"kind": "Widget", "plural": "widgets"}},
            ),
            Manifest.from_body(body("Widget", "w", "web", api_version="example.com/v1")),
        ],
        "Sync/8: Prune ConfigMap/stale",
    ),
]


@pytest.mark.parametrize(
    ("desired", "last_line"), [(d, e) for _, d, e in PRUNE_LAST], ids=[r[0] for r in PRUNE_LAST]
)
def test_prune_last_wave_counts_the_waves_as_written(
    desired: list[Manifest], last_line: str
) -> None:
    cluster = FakeCluster()
    namespace = body("Namespace", "web", None)
    rendered = any(m.ref == ObjectRef.of(namespace) for m in desired)
    owned(cluster, namespace) if rendered else cluster.add(namespace)
    stale = owned(cluster, body("ConfigMap", "stale", "web", data={"k": "v"}))
    trace = run_sync(
        desired,
        cluster,
        SyncOptions(prune_last=True, prune_guard_share=None),
        inventory=frozenset({stale}),
    )
    assert trace.lines[-1] == last_line
    assert stale not in cluster.live


# -- 4. generateName hooks: the preview's order is the sync's ------------------------------

GENERATED: list[tuple[str, list[Manifest]]] = [
    (
        "a generateName hook among named hooks of its kind and wave",
        [hook("job-", generate=True), hook("job-a"), hook("job-z"), hook("jobs")],
    ),
    (
        "several generateName hooks and phases",
        [
            hook("b-", generate=True),
            hook("a-", "PreSync,PostSync", generate=True),
            hook("a-0"),
            hook("b-9", "PostSync"),
            obj("ConfigMap", "cfg", "web"),
        ],
    ),
]
# Generated names start with the revision: "0…" sorts before any letter, "f…" after most.
REVISIONS = ["0000000aaa", "fffffffaaa", "abc1234def"]


def sync_order(desired: list[Manifest], revision: str) -> list[int]:
    inp = SyncInput(
        "web", revision, desired, {}, frozenset(), SyncOptions(), Progress.start(1_000.0), 1_000.0
    )
    prepared = prepare(inp)
    assert isinstance(prepared, Prepared), prepared
    by_identity = {id(m): index for index, m in enumerate(desired)}
    order: list[int] = []
    for step in prepared.steps:
        for task in step.tasks:
            assert task.manifest is not None
            index = by_identity[id(task.manifest)]
            if index not in order:
                order.append(index)
    return order


@pytest.mark.parametrize("revision", REVISIONS)
@pytest.mark.parametrize("desired", [d for _, d in GENERATED], ids=[row[0] for row in GENERATED])
def test_render_orders_generate_name_hooks_as_the_sync_does(
    desired: list[Manifest], revision: str
) -> None:
    rendered = [desired.index(m) for m in apply_order(desired)]
    assert sync_order(desired, revision) == rendered


def test_generate_name_hooks_keep_their_place_whatever_the_revision() -> None:
    desired = [hook("job-a"), hook("job-", generate=True)]
    orders = {tuple(sync_order(desired, revision)) for revision in REVISIONS}
    assert orders == {(1, 0)}, "job- sorts before job-a at every revision"
    # ...while the names the sync gives it do differ with the revision
    inp = SyncInput(
        "web", "fffffffaaa", desired, {}, frozenset(), SyncOptions(), Progress.start(9.0), 9.0
    )
    prepared = prepare(inp)
    assert isinstance(prepared, Prepared)
    first = prepared.steps[0].tasks[0]
    assert first.phase is Phase.PRE_SYNC
    assert first.ref.name.startswith("job-fffffff-presync-")
