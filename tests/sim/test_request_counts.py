"""Request counters: verbs as the API server names them, per client, served by the admin."""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import make_mocked_request
from kubernetes_asyncio import client

from fleet.sim.counters import client_of, verb_of
from fleet.sim.fleet import CONTROLLERS_USER_AGENT, SimFleet


@pytest.mark.parametrize(
    ("method", "url", "content_type", "verb"),
    [
        ("GET", "/api/v1/namespaces/a/configmaps/x", "", "get"),
        ("GET", "/api/v1/namespaces/a/configmaps", "", "list"),
        ("GET", "/apis/apps/v1/deployments?watch=true&labelSelector=a", "", "watch"),
        ("GET", "/api/v1/watch/namespaces/a/pods", "", "watch"),
        ("POST", "/api/v1/namespaces/a/configmaps", "application/json", "create"),
        ("PUT", "/apis/apps/v1/namespaces/a/deployments/x/status", "application/json", "update"),
        ("PATCH", "/api/v1/namespaces/a/configmaps/x", "application/merge-patch+json", "patch"),
        (
            "PATCH",
            "/api/v1/namespaces/a/configmaps/x?fieldManager=fleet&dryRun=All",
            "application/apply-patch+yaml",
            "apply:dry-run",
        ),
        ("PATCH", "/api/v1/namespaces/a/configmaps/x", "application/apply-patch+yaml", "apply"),
        ("DELETE", "/api/v1/namespaces/a/configmaps/x", "", "delete"),
        ("DELETE", "/api/v1/namespaces/a/configmaps", "", "deletecollection"),
        ("GET", "/apis", "", "discovery"),
        ("GET", "/apis/apps/v1", "", "discovery"),
        ("GET", "/openapi/v3", "", "discovery"),
        ("GET", "/healthz", "", "other"),
    ],
)
def test_verbs(method: str, url: str, content_type: str, verb: str) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    assert verb_of(make_mocked_request(method, url, headers=headers)) == verb


def test_client_is_the_user_agent_product() -> None:
    agent = "kubectl/v1.32.4 (linux/amd64) kubernetes/abc"
    assert client_of(make_mocked_request("GET", "/api", headers={"User-Agent": agent})) == (
        "kubectl"
    )
    assert client_of(make_mocked_request("GET", "/api")) == "unknown"


@pytest.mark.anyio
async def test_admin_serves_counts_per_client(tmp_path: Path) -> None:
    async with SimFleet.start(tmp_path / "sim", count=2, ready_delay=0.1) as fleet:
        api = await fleet.api_client("sim-1")
        api.user_agent = "bench-client/1"
        async with api:
            core = client.CoreV1Api(api)
            body = client.V1ConfigMap(metadata=client.V1ObjectMeta(name="x"), data={"a": "1"})
            await core.create_namespaced_config_map("default", body)
            await core.read_namespaced_config_map("x", "default")
            await core.read_namespaced_config_map("x", "default")
            await core.patch_namespaced_config_map(
                "x", "default", {"data": {"a": "2"}}, dry_run="All"
            )
            await core.list_namespaced_config_map("default")
            await core.delete_namespaced_config_map("x", "default")
        admin = json.loads((tmp_path / "sim" / "admin.json").read_text())
        headers = {"Authorization": f"Bearer {admin['token']}"}
        async with aiohttp.ClientSession(headers=headers) as session:
            async with session.get(f"{admin['url']}/clusters/sim-1/requests") as response:
                one = await response.json()
            async with session.get(f"{admin['url']}/requests") as response:
                every = await response.json()
            async with session.get(f"{admin['url']}/clusters/nope/requests") as response:
                assert response.status == 404
    assert one["bench-client"] == {
        "create": 1,
        "get": 2,
        "patch:dry-run": 1,
        "list": 1,
        "delete": 1,
    }
    controllers = CONTROLLERS_USER_AGENT.split("/")[0]
    assert one[controllers].get("list", 0) > 0
    assert set(every) == {"sim-1", "sim-2"}
    assert "bench-client" not in every["sim-2"]
    assert every["sim-2"][controllers].get("list", 0) > 0
