"""The built-in schema table and schemas read from CustomResourceDefinitions."""

from __future__ import annotations

from typing import Any

import pytest

from fleet.sim.patching import (
    UnknownKind,
    builtin_kinds,
    fieldset_from_object,
    generic_schema,
    kind_schema,
    render_path,
    schema_for_crd,
)
from fleet.sim.patching.types import ListOf, MapOf, Struct, Type, child_type, item_type


def lookup(gvk: tuple[str, str, str], path: str) -> Type:
    """The type at a dotted path; ``[]`` steps into list items."""
    node: Type = kind_schema(*gvk).root
    for step in path.split("."):
        node = item_type(node) if step == "[]" else child_type(node, step)[0]
    return node


POD = ("", "v1", "Pod")
DEP = ("apps", "v1", "Deployment")
POD_SPEC_IN = {
    POD: "spec",
    DEP: "spec.template.spec",
    ("apps", "v1", "ReplicaSet"): "spec.template.spec",
    ("apps", "v1", "StatefulSet"): "spec.template.spec",
    ("apps", "v1", "DaemonSet"): "spec.template.spec",
    ("batch", "v1", "Job"): "spec.template.spec",
    ("batch", "v1", "CronJob"): "spec.jobTemplate.spec.template.spec",
}

# (kind, path, list type, apply keys, strategic merge key)
LISTS: list[tuple[tuple[str, str, str], str, str, tuple[str, ...], str]] = [
    *[(gvk, f"{p}.containers", "map", ("name",), "name") for gvk, p in POD_SPEC_IN.items()],
    (POD, "spec.initContainers", "map", ("name",), "name"),
    (POD, "spec.ephemeralContainers", "map", ("name",), "name"),
    (POD, "spec.containers.[].env", "map", ("name",), "name"),
    (POD, "spec.containers.[].ports", "map", ("containerPort", "protocol"), "containerPort"),
    (POD, "spec.containers.[].volumeMounts", "map", ("mountPath",), "mountPath"),
    (POD, "spec.volumes", "map", ("name",), "name"),
    (POD, "spec.imagePullSecrets", "map", ("name",), "name"),
    (POD, "spec.tolerations", "atomic", (), ""),
    (POD, "spec.hostAliases", "map", ("ip",), "ip"),
    (POD, "status.conditions", "map", ("type",), "type"),
    (("", "v1", "Service"), "spec.ports", "map", ("port", "protocol"), "port"),
    (DEP, "metadata.ownerReferences", "map", ("uid",), "uid"),
    (DEP, "metadata.finalizers", "set", (), ""),
    (DEP, "status.conditions", "map", ("type",), "type"),
    (("batch", "v1", "Job"), "status.conditions", "atomic", (), "type"),
    (("rbac.authorization.k8s.io", "v1", "Role"), "rules", "atomic", (), ""),
    (("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding"), "subjects", "atomic", (), ""),
    (("networking.k8s.io", "v1", "Ingress"), "spec.rules", "atomic", (), ""),
    (("apiextensions.k8s.io", "v1", "CustomResourceDefinition"), "spec.versions", "atomic", (), ""),
    (POD, "spec.containers.[].command", "atomic", (), ""),
]


@pytest.mark.parametrize(("gvk", "path", "list_type", "keys", "merge_key"), LISTS)
def test_builtin_lists(
    gvk: tuple[str, str, str], path: str, list_type: str, keys: tuple[str, ...], merge_key: str
) -> None:
    node = lookup(gvk, path)
    assert isinstance(node, ListOf)
    assert (node.list_type, node.keys, node.patch_merge_key) == (list_type, keys, merge_key)


MAPS = [
    (("", "v1", "ConfigMap"), "data", False),
    (("", "v1", "ConfigMap"), "binaryData", False),
    (("", "v1", "Secret"), "data", False),
    (("", "v1", "Secret"), "stringData", False),
    (DEP, "metadata.labels", False),
    (DEP, "metadata.annotations", False),
    (POD, "spec.nodeSelector", True),
    (("", "v1", "Service"), "spec.selector", True),
    (POD, "spec.containers.[].resources.limits", False),
]


@pytest.mark.parametrize(("gvk", "path", "atomic"), MAPS)
def test_builtin_maps(gvk: tuple[str, str, str], path: str, atomic: bool) -> None:
    node = lookup(gvk, path)
    assert isinstance(node, MapOf)
    assert node.atomic is atomic


@pytest.mark.parametrize(
    ("gvk", "path"),
    [
        (DEP, "spec.selector"),
        (DEP, "metadata.ownerReferences.[]"),
        (POD, "spec.imagePullSecrets.[]"),
    ],
)
def test_builtin_atomic_structs(gvk: tuple[str, str, str], path: str) -> None:
    node = lookup(gvk, path)
    assert isinstance(node, Struct)
    assert node.atomic


