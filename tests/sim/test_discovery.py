"""Discovery and OpenAPI documents, as kubectl and the DynamicClient read them."""

from __future__ import annotations

import json
from typing import Any

import pytest
from kubernetes_asyncio import client

from tests.sim.conftest import Sim

pytestmark = pytest.mark.anyio


async def get_json(
    sim: Sim, path: str, accept: str = "application/json"
) -> tuple[dict[str, Any], str]:
    response = await sim.api.call_api(
        path,
        "GET",
        header_params={"Accept": accept},
        auth_settings=["BearerToken"],
        _preload_content=False,
    )
    return json.loads(await response.read()), response.headers["Content-Type"]


async def test_version_and_legacy_discovery(sim: Sim) -> None:
    version = await client.VersionApi(sim.api).get_code()
    assert (version.major, version.minor) == ("1", "32")
    groups = await client.ApisApi(sim.api).get_api_versions()
    names = [g.name for g in groups.groups]
    for group in (
        "apps",
        "batch",
        "rbac.authorization.k8s.io",
        "networking.k8s.io",
        "policy",
        "autoscaling",
        "coordination.k8s.io",
        "apiextensions.k8s.io",
        "storage.k8s.io",
    ):
        assert group in names
    autoscaling = next(g for g in groups.groups if g.name == "autoscaling")
    assert autoscaling.preferred_version.version == "v2"
    assert [v.version for v in autoscaling.versions] == ["v2", "v1"]


async def test_resource_list_has_verbs_short_names_and_subresources(sim: Sim) -> None:
    doc, _ = await get_json(sim, "/apis/apps/v1")
    by_name = {r["name"]: r for r in doc["resources"]}
    assert by_name["deployments"]["shortNames"] == ["deploy"]
    assert "watch" in by_name["deployments"]["verbs"]
    assert by_name["deployments"]["namespaced"]
    assert by_name["deployments/scale"]["kind"] == "Scale"
    assert by_name["deployments/scale"]["group"] == "autoscaling"
    assert by_name["deployments/status"]["verbs"] == ["get", "patch", "update"]
    core, _ = await get_json(sim, "/api/v1")
    namespaces = next(r for r in core["resources"] if r["name"] == "namespaces")
    assert namespaces["namespaced"] is False
    assert "deletecollection" not in namespaces["verbs"]


async def test_aggregated_discovery_when_asked(sim: Sim) -> None:
    accept = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"
    doc, content_type = await get_json(sim, "/apis", accept)
    assert content_type.startswith("application/json;g=apidiscovery.k8s.io;v=v2")
    assert doc["kind"] == "APIGroupDiscoveryList"
    apps = next(i for i in doc["items"] if i["metadata"].get("name") == "apps")
    deployments = next(
        r for r in apps["versions"][0]["resources"] if r["resource"] == "deployments"
    )
    assert deployments["scope"] == "Namespaced"
    assert {s["subresource"] for s in deployments["subresources"]} == {"scale", "status"}
    core, _ = await get_json(sim, "/api", accept)
    assert core["items"][0]["versions"][0]["version"] == "v1"


async def test_openapi_v3_tells_kubectl_that_fields_are_validated_on_the_server(sim: Sim) -> None:
    root, _ = await get_json(sim, "/openapi/v3")
    url = root["paths"]["apis/apps/v1"]["serverRelativeURL"]
    doc, _ = await get_json(sim, url)
    patch = doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"]
    assert patch["x-kubernetes-group-version-kind"] == {
        "group": "apps",
        "version": "v1",
        "kind": "Deployment",
    }
    assert "fieldValidation" in [p["name"] for p in patch["parameters"]]
    v2, _ = await get_json(sim, "/openapi/v2")
    assert v2["swagger"] == "2.0"


async def test_dynamic_client_discovers_and_serves_builtin_kinds(sim: Sim) -> None:
    dyn = await sim.dynamic()
    for api_version, kind in [
        ("v1", "ConfigMap"),
        ("apps/v1", "Deployment"),
        ("batch/v1", "Job"),
        ("rbac.authorization.k8s.io/v1", "ClusterRole"),
        ("autoscaling/v2", "HorizontalPodAutoscaler"),
        ("policy/v1", "PodDisruptionBudget"),
        ("coordination.k8s.io/v1", "Lease"),
        ("networking.k8s.io/v1", "Ingress"),
        ("storage.k8s.io/v1", "StorageClass"),
    ]:
        resource = await dyn.resources.get(api_version=api_version, kind=kind)
        listed = await dyn.get(resource)
        assert listed.kind == f"{kind}List"


async def test_an_object_written_in_one_version_is_read_in_another(sim: Sim) -> None:
    dyn = await sim.dynamic()
    v2 = await dyn.resources.get(api_version="autoscaling/v2", kind="HorizontalPodAutoscaler")
    v1 = await dyn.resources.get(api_version="autoscaling/v1", kind="HorizontalPodAutoscaler")
    body = {
        "apiVersion": "autoscaling/v1",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "h"},
        "spec": {
            "scaleTargetRef": {"kind": "Deployment", "name": "web", "apiVersion": "apps/v1"},
            "minReplicas": 1,
            "maxReplicas": 3,
        },
    }
    await dyn.create(v1, body=body, namespace="default")
    read = await dyn.get(v2, name="h", namespace="default")
    assert read.apiVersion == "autoscaling/v2"
    listed = await dyn.get(v1, namespace="default")
    assert [i.apiVersion for i in listed.items] == ["autoscaling/v1"]
