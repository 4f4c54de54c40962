"""Diffs: normalisation, ignoreDifferences, Secret masking, stable output."""

from __future__ import annotations

import base64
import copy
from typing import Any

import pytest
from pydantic import ValidationError

from fleet.engine.diff import compare, in_sync, normalize, secret_digest
from fleet.engine.diff import in_sync as diff_in_sync
from fleet.engine.diff.ignore import remove_managed
from fleet.model.ignore_differences import IgnoreDifference
from fleet.model.refs import ObjectRef

REF = ObjectRef("apps", "Deployment", "web", "api")


def deployment(replicas: int = 2, image: str = "api:1", **meta: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "api", "namespace": "web", **meta},
        "spec": {
            "replicas": replicas,
            "template": {"spec": {"containers": [{"name": "api", "image": image}]}},
        },
    }


NOISE = {
    "uid": "1",
    "resourceVersion": "99",
    "generation": 4,
    "creationTimestamp": "2026-01-01",
    "managedFields": [{"manager": "kubectl"}],
    "selfLink": "/x",
    "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"},
}

SAME: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("identical objects", deployment(), deployment()),
    ("write bookkeeping and last-applied are noise", deployment(**NOISE), deployment()),
    ("status is not compared", deployment() | {"status": {"replicas": 1}}, deployment()),
    ("empty labels equal no labels", deployment(labels={}), deployment()),
]


@pytest.mark.parametrize(
    ("desired", "live"), [(d, x) for _, d, x in SAME], ids=[row[0] for row in SAME]
)
def test_in_sync(desired: dict[str, Any], live: dict[str, Any]) -> None:
    diff = compare(REF, desired, live)
    assert diff.in_sync
    assert in_sync(REF, desired, live)
    assert diff.patch == ()
    assert diff.text == ""


DIFFERENT: list[tuple[str, dict[str, Any], dict[str, Any] | None, list[str]]] = [
    ("a spec field", deployment(replicas=3), deployment(), ["/spec/replicas"]),
    ("a label", deployment(labels={"tier": "api"}), deployment(), ["/metadata/labels"]),
    (
        "an annotation",
        deployment(annotations={"a": "1"}),
        deployment(annotations={"a": "2"}),
        ["/metadata/annotations/a"],
    ),
    ("an object to create", deployment(), None, ["/apiVersion", "/kind", "/metadata", "/spec"]),
]


@pytest.mark.parametrize(
    ("desired", "live", "paths"),
    [(d, x, p) for _, d, x, p in DIFFERENT],
    ids=[row[0] for row in DIFFERENT],
)
def test_out_of_sync(
    desired: dict[str, Any], live: dict[str, Any] | None, paths: list[str]
) -> None:
    diff = compare(REF, desired, live)
    assert not diff.in_sync
    assert not in_sync(REF, desired, live)
    assert sorted(diff.changed_paths) == sorted(paths)


def test_object_to_delete_diffs_against_nothing() -> None:
    diff = compare(REF, None, deployment())
    assert not diff.in_sync
    assert {op["op"] for op in diff.patch} == {"remove"}
    assert "-kind: Deployment" in diff.text


def test_unified_diff_is_stable_and_readable() -> None:
    diff = compare(REF, deployment(replicas=3, image="api:2"), deployment(**NOISE))
    assert diff.text == compare(REF, deployment(replicas=3, image="api:2"), deployment()).text
    assert diff.text == (
        "--- live/Deployment.apps/web/api\n"
        "+++ desired/Deployment.apps/web/api\n"
        "@@ -4,9 +4,9 @@\n"
        "   name: api\n"
        "   namespace: web\n"
        " spec:\n"
        "-  replicas: 2\n"
        "+  replicas: 3\n"
        "   template:\n"
        "     spec:\n"
        "       containers:\n"
        "-      - image: api:1\n"
        "+      - image: api:2\n"
        "         name: api\n"
    )
    assert [op["path"] for op in diff.patch] == [
        "/spec/replicas",
        "/spec/template/spec/containers/0/image",
    ]


