"""Server-side apply and the other patch types over HTTP, with the real client."""

from __future__ import annotations

import json
from typing import Any

import pytest
from kubernetes_asyncio.client import ApiException

from tests.sim.conftest import Sim

pytestmark = pytest.mark.anyio
APPLY = "application/apply-patch+yaml"


def config(
    replicas: int | None = 2,
    image: str = "nginx:1.27",
    env: list[dict[str, str]] | None = None,
    labels: dict[str, str] | None = None,
) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "web", "image": image}
    if env is not None:
        container["env"] = env
    spec: dict[str, Any] = {
        "selector": {"matchLabels": {"app": "web"}},
        "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [container]}},
    }
    if replicas is not None:
        spec["replicas"] = replicas
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "labels": labels or {"app": "web"}},
        "spec": spec,
    }


async def apply(
    sim: Sim, body: dict[str, Any], manager: str, force: bool = False, dry_run: str | None = None
) -> Any:
    kwargs: dict[str, Any] = {"field_manager": manager, "force": force, "_content_type": APPLY}
    if dry_run:
        kwargs["dry_run"] = dry_run
    return await sim.apps.patch_namespaced_deployment("web", "default", body, **kwargs)


def managers(obj: Any) -> dict[tuple[str, str], Any]:
    return {(m.manager, m.operation): m.fields_v1 for m in obj.metadata.managed_fields}


async def test_apply_creates_then_updates_and_records_ownership(sim: Sim) -> None:
    created = await apply(sim, config(), "fleet")
    assert created.metadata.generation == 1
    owned = managers(created)[("fleet", "Apply")]
    assert "f:replicas" in owned["f:spec"]
    again = await apply(sim, config(), "fleet")
    assert (
        again.metadata.resource_version == created.metadata.resource_version
    )  # no change, no write
    changed = await apply(sim, config(replicas=3), "fleet")
    assert changed.spec.replicas == 3
    assert changed.metadata.generation == 2


async def test_a_field_the_manager_stops_applying_is_removed(sim: Sim) -> None:
    await apply(sim, config(labels={"app": "web", "team": "a"}), "fleet")
    after = await apply(sim, config(labels={"app": "web"}), "fleet")
    assert after.metadata.labels == {"app": "web"}


async def test_a_field_shared_with_another_manager_stays(sim: Sim) -> None:
    await apply(sim, config(labels={"app": "web", "team": "a"}), "fleet")
    await apply(
        sim,
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "labels": {"team": "a"}},
        },
        "other",
    )
    after = await apply(sim, config(labels={"app": "web"}), "fleet")
    assert after.metadata.labels == {"app": "web", "team": "a"}


async def test_conflict_names_manager_and_field_unless_forced(sim: Sim) -> None:
    await apply(sim, config(replicas=2), "fleet")
    live = await sim.apps.read_namespaced_deployment("web", "default")
    live.spec.replicas = 5
    await sim.apps.replace_namespaced_deployment("web", "default", live, field_manager="hpa")
    with pytest.raises(ApiException) as caught:
        await apply(sim, config(replicas=2), "fleet")
    status = json.loads(caught.value.body)
    assert (caught.value.status, status["reason"]) == (409, "Conflict")
    assert '"hpa"' in status["message"]
    assert ".spec.replicas" in status["message"]
    assert status["details"]["causes"][0]["field"] == ".spec.replicas"
    stored = sim.cluster.get_object("apps", "deployments", "default", "web")
    assert stored is not None
    assert stored["spec"]["replicas"] == 5
    forced = await apply(sim, config(replicas=2), "fleet", force=True)
    assert forced.spec.replicas == 2
    assert "f:replicas" not in json.dumps(managers(forced).get(("hpa", "Update")) or {})


async def test_apply_dry_run_answers_without_storing(sim: Sim) -> None:
    answered = await apply(sim, config(), "fleet", dry_run="All")
    assert answered.metadata.name == "web"
    assert sim.cluster.get_object("apps", "deployments", "default", "web") is None
    await apply(sim, config(replicas=2), "fleet")
    preview = await apply(sim, config(replicas=4), "fleet", dry_run="All")
    assert preview.spec.replicas == 4
    stored = sim.cluster.get_object("apps", "deployments", "default", "web")
    assert stored is not None
    assert stored["spec"]["replicas"] == 2


async def test_apply_needs_a_field_manager(sim: Sim) -> None:
    with pytest.raises(ApiException) as caught:
        await sim.apps.patch_namespaced_deployment("web", "default", config(), _content_type=APPLY)
    assert caught.value.status in (400, 422)


