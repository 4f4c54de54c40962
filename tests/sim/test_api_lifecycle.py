"""Garbage collection, propagation policies, namespaces and CRDs."""

from __future__ import annotations

import json
from typing import Any

import anyio
import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client import ApiException

from tests.sim.conftest import Sim

pytestmark = pytest.mark.anyio


async def eventually(check: Any, within: float = 5.0) -> None:
    with anyio.fail_after(within):
        while True:
            if check():
                return
            await anyio.sleep(0.02)


async def owner_and_children(sim: Sim, block: bool = False) -> str:
    owner = await sim.core.create_namespaced_config_map("default", {"metadata": {"name": "owner"}})
    ref = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "name": "owner",
        "uid": owner.metadata.uid,
        "blockOwnerDeletion": block,
    }
    for name in ("child-1", "child-2"):
        await sim.core.create_namespaced_config_map(
            "default", {"metadata": {"name": name, "ownerReferences": [ref]}}
        )
    return str(owner.metadata.uid)


def names(sim: Sim) -> list[str]:
    return [o["metadata"]["name"] for o in sim.cluster.list_objects("", "configmaps", "default")]


async def test_background_deletion_collects_dependents(sim: Sim) -> None:
    await owner_and_children(sim)
    await sim.core.delete_namespaced_config_map("owner", "default", propagation_policy="Background")
    assert "owner" not in names(sim)
    await eventually(lambda: names(sim) == [])


async def test_foreground_deletion_removes_dependents_first(sim: Sim) -> None:
    await owner_and_children(sim, block=True)
    sim.cluster.state.set_collector(
        lambda: None
    )  # hold the collector to see the intermediate state
    answer = await sim.core.delete_namespaced_config_map(
        "owner", "default", propagation_policy="Foreground"
    )
    owner = sim.cluster.get_object("", "configmaps", "default", "owner")
    assert owner is not None
    assert "foregroundDeletion" in owner["metadata"]["finalizers"]
    assert owner["metadata"]["deletionTimestamp"]
    assert answer is not None
    from fleet.sim import collector

    collector.install(sim.cluster.state)
    sim.cluster.state.request_collection()
    await eventually(lambda: names(sim) == [])


async def test_orphan_deletion_keeps_dependents_and_drops_references(sim: Sim) -> None:
    await owner_and_children(sim)
    await sim.core.delete_namespaced_config_map("owner", "default", propagation_policy="Orphan")
    await eventually(lambda: names(sim) == ["child-1", "child-2"])
    for child in sim.cluster.list_objects("", "configmaps", "default"):
        assert "ownerReferences" not in child["metadata"]


async def test_an_object_whose_owner_never_existed_is_collected(sim: Sim) -> None:
    ref = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "name": "ghost",
        "uid": "00000000-0000-0000-0000-000000000000",
    }
    await sim.core.create_namespaced_config_map(
        "default", {"metadata": {"name": "orphan", "ownerReferences": [ref]}}
    )
    await eventually(lambda: names(sim) == [])


async def test_deleting_a_namespace_terminates_it_and_deletes_its_content(sim: Sim) -> None:
    await sim.core.create_namespace({"metadata": {"name": "team"}})
    await sim.core.create_namespaced_config_map(
        "team", {"metadata": {"name": "a", "finalizers": ["x/y"]}}
    )
    await sim.core.delete_namespace("team")
    namespace = await sim.core.read_namespace("team")
    assert namespace.status.phase == "Terminating"
    with pytest.raises(ApiException) as caught:
        await sim.core.create_namespaced_config_map("team", {"metadata": {"name": "late"}})
    assert caught.value.status == 403
    assert "being terminated" in json.loads(caught.value.body)["message"]
    held = await sim.core.read_namespaced_config_map("a", "team")
    held.metadata.finalizers = None
    await sim.core.replace_namespaced_config_map("a", "team", held)
    await eventually(lambda: sim.cluster.get_object("", "namespaces", "", "team") is None)
    assert sim.cluster.list_objects("", "configmaps", "team") == []


CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.example.com"},
    "spec": {
        "group": "example.com",
        "scope": "Namespaced",
        "names": {
            "plural": "widgets",
            "singular": "widget",
            "kind": "Widget",
            "shortNames": ["wd"],
        },
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "x-kubernetes-preserve-unknown-fields": True,
                    }
                },
                "subresources": {"status": {}},
            }
        ],
    },
}


