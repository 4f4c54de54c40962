"""Create, read, replace and delete through the real kubernetes_asyncio client."""

from __future__ import annotations

import json
from typing import Any

import pytest
from kubernetes_asyncio.client import ApiException

from tests.sim.conftest import Sim

pytestmark = pytest.mark.anyio


def deployment(name: str = "web", replicas: int = 2, image: str = "nginx:1.27") -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "c", "image": image}]},
            },
        },
    }


def status_of(error: ApiException) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(error.body)
    return body


async def test_create_sets_server_metadata(sim: Sim) -> None:
    created = await sim.apps.create_namespaced_deployment("default", deployment())
    meta = created.metadata
    assert meta.uid
    assert meta.creation_timestamp
    assert meta.generation == 1
    assert int(meta.resource_version) == sim.cluster.resource_version
    assert meta.managed_fields[0].manager
    assert meta.managed_fields[0].operation == "Update"
    assert created.spec.strategy.type == "RollingUpdate"  # server-side default
    stored = sim.cluster.get_object("apps", "deployments", "default", "web")
    assert stored is not None
    assert stored["metadata"]["uid"] == meta.uid


async def test_generation_moves_with_spec_only_and_rv_with_every_change(sim: Sim) -> None:
    created = await sim.apps.create_namespaced_deployment("default", deployment())
    body = created.to_dict()
    live = await sim.apps.read_namespaced_deployment("web", "default")
    live.metadata.labels["extra"] = "yes"
    relabeled = await sim.apps.replace_namespaced_deployment("web", "default", live)
    assert relabeled.metadata.generation == 1
    assert int(relabeled.metadata.resource_version) > int(created.metadata.resource_version)
    relabeled.spec.replicas = 5
    rescaled = await sim.apps.replace_namespaced_deployment("web", "default", relabeled)
    assert rescaled.metadata.generation == 2
    assert rescaled.metadata.uid == body["metadata"]["uid"]
    assert rescaled.metadata.creation_timestamp == created.metadata.creation_timestamp


async def test_no_op_replace_keeps_the_resource_version(sim: Sim) -> None:
    created = await sim.apps.create_namespaced_deployment("default", deployment())
    again = await sim.apps.replace_namespaced_deployment("web", "default", created)
    assert again.metadata.resource_version == created.metadata.resource_version


async def test_stale_resource_version_is_a_conflict(sim: Sim) -> None:
    created = await sim.apps.create_namespaced_deployment("default", deployment())
    fresh = await sim.apps.read_namespaced_deployment("web", "default")
    fresh.spec.replicas = 3
    await sim.apps.replace_namespaced_deployment("web", "default", fresh)
    created.spec.replicas = 4
    with pytest.raises(ApiException) as caught:
        await sim.apps.replace_namespaced_deployment("web", "default", created)
    status = status_of(caught.value)
    assert (caught.value.status, status["reason"]) == (409, "Conflict")
    assert "the object has been modified" in status["message"]
    stored = sim.cluster.get_object("apps", "deployments", "default", "web")
    assert stored is not None
    assert stored["spec"]["replicas"] == 3


async def test_status_is_ignored_on_the_main_resource_and_written_on_the_subresource(
    sim: Sim,
) -> None:
    body = deployment()
    body["status"] = {"replicas": 7}
    created = await sim.apps.create_namespaced_deployment("default", body)
    assert created.status is None or not created.status.replicas
    created.status = {"replicas": 2, "observedGeneration": 1}
    updated = await sim.apps.replace_namespaced_deployment_status("web", "default", created)
    assert updated.status.replicas == 2
    assert updated.metadata.generation == 1
    updated.spec.replicas = 9
    updated.status.replicas = 0
    again = await sim.apps.replace_namespaced_deployment_status("web", "default", updated)
    assert again.spec.replicas == 2  # a status write does not touch spec


async def test_get_of_a_missing_object_is_a_not_found_status(sim: Sim) -> None:
    with pytest.raises(ApiException) as caught:
        await sim.core.read_namespaced_config_map("nope", "default")
    status = status_of(caught.value)
    assert status["kind"] == "Status"
    assert (status["code"], status["reason"]) == (404, "NotFound")
    assert status["details"] == {"name": "nope", "kind": "configmaps"}


async def test_create_twice_is_already_exists(sim: Sim) -> None:
    await sim.core.create_namespaced_config_map("default", {"metadata": {"name": "a"}})
    with pytest.raises(ApiException) as caught:
        await sim.core.create_namespaced_config_map("default", {"metadata": {"name": "a"}})
    assert status_of(caught.value)["reason"] == "AlreadyExists"
    assert caught.value.status == 409


async def test_generate_name_gets_a_suffix(sim: Sim) -> None:
    created = await sim.core.create_namespaced_config_map(
        "default", {"metadata": {"generateName": "job-"}}
    )
    assert created.metadata.name.startswith("job-")
    assert len(created.metadata.name) == len("job-") + 5


async def test_cluster_scoped_objects_have_no_namespace(sim: Sim) -> None:
    role = {"metadata": {"name": "reader", "namespace": "ignored"}, "rules": []}
    rbac = __import__(
        "kubernetes_asyncio.client", fromlist=["RbacAuthorizationV1Api"]
    ).RbacAuthorizationV1Api(sim.api)
    created = await rbac.create_cluster_role(role)
    assert created.metadata.namespace is None
    assert (
        sim.cluster.get_object("rbac.authorization.k8s.io", "clusterroles", "", "reader")
        is not None
    )


