"""Strategic merge patch on built-in kinds: one behaviour per row."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from fleet.sim.patching import (
    BadPatch,
    PatchError,
    StrategicMergeUnsupported,
    kind_schema,
    schema_from_openapi,
    strategic_merge_patch,
)


def pod(**spec: Any) -> Any:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": spec}


def c(name: str, **fields: Any) -> dict[str, Any]:
    return {"name": name, **fields}


POD = kind_schema("", "v1", "Pod")

# (behaviour, schema, live, patch, expected)
ROWS: list[tuple[str, Any, Any, Any, Any]] = [
    (
        "containers merge by name; other fields of the item stay",
        POD,
        pod(containers=[c("a", image="a:1", args=["x"]), c("b", image="b:1")]),
        {"spec": {"containers": [c("a", image="a:2")]}},
        pod(containers=[c("a", image="a:2", args=["x"]), c("b", image="b:1")]),
    ),
    (
        "a new container is added; patch items keep the patch order",
        POD,
        pod(containers=[c("a", image="a")]),
        {"spec": {"containers": [c("z", image="z"), c("a", image="a2")]}},
        pod(containers=[c("z", image="z"), c("a", image="a2")]),
    ),
    (
        "live-only items keep their place relative to patched ones",
        POD,
        pod(containers=[c("a"), c("b"), c("c")]),
        {"spec": {"containers": [c("c", image="c2")]}},
        pod(containers=[c("a"), c("b"), c("c", image="c2")]),
    ),
    (
        "initContainers and ephemeralContainers merge by name too",
        POD,
        pod(initContainers=[c("i", image="1")], ephemeralContainers=[c("e", image="1")]),
        {"spec": {"initContainers": [c("j")], "ephemeralContainers": [c("e", image="2")]}},
        pod(initContainers=[c("j"), c("i", image="1")], ephemeralContainers=[c("e", image="2")]),
    ),
    (
        "env merges by name inside a container",
        POD,
        pod(containers=[c("a", env=[{"name": "X", "value": "1"}, {"name": "Y", "value": "1"}])]),
        {"spec": {"containers": [c("a", env=[{"name": "Y", "value": "2"}])]}},
        pod(containers=[c("a", env=[{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}])]),
    ),
    (
        "ports merge by containerPort",
        POD,
        pod(containers=[c("a", ports=[{"containerPort": 80, "name": "http"}])]),
        {"spec": {"containers": [c("a", ports=[{"containerPort": 80, "protocol": "UDP"}])]}},
        pod(containers=[c("a", ports=[{"containerPort": 80, "name": "http", "protocol": "UDP"}])]),
    ),
    (
        "volumeMounts merge by mountPath",
        POD,
        pod(containers=[c("a", volumeMounts=[{"mountPath": "/d", "name": "v1"}])]),
        {"spec": {"containers": [c("a", volumeMounts=[{"mountPath": "/d", "name": "v2"}])]}},
        pod(containers=[c("a", volumeMounts=[{"mountPath": "/d", "name": "v2"}])]),
    ),
    (
        "volumes merge by name",
        POD,
        pod(volumes=[{"name": "v", "emptyDir": {}}, {"name": "w", "emptyDir": {}}]),
        {"spec": {"volumes": [{"name": "w", "emptyDir": {"medium": "Memory"}}]}},
        pod(
            volumes=[{"name": "v", "emptyDir": {}}, {"name": "w", "emptyDir": {"medium": "Memory"}}]
        ),
    ),
    (
        "imagePullSecrets merge by name",
        POD,
        pod(imagePullSecrets=[{"name": "a"}]),
        {"spec": {"imagePullSecrets": [{"name": "b"}]}},
        pod(imagePullSecrets=[{"name": "b"}, {"name": "a"}]),
    ),
    (
        "tolerations have no merge strategy: replaced",
        POD,
        pod(tolerations=[{"key": "a"}, {"key": "b"}]),
        {"spec": {"tolerations": [{"key": "c"}]}},
        pod(tolerations=[{"key": "c"}]),
    ),
    (
        "hostAliases merge by ip",
        POD,
        pod(hostAliases=[{"ip": "1.1.1.1", "hostnames": ["a"]}]),
        {"spec": {"hostAliases": [{"ip": "1.1.1.1", "hostnames": ["b"]}]}},
        pod(hostAliases=[{"ip": "1.1.1.1", "hostnames": ["b"]}]),
    ),
    (
        "null deletes a key",
        POD,
        pod(containers=[c("a")], nodeName="n1"),
        {"spec": {"nodeName": None}},
        pod(containers=[c("a")]),
    ),
    (
        "pod conditions merge by type",
        POD,
        {**pod(), "status": {"conditions": [{"type": "Ready", "status": "False"}]}},
        {"status": {"conditions": [{"type": "Ready", "status": "True"}]}},
        {**pod(), "status": {"conditions": [{"type": "Ready", "status": "True"}]}},
    ),
    (
        "finalizers are a set: union, live items keep their place",
        POD,
        {"metadata": {"finalizers": ["a", "b"]}},
        {"metadata": {"finalizers": ["b", "c"]}},
        {"metadata": {"finalizers": ["a", "b", "c"]}},
    ),
    (
        "a value new to a scalar list goes before the live-only values",
        POD,
        {"metadata": {"finalizers": ["a"]}},
        {"metadata": {"finalizers": ["c"]}},
        {"metadata": {"finalizers": ["c", "a"]}},
    ),
    (
        "$deleteFromPrimitiveList removes values from a scalar list",
        POD,
        {"metadata": {"finalizers": ["a", "b", "c"]}},
        {"metadata": {"$deleteFromPrimitiveList/finalizers": ["b"]}},
        {"metadata": {"finalizers": ["a", "c"]}},
    ),
    (
        "ownerReferences merge by uid",
        POD,
        {"metadata": {"ownerReferences": [{"uid": "1", "name": "a"}]}},
        {"metadata": {"ownerReferences": [{"uid": "2", "name": "b"}]}},
        {"metadata": {"ownerReferences": [{"uid": "2", "name": "b"}, {"uid": "1", "name": "a"}]}},
    ),
    (
        "labels merge key by key",
        POD,
        {"metadata": {"labels": {"a": "1", "b": "1"}}},
        {"metadata": {"labels": {"b": None, "c": "1"}}},
        {"metadata": {"labels": {"a": "1", "c": "1"}}},
    ),
    (
        "$patch: replace on an object replaces it",
        POD,
        {"metadata": {"labels": {"a": "1", "b": "1"}}},
        {"metadata": {"labels": {"$patch": "replace", "c": "1"}}},
        {"metadata": {"labels": {"c": "1"}}},
    ),
    (
        "$patch: delete on an object empties it",
        POD,
        {"metadata": {"labels": {"a": "1"}}},
        {"metadata": {"labels": {"$patch": "delete"}}},
        {"metadata": {"labels": {}}},
    ),
    (
        "$patch: replace in a list replaces the list with the other items",
        POD,
        pod(containers=[c("a"), c("b")]),
        {"spec": {"containers": [c("z"), {"$patch": "replace"}]}},
        pod(containers=[c("z")]),
    ),
    (
        "$patch: delete in a list deletes the item with that key",
        POD,
        pod(containers=[c("a"), c("b")]),
        {"spec": {"containers": [{"name": "a", "$patch": "delete"}]}},
        pod(containers=[c("b")]),
    ),
    (
        "$setElementOrder orders the merged list",
        POD,
        pod(containers=[c("a"), c("b"), c("c")]),
        {
            "spec": {
                "$setElementOrder/containers": [{"name": "c"}, {"name": "a"}, {"name": "b"}],
                "containers": [c("a", image="2")],
            }
        },
        pod(containers=[c("c"), c("a", image="2"), c("b")]),
    ),
    (
        "$retainKeys drops the keys it does not name",
        kind_schema("apps", "v1", "Deployment"),
        {"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}}},
        {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}},
        {"spec": {"strategy": {"type": "Recreate"}}},
    ),
    (
        "new values lose null members and stray directives",
        POD,
        pod(),
        {"spec": {"securityContext": {"runAsUser": None, "fsGroup": 1, "$retainKeys": ["x"]}}},
        pod(securityContext={"fsGroup": 1}),
    ),
    (
        "service ports merge by port",
        kind_schema("", "v1", "Service"),
        {"spec": {"ports": [{"port": 80, "targetPort": 8080}, {"port": 443}]}},
        {"spec": {"ports": [{"port": 80, "targetPort": 9090}]}},
        {"spec": {"ports": [{"port": 80, "targetPort": 9090}, {"port": 443}]}},
    ),
    (
        "deployment conditions merge by type",
        kind_schema("apps", "v1", "Deployment"),
        {"status": {"conditions": [{"type": "Available"}, {"type": "Progressing"}]}},
        {"status": {"conditions": [{"type": "Progressing", "reason": "NewReplicaSetAvailable"}]}},
        {
            "status": {
                "conditions": [
                    {"type": "Available"},
                    {"type": "Progressing", "reason": "NewReplicaSetAvailable"},
                ]
            }
        },
    ),
    (
        "job conditions merge by type (atomic only for apply)",
        kind_schema("batch", "v1", "Job"),
        {"status": {"conditions": [{"type": "Complete", "status": "False"}]}},
        {"status": {"conditions": [{"type": "Failed", "status": "True"}]}},
        {
            "status": {
                "conditions": [
                    {"type": "Failed", "status": "True"},
                    {"type": "Complete", "status": "False"},
                ]
            }
        },
    ),
    (
        "configmap data merges key by key",
        kind_schema("", "v1", "ConfigMap"),
        {"data": {"a": "1", "b": "1"}},
        {"data": {"a": None, "b": "2"}},
        {"data": {"b": "2"}},
    ),
    (
        "rbac rules are replaced",
        kind_schema("rbac.authorization.k8s.io", "v1", "Role"),
        {"rules": [{"verbs": ["get"], "resources": ["pods"]}]},
        {"rules": [{"verbs": ["list"], "resources": ["pods"]}]},
        {"rules": [{"verbs": ["list"], "resources": ["pods"]}]},
    ),
    (
        "ingress rules are replaced",
        kind_schema("networking.k8s.io", "v1", "Ingress"),
        {"spec": {"rules": [{"host": "a"}, {"host": "b"}]}},
        {"spec": {"rules": [{"host": "c"}]}},
        {"spec": {"rules": [{"host": "c"}]}},
    ),
    (
        "a PodDisruptionBudget selector is replaced, not merged",
        kind_schema("policy", "v1", "PodDisruptionBudget"),
        {"spec": {"selector": {"matchLabels": {"a": "1"}}}},
        {"spec": {"selector": {"matchLabels": {"b": "1"}}}},
        {"spec": {"selector": {"matchLabels": {"b": "1"}}}},
    ),
    ("an empty patch changes nothing", POD, pod(containers=[c("a")]), {}, pod(containers=[c("a")])),
]


@pytest.mark.parametrize(("_behaviour", "schema", "live", "patch", "expected"), ROWS)
def test_strategic_merge_patch(
    _behaviour: str, schema: Any, live: Any, patch: Any, expected: Any
) -> None:
    before = copy.deepcopy((live, patch))
    assert strategic_merge_patch(live, patch, schema) == expected
    assert (live, patch) == before


WORKLOAD_POD_SPECS = [
    (("apps", "v1", "Deployment"), ("spec", "template", "spec")),
    (("apps", "v1", "ReplicaSet"), ("spec", "template", "spec")),
    (("apps", "v1", "StatefulSet"), ("spec", "template", "spec")),
    (("apps", "v1", "DaemonSet"), ("spec", "template", "spec")),
    (("batch", "v1", "Job"), ("spec", "template", "spec")),
    (("batch", "v1", "CronJob"), ("spec", "jobTemplate", "spec", "template", "spec")),
    (("", "v1", "PodTemplate"), ("template", "spec")),
    (("", "v1", "ReplicationController"), ("spec", "template", "spec")),
]


def nest(path: tuple[str, ...], value: Any) -> Any:
    for key in reversed(path):
        value = {key: value}
    return value


@pytest.mark.parametrize(("gvk", "path"), WORKLOAD_POD_SPECS)
def test_pod_templates_of_every_workload_merge_containers_by_name(
    gvk: tuple[str, str, str], path: tuple[str, ...]
) -> None:
    env = [{"name": "A", "value": "1"}, {"name": "B", "value": "1"}]
    live = nest(path, {"containers": [c("app", image="1", env=env)]})
    patch = nest(path, {"containers": [c("app", env=[{"name": "B", "value": "2"}])]})
    expected = nest(
        path,
        {
            "containers": [
                c("app", image="1", env=[{"name": "A", "value": "1"}, {"name": "B", "value": "2"}])
            ]
        },
    )
    assert strategic_merge_patch(live, patch, kind_schema(*gvk)) == expected


ERRORS = [
    (
        "an item without its merge key",
        {"spec": {"containers": [{"image": "x"}]}},
        500,
        "does not contain declared merge key: name",
    ),
    ("an unknown $patch in an object", {"spec": {"$patch": "squash"}}, 500, "unknown patch type"),
    (
        "$patch: merge in a list",
        {"spec": {"containers": [{"$patch": "merge"}]}},
        500,
        "merging lists cannot yet be specified",
    ),
    (
        "$retainKeys that omits a patched key",
        {"spec": {"$retainKeys": ["nodeName"], "hostname": "h"}},
        400,
        "invalid patch format of retainKeys",
    ),
    (
        "$retainKeys that is not a list",
        {"spec": {"$retainKeys": "nodeName"}},
        400,
        "invalid patch format of retainKeys",
    ),
    (
        "$setElementOrder that contradicts the patch order",
        {
            "spec": {
                "$setElementOrder/containers": [{"name": "a"}, {"name": "b"}],
                "containers": [c("b"), c("a")],
            }
        },
        500,
        "doesn't match $setElementOrder list",
    ),
    (
        "a list of lists",
        {"metadata": {"finalizers": [["a"]]}},
        422,
        "lists of lists are not supported",
    ),
]


@pytest.mark.parametrize(("_name", "patch", "code", "message"), ERRORS)
def test_strategic_merge_patch_errors(_name: str, patch: Any, code: int, message: str) -> None:
    live = {"metadata": {"finalizers": ["x"]}, "spec": {"containers": [c("a"), c("b")]}}
    with pytest.raises(PatchError) as raised:
        strategic_merge_patch(live, patch, POD)
    assert raised.value.code == code
    assert message in raised.value.message


def test_a_patch_that_is_not_an_object_is_a_bad_request() -> None:
    with pytest.raises(BadPatch):
        strategic_merge_patch(pod(), ["not", "an", "object"], POD)


def test_custom_resources_refuse_strategic_merge_patch_with_415() -> None:
    schema = schema_from_openapi(
        {"type": "object"}, group="example.com", version="v1", kind="Widget"
    )
    with pytest.raises(StrategicMergeUnsupported) as raised:
        strategic_merge_patch({"spec": {}}, {"spec": {"a": 1}}, schema)
    assert raised.value.code == 415
    assert raised.value.reason == "UnsupportedMediaType"
    assert "application/merge-patch+json" in raised.value.message
