"""The sync order, as a table, plus its properties."""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fleet.engine.annotations import AnnotationError, ObjectSettings, Phase
from fleet.engine.ordering import (
    KIND_ORDER,
    SyncTask,
    TaskType,
    apply_order,
    kind_rank,
    manifest_tasks,
    mirror_prune_waves,
    order_tasks,
)
from fleet.model.manifests import Manifest
from fleet.model.refs import ObjectRef
from tests.engine.cluster import body


def m(
    kind: str,
    name: str,
    wave: int | None = None,
    hook: str | None = None,
    namespace: str | None = "web",
    **extra: Any,
) -> Manifest:
    annotations = {}
    if wave is not None:
        annotations["argocd.argoproj.io/sync-wave"] = str(wave)
    if hook is not None:
        annotations["argocd.argoproj.io/hook"] = hook
    if kind in ("Namespace", "CustomResourceDefinition", "ClusterRole"):
        namespace = None
    return Manifest.from_body(body(kind, name, namespace, annotations=annotations, **extra))


def crd(group: str, kind: str, wave: int | None = None) -> Manifest:
    plural = kind.lower() + "s"
    return m(
        "CustomResourceDefinition",
        f"{plural}.{group}",
        wave,
        spec={"group": group, "names": {"kind": kind, "plural": plural}},
    )


def cr(group: str, kind: str, name: str, wave: int | None = None) -> Manifest:
    return Manifest.from_body(
        body(
            kind,
            name,
            "web",
            api_version=f"{group}/v1",
            annotations={"fleet.dev/sync-wave": str(wave)} if wave else None,
        )
    )


def names(ordered: list[Manifest]) -> list[str]:
    return [f"{x.ref.kind}/{x.ref.name or x.body['metadata'].get('generateName')}" for x in ordered]


ORDER: list[tuple[str, list[Manifest], list[str]]] = [
    (
        "kinds follow the kind order within a wave",
        [
            m("Deployment", "web"),
            m("Service", "web"),
            m("ConfigMap", "cfg"),
            m("Secret", "s"),
            m("ServiceAccount", "sa"),
            m("Namespace", "web"),
        ],
        [
            "Namespace/web",
            "ServiceAccount/sa",
            "Secret/s",
            "ConfigMap/cfg",
            "Service/web",
            "Deployment/web",
        ],
    ),
    (
        "a lower wave goes first whatever its kind",
        [m("ConfigMap", "late", wave=1), m("Deployment", "early", wave=-1)],
        ["Deployment/early", "ConfigMap/late"],
    ),
    (
        "same kind and wave: by name",
        [m("ConfigMap", "b"), m("ConfigMap", "a"), m("ConfigMap", "c")],
        ["ConfigMap/a", "ConfigMap/b", "ConfigMap/c"],
    ),
    (
        "phase before wave: PreSync hook in wave 5 before Sync wave -5",
        [m("ConfigMap", "cfg", wave=-5), m("Job", "migrate", wave=5, hook="PreSync")],
        ["Job/migrate", "ConfigMap/cfg"],
    ),
    (
        "PostSync after every Sync wave; SyncFail last",
        [
            m("Job", "fail", hook="SyncFail"),
            m("Job", "smoke", hook="PostSync"),
            m("Deployment", "web", wave=9),
        ],
        ["Deployment/web", "Job/smoke", "Job/fail"],
    ),
    (
        "unlisted kinds (custom resources) after every listed kind, by name",
        [cr("example.com", "Zebra", "a"), m("APIService", "z"), cr("example.com", "Apple", "b")],
        ["APIService/z", "Zebra/a", "Apple/b"],
    ),
    (
        "a Namespace moves ahead of its first object, into that object's wave",
        [m("ConfigMap", "early", wave=-3), m("Namespace", "web", wave=2)],
        ["Namespace/web", "ConfigMap/early"],
    ),
    (
        "a Namespace moves into the phase of a hook that needs it",
        [m("Namespace", "web"), m("Job", "migrate", hook="PreSync")],
        ["Namespace/web", "Job/migrate"],
    ),
    (
        "a CRD moves ahead of its first custom resource",
        [cr("example.com", "Widget", "w", wave=-1), crd("example.com", "Widget", wave=3)],
        ["CustomResourceDefinition/widgets.example.com", "Widget/w"],
    ),
    (
        "a CRD already ahead stays where it is",
        [
            crd("example.com", "Widget", wave=-1),
            m("ConfigMap", "c"),
            cr("example.com", "Widget", "w"),
        ],
        ["CustomResourceDefinition/widgets.example.com", "ConfigMap/c", "Widget/w"],
    ),
    (
        "a CRD of another kind does not move",
        [cr("example.com", "Widget", "w", wave=-1), crd("example.com", "Gadget", wave=3)],
        ["Widget/w", "CustomResourceDefinition/gadgets.example.com"],
    ),
    (
        "Skip hooks and Helm test hooks are left out",
        [
            m("Pod", "test", hook="Skip"),
            Manifest.from_body(body("Pod", "helm-test", annotations={"helm.sh/hook": "test"})),
            m("ConfigMap", "c"),
        ],
        ["ConfigMap/c"],
    ),
    (
        "a hook in two phases is listed once, at its first phase",
        [m("Job", "twice", hook="PreSync,PostSync"), m("ConfigMap", "c")],
        ["Job/twice", "ConfigMap/c"],
    ),
    (
        "generateName hooks sort by their generateName",
        [
            Manifest.from_body(
                body("Job", "", annotations={"fleet.dev/hook": "PreSync"})
                | {
                    "metadata": {
                        "generateName": "b-",
                        "namespace": "web",
                        "annotations": {"fleet.dev/hook": "PreSync"},
                    }
                }
            ),
            m("Job", "a-job", hook="PreSync"),
        ],
        ["Job/a-job", "Job/b-"],
    ),
]


