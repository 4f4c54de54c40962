"""Project bounds: the rule table, and a sync refused before anything is touched."""

from __future__ import annotations

from typing import Any

import pytest

from fleet.engine import Failed, Reason, Succeeded, SyncOptions
from fleet.engine.bounds import KindPattern, ProjectBounds, kind_pattern_problem
from fleet.model.refs import ObjectRef
from fleet.model.tracking import APP_LABEL, TRACKING_ANNOTATION, tracking_id
from tests.engine.cluster import FakeCluster, body, manifests, run_sync

RBAC = "rbac.authorization.k8s.io"

WEB = ProjectBounds(
    name="web",
    namespaces=("web", "web-*"),
    allow_kinds=tuple(map(KindPattern.parse, ["*"])),
    deny_kinds=tuple(map(KindPattern.parse, [f"{RBAC}/*", "/Secret"])),
    cluster_kinds=tuple(map(KindPattern.parse, ["/Namespace", "storage.k8s.io/*"])),
)
NARROW = ProjectBounds(
    name="narrow",
    namespaces=("team-a",),
    allow_kinds=tuple(map(KindPattern.parse, ["apps/Deployment", "ConfigMap"])),
)

# (project, object, the rule it breaks or None)
RULES: list[tuple[str, ProjectBounds, ObjectRef, str | None]] = [
    (
        "allowed kind in an allowed namespace",
        WEB,
        ObjectRef("apps", "Deployment", "web", "a"),
        None,
    ),
    ("a namespace matched by a glob", WEB, ObjectRef("", "ConfigMap", "web-blue", "a"), None),
    (
        "a namespace outside the globs",
        WEB,
        ObjectRef("", "ConfigMap", "payments", "a"),
        "namespace 'payments' is outside the namespaces of project 'web'",
    ),
    (
        "kube-system",
        WEB,
        ObjectRef("apps", "DaemonSet", "kube-system", "a"),
        "namespace 'kube-system' is outside the namespaces of project 'web'",
    ),
    (
        "a glob does not match a prefix alone",
        WEB,
        ObjectRef("", "ConfigMap", "webhooks", "a"),
        "namespace 'webhooks' is outside the namespaces of project 'web'",
    ),
    (
        "ClusterRoleBinding: denied before the cluster-scope rule",
        WEB,
        ObjectRef(RBAC, "ClusterRoleBinding", "", "admin"),
        f"kind {RBAC}/ClusterRoleBinding is denied by project 'web' (kinds.deny {RBAC}/*)",
    ),
    (
        "a denied namespaced kind in an allowed namespace",
        WEB,
        ObjectRef("", "Secret", "web", "token"),
        "kind /Secret is denied by project 'web' (kinds.deny /Secret)",
    ),
    (
        "a Secret of another group is not the core Secret",
        WEB,
        ObjectRef("example.com", "Secret", "web", "s"),
        None,
    ),
    (
        "a listed cluster-scoped kind",
        WEB,
        ObjectRef("storage.k8s.io", "StorageClass", "", "x"),
        None,
    ),
    ("a Namespace the globs allow", WEB, ObjectRef("", "Namespace", "", "web-blue"), None),
    (
        "a Namespace outside the globs",
        WEB,
        ObjectRef("", "Namespace", "", "kube-system"),
        "namespace 'kube-system' is outside the namespaces of project 'web'",
    ),
    (
        "an unlisted cluster-scoped kind",
        WEB,
        ObjectRef("", "PersistentVolume", "", "disk"),
        "cluster-scoped kind /PersistentVolume is not in the clusterKinds of project 'web'",
    ),
    (
        "cluster-scoped kinds are denied unless listed, whatever kinds.allow says",
        NARROW,
        ObjectRef(RBAC, "ClusterRoleBinding", "", "admin"),
        f"cluster-scoped kind {RBAC}/ClusterRoleBinding is not in the clusterKinds of project",
    ),
    (
        "an object left without a namespace is checked as cluster-scoped",
        NARROW,
        ObjectRef("apps", "Deployment", "", "api"),
        "cluster-scoped kind apps/Deployment is not in the clusterKinds of project 'narrow'",
    ),
    (
        "a kind outside kinds.allow",
        NARROW,
        ObjectRef("batch", "Job", "team-a", "j"),
        "kind batch/Job is not in the kinds.allow of project 'narrow'",
    ),
    ("a bare kind matches every group", NARROW, ObjectRef("", "ConfigMap", "team-a", "c"), None),
    (
        "a group pattern is exact",
        NARROW,
        ObjectRef("extensions", "Deployment", "team-a", "d"),
        "kind extensions/Deployment is not in the kinds.allow of project 'narrow'",
    ),
]


@pytest.mark.parametrize(("name", "bounds", "ref", "rule"), RULES, ids=[case[0] for case in RULES])
def test_rules(name: str, bounds: ProjectBounds, ref: ObjectRef, rule: str | None) -> None:
    refusal = bounds.refusal(ref)
    if rule is None:
        assert refusal is None
    else:
        assert refusal is not None
        assert refusal.startswith(rule)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("apps/Deployment", None),
        ("/Namespace", None),
        ("*", None),
        ("*/Ingress*", None),
        ("", "a kind pattern must be non-empty, without surrounding spaces"),
        (" apps/Deployment", "a kind pattern must be non-empty, without surrounding spaces"),
        ("a/b/c", "write GROUP/KIND with one '/', '/KIND' for the core group, or KIND alone"),
        ("apps/", "the kind part of GROUP/KIND is empty"),
    ],
)
def test_kind_patterns(text: str, problem: str | None) -> None:
    assert kind_pattern_problem(text) == problem