def test_compare_does_not_modify_its_inputs() -> None:
    desired, live = deployment(replicas=3, **NOISE), deployment(**NOISE)
    before = copy.deepcopy((desired, live))
    compare(REF, desired, live, [IgnoreDifference(kind="*", json_pointers=("/spec/replicas",))])
    assert (desired, live) == before


# -- Secrets -----------------------------------------------------------------------------

SECRET_REF = ObjectRef("", "Secret", "web", "db")


def secret(**fields: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "db", "namespace": "web"},
        "type": "Opaque",
        **fields,
    }


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_secret_values_never_appear_only_digests() -> None:
    diff = compare(
        SECRET_REF,
        secret(data={"password": b64("new-pass")}),
        secret(data={"password": b64("old-pass")}),
    )
    assert not diff.in_sync
    everything = diff.text + repr(diff.patch)
    for value in ("new-pass", "old-pass", b64("new-pass"), b64("old-pass")):
        assert value not in everything
    assert secret_digest(b"new-pass") in diff.text
    assert diff.changed_paths == ("/data/password",)


def test_string_data_folds_into_data_before_comparing() -> None:
    desired = secret(stringData={"password": "hunter2"})
    live = secret(data={"password": b64("hunter2")})
    assert compare(SECRET_REF, desired, live).in_sync


def test_string_data_wins_over_data_like_the_api_server() -> None:
    desired = secret(data={"password": b64("a")}, stringData={"password": "b"})
    assert normalize(desired)["data"] == {"password": secret_digest(b"b")}


def test_digests_are_keyed() -> None:
    assert secret_digest(b"x", b"key-1") != secret_digest(b"x", b"key-2")
    normal = normalize(secret(data={"k": b64("x")}), secret_key=b"key-1")
    assert normal["data"]["k"] == secret_digest(b"x", b"key-1")


def test_invalid_base64_is_still_masked() -> None:
    assert normalize(secret(data={"k": "not base64!"}))["data"]["k"].startswith("sha256:")


def test_a_configmap_is_not_masked() -> None:
    config = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "c"},
        "data": {"k": "visible"},
    }
    assert "visible" in compare(ObjectRef("", "ConfigMap", "", "c"), config, None).text


# -- ignoreDifferences -------------------------------------------------------------------


def managed(manager: str, fields: dict[str, Any]) -> dict[str, Any]:
    return {"manager": manager, "operation": "Update", "fieldsType": "FieldsV1", "fieldsV1": fields}


HPA_OWNS_REPLICAS = managed("kube-controller-manager", {"f:spec": {"f:replicas": {}}})