SUBRESOURCES = [
    (POD, True, False),
    (DEP, True, True),
    (("apps", "v1", "StatefulSet"), True, True),
    (("", "v1", "ConfigMap"), False, False),
    (("rbac.authorization.k8s.io", "v1", "Role"), False, False),
    (("apiextensions.k8s.io", "v1", "CustomResourceDefinition"), True, False),
]


@pytest.mark.parametrize(("gvk", "status", "scale"), SUBRESOURCES)
def test_builtin_subresources(gvk: tuple[str, str, str], status: bool, scale: bool) -> None:
    schema = kind_schema(*gvk)
    assert (schema.status_subresource, schema.scale_subresource) == (status, scale)
    assert schema.strategic_merge


def test_builtin_kinds_cover_the_groups_the_simulator_serves() -> None:
    groups = {g for g, _v, _k in builtin_kinds()}
    assert {
        "",
        "apps",
        "batch",
        "rbac.authorization.k8s.io",
        "networking.k8s.io",
        "policy",
        "autoscaling",
        "coordination.k8s.io",
        "apiextensions.k8s.io",
    } <= groups


def test_unknown_kind_is_an_error_naming_it() -> None:
    with pytest.raises(UnknownKind, match=r"Gadget in example\.com/v1"):
        kind_schema("example.com", "v1", "Gadget")


def test_generic_schema_treats_objects_as_structs_and_lists_as_atomic() -> None:
    schema = generic_schema("example.com", "v1", "Gadget")
    owned = fieldset_from_object({"spec": {"a": {"b": 1}, "l": [1, 2]}}, schema)
    assert {render_path(p) for p in owned.paths()} == {".spec.a.b", ".spec.l"}


WIDGET_CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.example.com"},
    "spec": {
        "group": "example.com",
        "names": {"kind": "Widget", "plural": "widgets"},
        "scope": "Namespaced",
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "subresources": {"status": {}, "scale": {"specReplicasPath": ".spec.replicas"}},
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "properties": {
                                    "ports": {
                                        "type": "array",
                                        "x-kubernetes-list-type": "map",
                                        "x-kubernetes-list-map-keys": ["port", "protocol"],
                                        "items": {
                                            "type": "object",
                                            "properties": {
                                                "port": {"type": "integer"},
                                                "protocol": {"type": "string", "default": "TCP"},
                                            },
                                        },
                                    },
                                    "tags": {"type": "array", "items": {"type": "string"}},
                                    "owners": {
                                        "type": "array",
                                        "x-kubernetes-list-type": "set",
                                        "items": {"type": "string"},
                                    },
                                    "limits": {
                                        "type": "object",
                                        "additionalProperties": {"type": "string"},
                                    },
                                    "target": {
                                        "type": "object",
                                        "x-kubernetes-map-type": "atomic",
                                        "properties": {"name": {"type": "string"}},
                                    },
                                    "extra": {
                                        "type": "object",
                                        "x-kubernetes-preserve-unknown-fields": True,
                                    },
                                },
                            },
                            "status": {"type": "object"},
                        },
                    }
                },
            }
        ],
    },
}

# (field under spec, value, owned paths below .spec)
CRD_ROWS = [
    (
        "ports",
        [{"port": 80}],
        {'.spec.ports[port=80,protocol="TCP"]', '.spec.ports[port=80,protocol="TCP"].port'},
    ),
    ("tags", ["a", "b"], {".spec.tags"}),
    ("owners", ["a", "b"], {'.spec.owners[="a"]', '.spec.owners[="b"]'}),
    ("limits", {"cpu": "1"}, {".spec.limits.cpu"}),
    ("target", {"name": "x"}, {".spec.target"}),
    ("extra", {"a": {"b": 1}}, {".spec.extra.a", ".spec.extra.a.b"}),
]


@pytest.mark.parametrize(("name", "value", "paths"), CRD_ROWS)
def test_crd_schema_markers(name: str, value: Any, paths: set[str]) -> None:
    schema = schema_for_crd(WIDGET_CRD, "v1")
    owned = fieldset_from_object({"spec": {name: value}}, schema)
    assert {render_path(p) for p in owned.paths()} == paths


def test_crd_schema_kind_subresources_and_no_strategic_merge() -> None:
    schema = schema_for_crd(WIDGET_CRD, "v1")
    assert (schema.group, schema.version, schema.kind) == ("example.com", "v1", "Widget")
    assert schema.api_version == "example.com/v1"
    assert schema.status_subresource
    assert schema.scale_subresource
    assert not schema.strategic_merge


def test_crd_metadata_is_always_object_meta() -> None:
    schema = schema_for_crd(WIDGET_CRD, "v1")
    owned = fieldset_from_object({"metadata": {"finalizers": ["f"]}}, schema)
    assert {render_path(p) for p in owned.paths()} == {'.metadata.finalizers[="f"]'}


def test_crd_without_the_version_is_an_error() -> None:
    with pytest.raises(UnknownKind, match="does not serve version 'v2'"):
        schema_for_crd(WIDGET_CRD, "v2")
