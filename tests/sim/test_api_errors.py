"""Bad input and refusals answer as a kube-apiserver does, and change nothing."""

from __future__ import annotations

import json
import ssl
from typing import Any

import aiohttp
import pytest
from kubernetes_asyncio.client import ApiException

from tests.sim.conftest import Sim

pytestmark = pytest.mark.anyio


async def raw(
    sim: Sim,
    method: str,
    path: str,
    body: bytes | None = None,
    content_type: str = "application/json",
    token: str | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, Any]]:
    context = ssl.create_default_context(cafile=str(sim.cluster.ca_file))
    all_headers = {
        "Authorization": f"Bearer {token if token is not None else sim.cluster.token}",
        "Content-Type": content_type,
        **(headers or {}),
    }
    async with (
        aiohttp.ClientSession() as session,
        session.request(
            method, sim.cluster.url + path, data=body, headers=all_headers, ssl=context
        ) as response,
    ):
        text = await response.read()
        return response.status, json.loads(text) if text.strip() else {}


CM_PATH = "/api/v1/namespaces/default/configmaps"


def cm(name: str = "a", **extra: Any) -> bytes:
    return json.dumps(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, **extra}
    ).encode()


@pytest.mark.parametrize(
    ("body", "content_type", "code", "reason"),
    [
        (
            b'{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {',
            "application/json",
            400,
            "BadRequest",
        ),
        (b"metadata: [unclosed", "application/yaml", 400, "BadRequest"),
        (b"[1, 2]", "application/json", 400, "BadRequest"),
        (cm(), "application/vnd.kubernetes.protobuf", 415, "UnsupportedMediaType"),
        (cm(), "text/plain", 415, "UnsupportedMediaType"),
        (
            json.dumps({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "a"}}).encode(),
            "application/json",
            400,
            "BadRequest",
        ),
        (
            json.dumps(
                {"apiVersion": "apps/v1", "kind": "ConfigMap", "metadata": {"name": "a"}}
            ).encode(),
            "application/json",
            400,
            "BadRequest",
        ),
        (
            json.dumps(
                {"kind": "ConfigMap", "metadata": {"name": "a", "namespace": "other"}}
            ).encode(),
            "application/json",
            400,
            "BadRequest",
        ),
        (cm("Not_A_Name"), "application/json", 422, "Invalid"),
        (cm("a" * 254), "application/json", 422, "Invalid"),
        (
            json.dumps({"kind": "ConfigMap", "metadata": {}}).encode(),
            "application/json",
            422,
            "Invalid",
        ),
        (
            json.dumps(
                {"kind": "ConfigMap", "metadata": {"name": "a", "labels": {"bad key!": "x"}}}
            ).encode(),
            "application/json",
            422,
            "Invalid",
        ),
        (cm("a", data={"bad/key": "x"}), "application/json", 422, "Invalid"),
    ],
)
async def test_bad_bodies_are_refused_and_nothing_is_stored(
    sim: Sim, body: bytes, content_type: str, code: int, reason: str
) -> None:
    before = sim.cluster.resource_version
    status, answer = await raw(sim, "POST", CM_PATH, body, content_type)
    assert (status, answer["kind"], answer["code"], answer["reason"]) == (
        code,
        "Status",
        code,
        reason,
    )
    assert sim.cluster.resource_version == before
    assert sim.cluster.list_objects("", "configmaps") == []


async def test_yaml_bodies_are_accepted(sim: Sim) -> None:
    body = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-yaml\ndata:\n  a: b\n"
    status, answer = await raw(sim, "POST", CM_PATH, body, "application/yaml")
    assert status == 201
    assert answer["data"] == {"a": "b"}


async def test_invalid_deployment_names_its_fields(sim: Sim) -> None:
    body = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "other"}},
                "spec": {"containers": [{"name": "c"}]},
            },
        },
    }
    status, answer = await raw(
        sim, "POST", "/apis/apps/v1/namespaces/default/deployments", json.dumps(body).encode()
    )
    assert status == 422
    fields = {c["field"] for c in answer["details"]["causes"]}
    assert fields == {"spec.template.metadata.labels", "spec.template.spec.containers[0].image"}
    assert answer["details"]["kind"] == "Deployment"
    assert answer["details"]["name"] == "web"


async def test_oversized_body_is_413(sim: Sim) -> None:
    big = cm("big", data={"k": "x" * (3 * 1024 * 1024 + 10)})
    status, answer = await raw(sim, "POST", CM_PATH, big)
    assert (status, answer["reason"]) == (413, "RequestEntityTooLarge")
    assert sim.cluster.list_objects("", "configmaps") == []


async def test_missing_namespace_is_not_found(sim: Sim) -> None:
    with pytest.raises(ApiException) as caught:
        await sim.core.create_namespaced_config_map("nowhere", {"metadata": {"name": "a"}})
    answer = json.loads(caught.value.body)
    assert (caught.value.status, answer["reason"]) == (404, "NotFound")
    assert answer["message"] == 'namespaces "nowhere" not found'


@pytest.mark.parametrize(
    "path",
    [
        "/apis/example.com/v1/widgets",
        "/apis/apps/v9/deployments",
        "/api/v1/namespaces/default/nothings",
        "/nope",
    ],
)
async def test_unknown_resources_are_404(sim: Sim, path: str) -> None:
    status, answer = await raw(sim, "GET", path)
    assert (status, answer["reason"]) == (404, "NotFound")


async def test_wrong_or_missing_token_is_401(sim: Sim) -> None:
    for token in ("", "wrong"):
        status, answer = await raw(sim, "GET", "/api/v1/namespaces", token=token)
        assert (status, answer["reason"], answer["code"]) == (401, "Unauthorized", 401)


async def test_read_only_token_is_forbidden_to_write(sim: Sim) -> None:
    token = sim.cluster.viewer_token
    status, _ = await raw(sim, "GET", "/api/v1/namespaces", token=token)
    assert status == 200
    status, answer = await raw(sim, "POST", CM_PATH, cm(), token=token)
    assert (status, answer["reason"]) == (403, "Forbidden")
    assert 'cannot create resource "configmaps"' in answer["message"]
    assert sim.cluster.list_objects("", "configmaps") == []


async def test_name_in_body_must_match_url_on_replace(sim: Sim) -> None:
    await raw(sim, "POST", CM_PATH, cm("a"))
    status, answer = await raw(sim, "PUT", CM_PATH + "/a", cm("b"))
    assert (status, answer["reason"]) == (400, "BadRequest")


async def test_immutable_selector_is_invalid_on_update(sim: Sim) -> None:
    body = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web", "v": "2"}},
                "spec": {"containers": [{"name": "c", "image": "i"}]},
            },
        },
    }
    path = "/apis/apps/v1/namespaces/default/deployments"
    assert (await raw(sim, "POST", path, json.dumps(body).encode()))[0] == 201
    body["spec"]["selector"] = {"matchLabels": {"app": "web", "v": "2"}}
    status, answer = await raw(sim, "PUT", path + "/web", json.dumps(body).encode())
    assert status == 422
    assert "immutable" in answer["message"]


async def test_bad_query_parameters_are_400(sim: Sim) -> None:
    for query in (
        "?labelSelector=a+in+(b",
        "?fieldSelector=spec.x%3Dy",
        "?limit=abc",
        "?watch=maybe",
    ):
        status, answer = await raw(sim, "GET", CM_PATH + query)
        assert (status, answer["reason"]) == (400, "BadRequest"), query
    status, answer = await raw(sim, "POST", CM_PATH + "?dryRun=Some", cm())
    assert status == 400