@pytest.mark.parametrize(
    ("desired", "expected"), [(d, e) for _, d, e in ORDER], ids=[row[0] for row in ORDER]
)
def test_apply_order(desired: list[Manifest], expected: list[str]) -> None:
    assert names(apply_order(desired)) == expected


def test_hoisted_namespace_takes_the_phase_and_wave_of_its_first_object() -> None:
    tasks = [
        t
        for x in [m("ConfigMap", "c", wave=-3), m("Namespace", "web", wave=2)]
        for t in manifest_tasks(x)
    ]
    first = order_tasks(tasks)[0]
    assert (first.ref.kind, first.phase, first.wave) == ("Namespace", Phase.SYNC, -3)


def test_apply_order_refuses_unreadable_annotations() -> None:
    with pytest.raises(AnnotationError, match="sync-wave"):
        apply_order(
            [
                m("ConfigMap", "c"),
                Manifest.from_body(
                    body("ConfigMap", "x", annotations={"fleet.dev/sync-wave": "one"})
                ),
            ]
        )


def test_kind_rank_covers_the_documented_list() -> None:
    assert [kind_rank(k) for k in KIND_ORDER] == list(range(len(KIND_ORDER)))
    assert kind_rank("Widget") == kind_rank("Certificate") == len(KIND_ORDER)


def prune(name: str, wave: int, prune_last: bool = False) -> SyncTask:
    return SyncTask(
        ObjectRef("", "ConfigMap", "web", name),
        Phase.SYNC,
        wave,
        TaskType.PRUNE,
        ObjectSettings(wave=wave, prune_last=prune_last),
    )


def apply(name: str, wave: int) -> SyncTask:
    return SyncTask(
        ObjectRef("", "ConfigMap", "web", name),
        Phase.SYNC,
        wave,
        TaskType.APPLY,
        ObjectSettings(wave=wave),
    )


PRUNE_WAVES: list[tuple[str, list[SyncTask], bool, dict[str, int]]] = [
    (
        "prune waves mirror: highest wave pruned first",
        [prune("a", -1), prune("b", 0), prune("c", 2)],
        False,
        {"a": 2, "b": 0, "c": -1},
    ),
    ("one prune wave stays", [prune("a", 3), prune("b", 3)], False, {"a": 3, "b": 3}),
    (
        "PruneLast (app option): after the last Sync wave",
        [apply("x", 4), prune("a", 0)],
        True,
        {"x": 4, "a": 5},
    ),
    (
        "PruneLast: the last wave counts prunes too (as Argo CD)",
        [apply("x", 4), prune("a", 0), prune("b", 9)],
        True,
        {"x": 4, "a": 10, "b": 10},
    ),
    (
        "PruneLast on one object only",
        [apply("x", 1), prune("a", 0, prune_last=True), prune("b", 0)],
        False,
        {"x": 1, "a": 2, "b": 0},
    ),
    (
        "PruneLast when every wave is negative: wave 1",
        [apply("x", -3), prune("a", -2)],
        True,
        {"x": -3, "a": 1},
    ),
]