async def test_strategic_merge_merges_containers_and_env_by_name(sim: Sim) -> None:
    await apply(
        sim, config(env=[{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]), "fleet"
    )
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "web",
                            "env": [{"name": "B", "value": "20"}, {"name": "C", "value": "3"}],
                        },
                        {"name": "sidecar", "image": "busybox"},
                    ]
                }
            }
        }
    }
    patched = await sim.apps.patch_namespaced_deployment("web", "default", patch)
    containers = {c.name: c for c in patched.spec.template.spec.containers}
    assert set(containers) == {"web", "sidecar"}
    assert containers["web"].image == "nginx:1.27"
    assert [(e.name, e.value) for e in containers["web"].env] == [
        ("A", "1"),
        ("B", "20"),
        ("C", "3"),
    ]


async def test_merge_patch_replaces_lists_and_json_patch_edits_paths(sim: Sim) -> None:
    await apply(sim, config(env=[{"name": "A", "value": "1"}]), "fleet")
    merged = await sim.apps.patch_namespaced_deployment(
        "web",
        "default",
        {"metadata": {"labels": {"extra": "x"}}},
        _content_type="application/merge-patch+json",
    )
    assert merged.metadata.labels["extra"] == "x"
    patched = await sim.apps.patch_namespaced_deployment(
        "web",
        "default",
        [{"op": "replace", "path": "/spec/replicas", "value": 6}],
        _content_type="application/json-patch+json",
    )
    assert patched.spec.replicas == 6
    with pytest.raises(ApiException) as caught:
        await sim.apps.patch_namespaced_deployment(
            "web",
            "default",
            [{"op": "test", "path": "/spec/replicas", "value": 1}],
            _content_type="application/json-patch+json",
        )
    assert caught.value.status == 422


async def test_patch_of_a_missing_object_is_404_and_strategic_on_custom_is_415(sim: Sim) -> None:
    with pytest.raises(ApiException) as caught:
        await sim.apps.patch_namespaced_deployment("ghost", "default", {"spec": {"replicas": 1}})
    assert caught.value.status == 404


async def test_status_apply_owns_status_only(sim: Sim) -> None:
    await apply(sim, config(), "fleet")
    status = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "status": {"observedGeneration": 1, "replicas": 2},
    }
    result = await sim.apps.patch_namespaced_deployment_status(
        "web", "default", status, field_manager="controller", _content_type=APPLY
    )
    assert result.status.replicas == 2
    entries = {(m.manager, m.subresource) for m in result.metadata.managed_fields}
    assert ("controller", "status") in entries
    assert ("fleet", None) in entries


async def test_scale_by_patch_records_the_scale_subresource(sim: Sim) -> None:
    await apply(sim, config(), "fleet")
    await sim.apps.patch_namespaced_deployment_scale(
        "web", "default", {"spec": {"replicas": 4}}, field_manager="scaler"
    )
    stored = sim.cluster.get_object("apps", "deployments", "default", "web")
    assert stored is not None
    assert stored["spec"]["replicas"] == 4
    scaler = [m for m in stored["metadata"]["managedFields"] if m["manager"] == "scaler"]
    assert scaler == [
        {
            **scaler[0],
            "operation": "Update",
            "subresource": "scale",
            "fieldsV1": {"f:spec": {"f:replicas": {}}},
        }
    ]


async def test_dynamic_client_server_side_apply_and_merge_patch(sim: Sim) -> None:
    dyn = await sim.dynamic()
    deployments = await dyn.resources.get(api_version="apps/v1", kind="Deployment")
    created = await dyn.server_side_apply(
        deployments, body=config(), namespace="default", field_manager="fleet"
    )
    assert created.metadata.managedFields[0].manager == "fleet"
    await dyn.patch(
        deployments,
        body={"spec": {"replicas": 7}},
        name="web",
        namespace="default",
        content_type="application/merge-patch+json",
        field_manager="scaler",
    )
    # kubernetes_asyncio's DynamicClient returns an error Status instead of raising it.
    refused = await dyn.server_side_apply(
        deployments, body=config(replicas=2), namespace="default", field_manager="fleet"
    )
    assert (refused.kind, refused.code, refused.reason) == ("Status", 409, "Conflict")
    assert refused.details.causes[0].field == ".spec.replicas"
    forced = await dyn.server_side_apply(
        deployments,
        body=config(replicas=2),
        namespace="default",
        field_manager="fleet",
        force_conflicts=True,
    )
    assert forced.spec.replicas == 2