async def test_delete_returns_success_and_removes(sim: Sim) -> None:
    await sim.apps.create_namespaced_deployment("default", deployment())
    status = await sim.apps.delete_namespaced_deployment("web", "default")
    assert status.status == "Success"
    assert sim.cluster.get_object("apps", "deployments", "default", "web") is None


async def test_finalizers_hold_deletion_until_removed(sim: Sim) -> None:
    body = {"metadata": {"name": "held", "finalizers": ["example.com/hold"]}}
    await sim.core.create_namespaced_config_map("default", body)
    await sim.core.delete_namespaced_config_map("held", "default")
    live = await sim.core.read_namespaced_config_map("held", "default")
    assert live.metadata.deletion_timestamp is not None
    live.metadata.finalizers = []
    await sim.core.replace_namespaced_config_map("held", "default", live)
    assert sim.cluster.get_object("", "configmaps", "default", "held") is None


async def test_delete_preconditions(sim: Sim) -> None:
    created = await sim.core.create_namespaced_config_map("default", {"metadata": {"name": "a"}})
    with pytest.raises(ApiException) as caught:
        await sim.core.delete_namespaced_config_map(
            "a", "default", body={"preconditions": {"uid": "not-the-uid"}}
        )
    assert caught.value.status == 409
    await sim.core.delete_namespaced_config_map(
        "a", "default", body={"preconditions": {"uid": created.metadata.uid}}
    )
    assert sim.cluster.get_object("", "configmaps", "default", "a") is None


async def test_dry_run_changes_nothing(sim: Sim) -> None:
    before = sim.cluster.resource_version
    created = await sim.apps.create_namespaced_deployment("default", deployment(), dry_run="All")
    assert created.metadata.uid
    assert sim.cluster.get_object("apps", "deployments", "default", "web") is None
    await sim.apps.create_namespaced_deployment("default", deployment())
    live = await sim.apps.read_namespaced_deployment("web", "default")
    live.spec.replicas = 8
    answered = await sim.apps.replace_namespaced_deployment("web", "default", live, dry_run="All")
    assert answered.spec.replicas == 8
    assert answered.metadata.generation == 2
    await sim.apps.delete_namespaced_deployment("web", "default", dry_run="All")
    stored = sim.cluster.get_object("apps", "deployments", "default", "web")
    assert stored is not None
    assert stored["spec"]["replicas"] == 2
    assert sim.cluster.resource_version == before + 1


async def test_scale_subresource(sim: Sim) -> None:
    await sim.apps.create_namespaced_deployment("default", deployment())
    scale = await sim.apps.read_namespaced_deployment_scale("web", "default")
    assert scale.spec.replicas == 2
    assert scale.status.selector == "app=web"
    scale.spec.replicas = 4
    await sim.apps.replace_namespaced_deployment_scale("web", "default", scale)
    stored = sim.cluster.get_object("apps", "deployments", "default", "web")
    assert stored is not None
    assert stored["spec"]["replicas"] == 4
    assert stored["metadata"]["generation"] == 2


async def test_delete_collection_deletes_what_the_selector_matches(sim: Sim) -> None:
    for name, team in [("a", "red"), ("b", "red"), ("c", "blue")]:
        await sim.core.create_namespaced_config_map(
            "default", {"metadata": {"name": name, "labels": {"team": team}}}
        )
    await sim.core.delete_collection_namespaced_config_map("default", label_selector="team=red")
    remaining = [o["metadata"]["name"] for o in sim.cluster.list_objects("", "configmaps")]
    assert remaining == ["c"]


async def test_statefulset_scale_subresource(sim: Sim) -> None:
    body = deployment("db")
    body["kind"] = "StatefulSet"
    body["spec"]["serviceName"] = "db"
    await sim.apps.create_namespaced_stateful_set("default", body)
    await sim.apps.patch_namespaced_stateful_set_scale("db", "default", {"spec": {"replicas": 5}})
    scale = await sim.apps.read_namespaced_stateful_set_scale("db", "default")
    assert scale.spec.replicas == 5
    assert scale.status.selector == "app=db"


async def test_put_of_a_missing_object_is_not_found(sim: Sim) -> None:
    with pytest.raises(ApiException) as caught:
        await sim.core.replace_namespaced_config_map(
            "ghost", "default", {"metadata": {"name": "ghost"}}
        )
    assert caught.value.status == 404


async def test_service_keeps_its_cluster_ip_and_node_ports_across_updates(sim: Sim) -> None:
    body = {
        "metadata": {"name": "web"},
        "spec": {"type": "NodePort", "selector": {"app": "web"}, "ports": [{"port": 80}]},
    }
    created = await sim.core.create_namespaced_service("default", body)
    assert created.spec.cluster_ip.startswith("10.")
    assert created.spec.ports[0].target_port == 80
    node_port = created.spec.ports[0].node_port
    assert 30000 <= node_port <= 32767
    body["spec"]["selector"] = {"app": "web2"}
    replaced = await sim.core.replace_namespaced_service("web", "default", body)
    assert replaced.spec.cluster_ip == created.spec.cluster_ip
    assert replaced.spec.ports[0].node_port == node_port
    assert replaced.metadata.generation == 2


async def test_pod_log_is_empty_and_needs_the_pod(sim: Sim) -> None:
    pod = {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
    await sim.core.create_namespaced_pod("default", pod)
    assert await sim.core.read_namespaced_pod_log("p", "default") == ""
    with pytest.raises(ApiException) as caught:
        await sim.core.read_namespaced_pod_log("ghost", "default")
    assert caught.value.status == 404
