"""The resource tree: roots in order, owned objects under their owner by uid."""

from __future__ import annotations

from typing import Any

import pytest

from fleet.engine.resource_tree import MAX_CHILDREN, Root, build_tree
from fleet.model.refs import ObjectRef


def obj(
    kind: str, name: str, uid: str, owners: tuple[str, ...] = (), **status: Any
) -> dict[str, Any]:
    api = {"Deployment": "apps/v1", "ReplicaSet": "apps/v1", "Job": "batch/v1"}.get(kind, "v1")
    return {
        "apiVersion": api,
        "kind": kind,
        "metadata": {
            "name": name,
            "namespace": "web",
            "uid": uid,
            "generation": 1,
            "ownerReferences": [{"uid": owner, "kind": "X", "name": "x"} for owner in owners],
        },
        "status": status,
    }


DEPLOY = obj(
    "Deployment",
    "web",
    "d1",
    replicas=1,
    updatedReplicas=1,
    availableReplicas=1,
    readyReplicas=1,
    observedGeneration=1,
)
RS = obj(
    "ReplicaSet", "web-1", "r1", ("d1",), availableReplicas=1, readyReplicas=1, observedGeneration=1
)
POD = obj("Pod", "web-1-a", "p1", ("r1",), phase="Running")
STRAY = obj("Pod", "other", "p9", ("nobody",), phase="Running")


def ref(kind: str, name: str) -> ObjectRef:
    group = "apps" if kind in ("Deployment", "ReplicaSet") else "batch" if kind == "Job" else ""
    return ObjectRef(group, kind, "web", name)


CASES = [
    pytest.param(
        [Root(ref("Deployment", "web"), DEPLOY, "Synced")],
        [POD, RS, STRAY],
        [
            ("Deployment", "web", 0, "", "Synced"),
            ("ReplicaSet", "web-1", 1, "Deployment/web/web", ""),
            ("Pod", "web-1-a", 2, "ReplicaSet/web/web-1", ""),
        ],
        id="deployment-replicaset-pod",
    ),
    pytest.param(
        [Root(ref("Deployment", "web"), None, "OutOfSync")],
        [RS, POD],
        [("Deployment", "web", 0, "", "OutOfSync")],
        id="missing-root-has-no-children",
    ),
    pytest.param(
        [
            Root(ref("Job", "migrate"), obj("Job", "migrate", "j1"), "Synced", hook="PreSync"),
            Root(ref("ConfigMap", "b"), obj("ConfigMap", "b", "c2"), "Synced"),
            Root(ref("ConfigMap", "a"), obj("ConfigMap", "a", "c1"), "OutOfSync"),
        ],
        [],
        [
            ("ConfigMap", "a", 0, "", "OutOfSync"),
            ("ConfigMap", "b", 0, "", "Synced"),
            ("Job", "migrate", 0, "", "Synced"),
        ],
        id="hooks-last-roots-sorted",
    ),
    pytest.param(
        [Root(ref("ConfigMap", "a"), obj("ConfigMap", "a", "c1", ("c2",)), "Synced")],
        [obj("ConfigMap", "b", "c2", ("c1",))],
        [("ConfigMap", "a", 0, "", "Synced"), ("ConfigMap", "b", 1, "ConfigMap/web/a", "")],
        id="owner-cycle-shown-once",
    ),
]


@pytest.mark.parametrize(("roots", "owned", "expected"), CASES)
def test_tree_shape(
    roots: list[Root], owned: list[dict[str, Any]], expected: list[tuple[Any, ...]]
) -> None:
    nodes = build_tree(roots, owned)
    assert [(n.ref.kind, n.ref.name, n.depth, n.parent, n.sync) for n in nodes] == expected


def test_health_and_messages_come_from_the_live_objects() -> None:
    failing = obj("Pod", "web-1-a", "p1", ("r1",), phase="Failed")
    nodes = build_tree([Root(ref("Deployment", "web"), DEPLOY, "Synced")], [RS, failing])
    health = {n.ref.kind: n.health for n in nodes}
    assert health == {"Deployment": "Healthy", "ReplicaSet": "Healthy", "Pod": "Degraded"}
    missing = build_tree([Root(ref("Deployment", "web"), None, "OutOfSync")], [])
    assert (missing[0].health, missing[0].message) == ("Missing", "does not exist on the cluster")


def test_many_children_are_cut_and_counted() -> None:
    pods = [obj("Pod", f"p{i:03}", f"u{i}", ("r1",), phase="Running") for i in range(70)]
    rs = obj("ReplicaSet", "web-1", "r1")
    nodes = build_tree([Root(ref("ReplicaSet", "web-1"), rs, "Synced")], pods)
    assert len(nodes) == 1 + MAX_CHILDREN
    assert nodes[0].hidden == 70 - MAX_CHILDREN
    assert nodes[1].as_json()["parent"] == "ReplicaSet/web/web-1"


def test_an_object_no_longer_in_git_says_so_after_the_declared_ones() -> None:
    stale = Root(
        ref("ConfigMap", "old"), obj("ConfigMap", "old", "c9"), "OutOfSync", note="not in Git"
    )
    kept = Root(ref("ConfigMap", "new"), obj("ConfigMap", "new", "c1"), "Synced")
    nodes = build_tree([stale, kept], [])
    assert [(n.ref.name, n.sync, n.message) for n in nodes] == [
        ("new", "Synced", ""),
        ("old", "OutOfSync", "not in Git"),
    ]


def test_custom_checks_judge_roots_and_owned_objects_as_status_does() -> None:
    from fleet.engine.health import Health, HealthStatus, HealthVerdict

    def lua_like(live: Any) -> HealthVerdict | None:
        if live.get("kind") != "Pod":
            return None
        return HealthVerdict(Health(HealthStatus.DEGRADED, "from the custom check"), "Lua x")

    roots = [Root(ref("Deployment", "web"), DEPLOY, "Synced")]
    nodes = build_tree(roots, [RS, POD], (), lua_like)
    pod = next(n for n in nodes if n.ref.kind == "Pod")
    assert (pod.health, pod.message) == ("Degraded", "from the custom check")
    assert next(n for n in nodes if n.ref.kind == "Deployment").health == "Healthy"
    without = build_tree(roots, [RS, POD])
    assert next(n for n in without if n.ref.kind == "Pod").health != "Degraded"