async def test_crd_lifecycle_through_the_dynamic_client(sim: Sim) -> None:
    ext = client.ApiextensionsV1Api(sim.api)
    created = await ext.create_custom_resource_definition(CRD)
    conditions = {c.type: c.status for c in created.status.conditions}
    assert conditions == {"NamesAccepted": "True", "Established": "True"}
    dyn = await sim.dynamic()
    widgets = await dyn.resources.get(api_version="example.com/v1", kind="Widget")
    assert widgets.namespaced
    assert widgets.kind == "Widget"
    widget = {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "w1"},
        "spec": {"size": 3},
    }
    made = await dyn.create(widgets, body=widget, namespace="default")
    assert made.metadata.generation == 1
    got = await dyn.get(widgets, name="w1", namespace="default")
    assert got.spec.size == 3

    await ext.delete_custom_resource_definition("widgets.example.com")
    await eventually(
        lambda: (
            sim.cluster.get_object(
                "apiextensions.k8s.io", "customresourcedefinitions", "", "widgets.example.com"
            )
            is None
        )
    )
    assert sim.cluster.list_objects("example.com", "widgets") == []
    custom = client.CustomObjectsApi(sim.api)
    with pytest.raises(ApiException) as caught:
        await custom.list_namespaced_custom_object("example.com", "v1", "default", "widgets")
    assert caught.value.status == 404


async def test_invalid_crd_is_refused(sim: Sim) -> None:
    bad = json.loads(json.dumps(CRD))
    bad["metadata"]["name"] = "wrong.example.com"
    ext = client.ApiextensionsV1Api(sim.api)
    with pytest.raises(ApiException) as caught:
        await ext.create_custom_resource_definition(bad)
    assert caught.value.status == 422
    assert sim.cluster.state.registry.kind("example.com", "Widget") is None


async def test_crd_objects_are_served_under_the_new_kind_in_discovery(sim: Sim) -> None:
    await client.ApiextensionsV1Api(sim.api).create_custom_resource_definition(CRD)
    groups = await client.ApisApi(sim.api).get_api_versions()
    assert "example.com" in [g.name for g in groups.groups]
    response = await sim.api.call_api(
        "/apis/example.com/v1", "GET", auth_settings=["BearerToken"], _preload_content=False
    )
    listed = {r["name"] for r in json.loads(await response.read())["resources"]}
    assert listed == {"widgets", "widgets/status"}


STRUCTURAL = json.loads(json.dumps(CRD))
STRUCTURAL["spec"]["versions"][0]["schema"]["openAPIV3Schema"] = {
    "type": "object",
    "properties": {
        "spec": {"type": "object", "properties": {"size": {"type": "integer"}}},
        "status": {"type": "object", "properties": {"ready": {"type": "boolean"}}},
    },
}


async def test_custom_resources_lose_undeclared_fields_or_are_refused_when_strict(sim: Sim) -> None:
    await client.ApiextensionsV1Api(sim.api).create_custom_resource_definition(STRUCTURAL)
    custom = client.CustomObjectsApi(sim.api)
    body = {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "w"},
        "spec": {"size": 2, "color": "red"},
    }
    with pytest.raises(ApiException) as caught:
        await custom.create_namespaced_custom_object(
            "example.com", "v1", "default", "widgets", body, field_validation="Strict"
        )
    assert caught.value.status == 400
    assert 'unknown field "spec.color"' in json.loads(caught.value.body)["message"]
    assert sim.cluster.list_objects("example.com", "widgets") == []
    created, _, headers = await custom.create_namespaced_custom_object_with_http_info(
        "example.com", "v1", "default", "widgets", body
    )
    assert created["spec"] == {"size": 2}
    assert headers.getall("Warning") == ['299 - "unknown field \\"spec.color\\""']


async def test_generation_of_custom_resources_follows_the_status_subresource(sim: Sim) -> None:
    plain = json.loads(json.dumps(CRD))
    del plain["spec"]["versions"][0]["subresources"]
    plain["metadata"]["name"] = "gizmos.example.com"
    plain["spec"]["names"] = {"plural": "gizmos", "kind": "Gizmo"}
    ext = client.ApiextensionsV1Api(sim.api)
    await ext.create_custom_resource_definition(CRD)
    await ext.create_custom_resource_definition(plain)
    custom = client.CustomObjectsApi(sim.api)
    for plural, kind, expected in [("widgets", "Widget", 1), ("gizmos", "Gizmo", 2)]:
        body = {
            "apiVersion": "example.com/v1",
            "kind": kind,
            "metadata": {"name": "x"},
            "spec": {"a": 1},
        }
        await custom.create_namespaced_custom_object("example.com", "v1", "default", plural, body)
        patched = await custom.patch_namespaced_custom_object(
            "example.com",
            "v1",
            "default",
            plural,
            "x",
            {"status": {"ready": True}},
            _content_type="application/merge-patch+json",
        )
        assert patched["metadata"]["generation"] == expected, kind
        assert ("status" in patched) is (expected == 2), kind