IGNORED: list[tuple[str, IgnoreDifference, dict[str, Any], dict[str, Any], bool]] = [
    (
        "a JSON pointer",
        IgnoreDifference(group="apps", kind="Deployment", json_pointers=("/spec/replicas",)),
        deployment(replicas=3),
        deployment(replicas=5),
        True,
    ),
    (
        "a pointer of another field does not hide the change",
        IgnoreDifference(kind="Deployment", json_pointers=("/spec/paused",)),
        deployment(replicas=3),
        deployment(replicas=5),
        False,
    ),
    (
        "group and kind globs",
        IgnoreDifference(group="app*", kind="Deploy*", json_pointers=("/spec/replicas",)),
        deployment(replicas=3),
        deployment(replicas=5),
        True,
    ),
    (
        "another kind is not selected",
        IgnoreDifference(kind="StatefulSet", json_pointers=("/spec/replicas",)),
        deployment(replicas=3),
        deployment(replicas=5),
        False,
    ),
    (
        "by name",
        IgnoreDifference(kind="Deployment", name="api", json_pointers=("/spec/replicas",)),
        deployment(replicas=3),
        deployment(replicas=5),
        True,
    ),
    (
        "another name is not selected",
        IgnoreDifference(kind="Deployment", name="web", json_pointers=("/spec/replicas",)),
        deployment(replicas=3),
        deployment(replicas=5),
        False,
    ),
    (
        "by namespace",
        IgnoreDifference(kind="*", namespace="w*", json_pointers=("/spec/replicas",)),
        deployment(replicas=3),
        deployment(replicas=5),
        True,
    ),
    (
        "another namespace is not selected",
        IgnoreDifference(kind="*", namespace="prod", json_pointers=("/spec/replicas",)),
        deployment(replicas=3),
        deployment(replicas=5),
        False,
    ),
    (
        "an escaped pointer (annotation with a slash)",
        IgnoreDifference(kind="*", json_pointers=("/metadata/annotations/example.com~1rev",)),
        deployment(annotations={"example.com/rev": "1"}),
        deployment(annotations={"example.com/rev": "2"}),
        True,
    ),
    (
        "a pointer into a list",
        IgnoreDifference(kind="*", json_pointers=("/spec/template/spec/containers/0/image",)),
        deployment(image="api:2"),
        deployment(image="api:1"),
        True,
    ),
    (
        "fields owned by a listed manager",
        IgnoreDifference(kind="Deployment", managed_fields_managers=("kube-controller-manager",)),
        deployment(replicas=3),
        deployment(replicas=5, managedFields=[HPA_OWNS_REPLICAS]),
        True,
    ),
    (
        "fields of other managers still count",
        IgnoreDifference(kind="Deployment", managed_fields_managers=("someone-else",)),
        deployment(replicas=3),
        deployment(replicas=5, managedFields=[HPA_OWNS_REPLICAS]),
        False,
    ),
]


@pytest.mark.parametrize(
    ("rule", "desired", "live", "in_sync"),
    [(r, d, x, s) for _, r, d, x, s in IGNORED],
    ids=[row[0] for row in IGNORED],
)
def test_ignore_differences(
    rule: IgnoreDifference, desired: dict[str, Any], live: dict[str, Any], in_sync: bool
) -> None:
    assert compare(REF, desired, live, [rule]).in_sync is in_sync
    assert diff_in_sync(REF, desired, live, [rule]) is in_sync


SIDECAR = {"name": "proxy", "image": "envoy"}

MANAGED: list[tuple[str, dict[str, Any], dict[str, Any], dict[str, Any]]] = [
    (
        "a leaf field",
        {"spec": {"replicas": 2, "paused": False}},
        {"f:spec": {"f:replicas": {}}},
        {"spec": {"paused": False}},
    ),
    (
        "a map the manager created and nothing else is left in",
        {"metadata": {"labels": {"a": "1"}}},
        {"f:metadata": {"f:labels": {".": {}, "f:a": {}}}},
        {"metadata": {}},
    ),
    (
        "a map that still holds others' fields stays",
        {"metadata": {"labels": {"a": "1", "b": "2"}}},
        {"f:metadata": {"f:labels": {".": {}, "f:a": {}}}},
        {"metadata": {"labels": {"b": "2"}}},
    ),
    (
        "a list item by key (an injected sidecar)",
        {"containers": [{"name": "app", "image": "a"}, SIDECAR]},
        {"f:containers": {'k:{"name":"proxy"}': {".": {}, "f:name": {}, "f:image": {}}}},
        {"containers": [{"name": "app", "image": "a"}]},
    ),
    (
        "one field of a keyed item",
        {"containers": [{"name": "app", "image": "a", "resources": {}}]},
        {"f:containers": {'k:{"name":"app"}': {"f:resources": {}}}},
        {"containers": [{"name": "app", "image": "a"}]},
    ),
    (
        "a set value",
        {"finalizers": ["a", "b"]},
        {"f:finalizers": {'v:"b"': {}}},
        {"finalizers": ["a"]},
    ),
    ("an index", {"args": ["x", "y"]}, {"f:args": {"i:0": {}}}, {"args": ["y"]}),
    (
        "fields that are not there",
        {"spec": {}},
        {"f:spec": {"f:replicas": {}}, "f:status": {}},
        {"spec": {}},
    ),
    (
        "unreadable keys are skipped",
        {"list": [{"a": 1}]},
        {"f:list": {"k:{broken": {}, "i:x": {}, "z:what": {}}},
        {"list": [{"a": 1}]},
    ),
]