# -- in a sync ---------------------------------------------------------------------------


def crb() -> dict[str, Any]:
    return body(
        "ClusterRoleBinding",
        "take-over",
        None,
        api_version=f"{RBAC}/v1",
        roleRef={"kind": "ClusterRole", "name": "cluster-admin"},
    )


def refused(verdict: Succeeded | Failed) -> list[tuple[str, str]]:
    assert isinstance(verdict, Failed), verdict
    return [(f.reason, str(f.ref)) for f in verdict.failures]


def test_one_object_outside_the_project_refuses_the_whole_sync_before_any_request() -> None:
    cluster = FakeCluster()
    cluster.add(body("Namespace", "web", None))
    desired = manifests(
        body("ConfigMap", "fine", data={"a": "1"}),
        crb(),
        body("ConfigMap", "sneaky", "kube-system"),
        body("Job", "migrate", annotations={"argocd.argoproj.io/hook": "PreSync"}),
        body("Job", "escape", "payments", annotations={"argocd.argoproj.io/hook": "PostSync"}),
    )
    trace = run_sync(desired, cluster, SyncOptions(bounds=WEB))
    assert refused(trace.verdict) == [
        (Reason.OUT_OF_PROJECT, f"ClusterRoleBinding.{RBAC} take-over"),
        (Reason.OUT_OF_PROJECT, "ConfigMap kube-system/sneaky"),
        (Reason.OUT_OF_PROJECT, "Job.batch payments/escape"),  # hooks are objects too
    ]
    assert trace.lines == []  # no dry-run, no apply, no hook
    assert cluster.writes == []
    assert isinstance(trace.verdict, Failed)
    message = trace.verdict.message
    assert "ClusterRoleBinding" in message
    assert "kinds.deny rbac.authorization.k8s.io/*" in message
    assert "namespace 'kube-system' is outside the namespaces of project 'web'" in message


def test_inside_its_project_an_app_syncs_as_before() -> None:
    cluster = FakeCluster()
    cluster.add(body("Namespace", "web", None))
    desired = manifests(body("Namespace", "web-blue", None), body("ConfigMap", "a", "web-blue"))
    trace = run_sync(desired, cluster, SyncOptions(bounds=WEB))
    assert isinstance(trace.verdict, Succeeded)
    assert sorted(cluster.writes) == ["apply ConfigMap/a", "apply Namespace/web-blue"]


def test_create_namespace_is_bounded_too() -> None:
    cluster = FakeCluster()
    narrow = ProjectBounds(name="narrow", namespaces=("team-a",))
    options = SyncOptions(bounds=narrow, create_namespace=True, namespace="team-a")
    trace = run_sync(manifests(body("ConfigMap", "a", "team-a")), cluster, options)
    assert refused(trace.verdict) == [(Reason.OUT_OF_PROJECT, "Namespace team-a")]
    assert isinstance(trace.verdict, Failed)
    assert "syncPolicy.createNamespace: cluster-scoped kind /Namespace" in trace.verdict.message
    assert cluster.writes == []


def owned(cluster: FakeCluster, obj: dict[str, Any]) -> ObjectRef:
    ref = ObjectRef.of(obj)
    meta = obj.setdefault("metadata", {})
    meta.setdefault("labels", {})[APP_LABEL] = "web"
    meta.setdefault("annotations", {})[TRACKING_ANNOTATION] = tracking_id("web", ref)
    return cluster.add(obj)


def test_a_stale_object_outside_the_project_is_kept_not_pruned() -> None:
    cluster = FakeCluster()
    cluster.add(body("Namespace", "web", None))
    inside = owned(cluster, body("ConfigMap", "old", data={"a": "1"}))
    outside = owned(cluster, body("ConfigMap", "old", "kube-system"))
    trace = run_sync(
        manifests(body("ConfigMap", "new")),
        cluster,
        SyncOptions(bounds=WEB, prune_guard_share=None),
        inventory=frozenset({inside, outside}),
    )
    assert isinstance(trace.verdict, Succeeded)
    assert inside not in cluster.live
    assert outside in cluster.live
    (kept,) = trace.verdict.kept
    assert kept.ref == outside
    assert "outside the namespaces of project 'web'" in kept.reason


def test_deleting_an_app_keeps_what_is_outside_and_refuses_an_outside_hook() -> None:
    cluster = FakeCluster()
    cluster.add(body("Namespace", "web", None))
    inside = owned(cluster, body("ConfigMap", "a"))
    outside = owned(cluster, body("ConfigMap", "b", "kube-system"))
    options = SyncOptions(bounds=WEB, prune=True, allow_empty=True, confirm_prune=True)
    hook = body("Job", "bye", "kube-system", annotations={"argocd.argoproj.io/hook": "PreDelete"})
    refused_trace = run_sync(
        manifests(hook), cluster, options, inventory=frozenset({inside, outside}), deleting=True
    )
    assert refused(refused_trace.verdict) == [(Reason.OUT_OF_PROJECT, "Job.batch kube-system/bye")]
    assert cluster.writes == []
    trace = run_sync([], cluster, options, inventory=frozenset({inside, outside}), deleting=True)
    assert inside not in cluster.live
    assert outside in cluster.live
    assert [c.ref for c in trace.verdict.kept] == [outside]