@pytest.mark.parametrize(
    ("tasks", "prune_last", "waves"),
    [(t, p, w) for _, t, p, w in PRUNE_WAVES],
    ids=[row[0] for row in PRUNE_WAVES],
)
def test_prune_waves(tasks: list[SyncTask], prune_last: bool, waves: dict[str, int]) -> None:
    result = mirror_prune_waves(tasks, prune_last)
    assert {t.ref.name: t.wave for t in result} == waves


def test_prunes_are_never_hoisted() -> None:
    namespace_prune = SyncTask(
        ObjectRef("", "Namespace", "", "web"), Phase.SYNC, 5, TaskType.PRUNE, ObjectSettings()
    )
    ordered = order_tasks([apply("c", 0), namespace_prune])
    assert [t.ref.kind for t in ordered] == ["ConfigMap", "Namespace"]
    assert ordered[1].wave == 5


# -- properties --------------------------------------------------------------------------

KINDS = [
    "Namespace",
    "ConfigMap",
    "Deployment",
    "Service",
    "Job",
    "Widget",
    "Gadget",
    "CustomResourceDefinition",
    "ClusterRole",
    "Secret",
]


@st.composite
def apps(draw: st.DrawFn) -> list[Manifest]:
    count = draw(st.integers(1, 25))
    out: dict[tuple[str, str, str], Manifest] = {}
    for _ in range(count):
        kind = draw(st.sampled_from(KINDS))
        name = draw(st.sampled_from(["a", "b", "c", "web", "ns1", "ns2"]))
        wave = draw(st.integers(-2, 2))
        hook = draw(st.sampled_from([None, None, None, "PreSync", "PostSync", "Sync"]))
        namespace = draw(st.sampled_from(["ns1", "ns2", "web"]))
        annotations = {"fleet.dev/sync-wave": str(wave)}
        if hook:
            annotations["fleet.dev/hook"] = hook
        if kind == "CustomResourceDefinition":
            target = draw(st.sampled_from(["Widget", "Gadget"]))
            b = body(
                kind,
                f"{target.lower()}s.example.com",
                None,
                annotations=annotations,
                spec={"group": "example.com", "names": {"kind": target}},
            )
        elif kind in ("Widget", "Gadget"):
            b = body(kind, name, namespace, api_version="example.com/v1", annotations=annotations)
        elif kind in ("Namespace", "ClusterRole"):
            b = body(kind, name, None, annotations=annotations)
        else:
            b = body(kind, name, namespace, annotations=annotations)
        manifest = Manifest.from_body(b)
        out[(manifest.ref.kind, manifest.ref.namespace, manifest.ref.name)] = manifest
    return list(out.values())


def ordered_tasks(desired: list[Manifest]) -> list[SyncTask]:
    return order_tasks([t for x in desired for t in manifest_tasks(x)])


@settings(max_examples=150, deadline=None, database=None)
@given(apps(), st.randoms(use_true_random=False))
def test_order_is_deterministic_whatever_the_input_order(
    desired: list[Manifest], rng: random.Random
) -> None:
    shuffled = list(desired)
    rng.shuffle(shuffled)
    first = [(t.ref, t.phase, t.wave) for t in ordered_tasks(desired)]
    assert [(t.ref, t.phase, t.wave) for t in ordered_tasks(shuffled)] == first
    assert apply_order(shuffled) == apply_order(desired)


@settings(max_examples=150, deadline=None, database=None)
@given(apps())
def test_order_is_total_and_steps_never_go_back(desired: list[Manifest]) -> None:
    tasks = ordered_tasks(desired)
    keys = [t.sort_key() for t in tasks]
    assert len(set(keys)) == len(keys), "two tasks with the same sort key"
    steps = [(t.phase.rank, t.wave) for t in tasks]
    assert steps == sorted(steps)


@settings(max_examples=200, deadline=None, database=None)
@given(apps())
def test_namespaces_and_crds_come_before_what_needs_them(desired: list[Manifest]) -> None:
    tasks = ordered_tasks(desired)
    namespace_at = {
        t.ref.name: i
        for i, t in enumerate(tasks)
        if t.ref.kind == "Namespace" and t.type is TaskType.APPLY
    }
    crd_at = {
        t.manifest.body["spec"]["names"]["kind"]: i
        for i, t in enumerate(tasks)
        if t.ref.kind == "CustomResourceDefinition" and t.manifest is not None
    }
    for index, task in enumerate(tasks):
        if task.ref.namespace in namespace_at:
            assert namespace_at[task.ref.namespace] < index, task.ref
        if task.ref.group == "example.com" and task.ref.kind in crd_at:
            assert crd_at[task.ref.kind] < index, task.ref