@pytest.mark.parametrize(
    ("obj", "fields", "expected"),
    [(o, f, e) for _, o, f, e in MANAGED],
    ids=[row[0] for row in MANAGED],
)
def test_remove_managed_fields(
    obj: dict[str, Any], fields: dict[str, Any], expected: dict[str, Any]
) -> None:
    remove_managed(obj, fields)
    assert obj == expected


def test_ignore_rule_needs_something_to_ignore() -> None:
    with pytest.raises(ValidationError, match="jsonPointers or managedFieldsManagers"):
        IgnoreDifference(kind="Deployment")
    with pytest.raises(ValidationError, match="JSON pointer"):
        IgnoreDifference.model_validate({"kind": "X", "jsonPointers": ["spec.replicas"]})
    rule = IgnoreDifference.model_validate(
        {"group": "apps", "kind": "Deployment", "managedFieldsManagers": ["hpa"]}
    )
    assert rule.managed_fields_managers == ("hpa",)


POINTERS: list[tuple[str, Any, str, Any]] = [
    ("a map key", {"a": {"b": 1, "c": 2}}, "/a/b", {"a": {"c": 2}}),
    ("a list item", {"a": [1, 2, 3]}, "/a/1", {"a": [1, 3]}),
    ("through a list", {"a": [{"b": 1}]}, "/a/0/b", {"a": [{}]}),
    ("a missing key", {"a": {}}, "/a/b/c", {"a": {}}),
    ("an index past the end", {"a": [1]}, "/a/4", {"a": [1]}),
    ("through a scalar", {"a": 1}, "/a/b", {"a": 1}),
    ("the whole document is never removed", {"a": 1}, "", {"a": 1}),
]


@pytest.mark.parametrize(
    ("doc", "pointer", "expected"),
    [(d, p, e) for _, d, p, e in POINTERS],
    ids=[row[0] for row in POINTERS],
)
def test_remove_pointer(doc: Any, pointer: str, expected: Any) -> None:
    from fleet.engine.diff.ignore import remove_pointer
    from fleet.model.pointers import pointer_parts

    remove_pointer(doc, pointer_parts(pointer))
    assert doc == expected


NORMALIZE_CASES = [
    {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "web",
            "uid": "u",
            "resourceVersion": "7",
            "managedFields": [{"manager": "fleet"}],
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"},
            "labels": {},
        },
        "spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "a"}]}}},
        "status": {"readyReplicas": 2},
    },
    {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "s", "annotations": {"keep": "me"}},
        "data": {"a": base64.b64encode(b"one").decode()},
        "stringData": {"b": "two"},
    },
    {"apiVersion": "v1", "kind": "ConfigMap", "metadata": None, "data": {"x": "1"}},
    {"apiVersion": "v1", "kind": "ConfigMap", "data": {"x": "1"}},
]


@pytest.mark.parametrize("obj", NORMALIZE_CASES)
def test_normalize_shallow_and_deep_agree_and_leave_the_input_alone(obj: dict[str, Any]) -> None:
    before = copy.deepcopy(obj)
    deep = normalize(obj, b"k")
    shallow = normalize(obj, b"k", deep=False)
    assert deep == shallow
    assert obj == before
    assert "status" not in deep
    meta = deep.get("metadata") or {}
    assert not {"uid", "resourceVersion", "managedFields"} & set(meta)
    assert "kubectl.kubernetes.io/last-applied-configuration" not in meta.get("annotations", {})
    assert "labels" not in meta, "empty labels are dropped"
    if "spec" in obj:
        assert shallow["spec"] is obj["spec"], "shallow shares what it does not change"
        assert deep["spec"] is not obj["spec"]
        assert deep["spec"] == obj["spec"]
