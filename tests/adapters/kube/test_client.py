"""fleet's Kubernetes client against a simulated API server, through kubernetes_asyncio."""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from anyio.abc import SocketAttribute, SocketStream

from fleet.adapters.kube.client import ClusterClient, Limits, _verb
from fleet.adapters.kube.connection import ClusterEndpoint
from fleet.adapters.kube.errors import KindNotServed, KubeError, from_response
from fleet.adapters.kube.ratelimit import TokenBucket
from fleet.model.refs import ObjectRef
from fleet.sim import SimFleet

pytestmark = pytest.mark.anyio

CONFIGMAP: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "ConfigMap",
    "metadata": {"name": "settings", "namespace": "default", "labels": {"fleet.dev/app": "a"}},
    "data": {"mode": "fast"},
}
REF = ObjectRef("", "ConfigMap", "default", "settings")


@pytest.fixture
async def sim(tmp_path: Path) -> AsyncIterator[SimFleet]:
    async with SimFleet.start(tmp_path / "sim", names=["one"], controllers=False) as fleet:
        yield fleet


@pytest.fixture
async def client(sim: SimFleet, tmp_path: Path) -> AsyncIterator[ClusterClient]:
    calls: list[tuple[str, int]] = []
    endpoint = ClusterEndpoint("one", kubeconfig=sim.kubeconfig_path, context="one")
    client = await ClusterClient.connect(
        endpoint,
        observer=lambda cluster, verb, status, seconds: calls.append((verb, status)),
    )
    client.calls = calls  # type: ignore[attr-defined]
    async with client:
        yield client


async def test_apply_creates_then_dry_run_changes_nothing(client: ClusterClient) -> None:
    created = await client.apply(CONFIGMAP)
    assert created["metadata"]["managedFields"][0]["manager"] == "fleet"
    changed = {**CONFIGMAP, "data": {"mode": "slow"}}
    preview = await client.apply(changed, dry_run=True)
    assert preview["data"] == {"mode": "slow"}
    live = await client.get("v1", REF)
    assert live is not None
    assert live["data"] == {"mode": "fast"}, "a dry run persists nothing"
    assert live["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]


async def test_get_of_a_missing_object_is_none_and_delete_reports_it(client: ClusterClient) -> None:
    assert await client.get("v1", REF) is None
    assert await client.delete("v1", REF) is False
    await client.apply(CONFIGMAP)
    assert await client.delete("v1", REF) is True
    assert await client.get("v1", REF) is None


async def test_delete_with_a_stale_uid_is_refused(client: ClusterClient) -> None:
    await client.apply(CONFIGMAP)
    with pytest.raises(KubeError) as caught:
        await client.delete("v1", REF, uid="not-the-uid")
    assert caught.value.status == 409
    assert await client.get("v1", REF) is not None


async def test_list_pages_through_everything(client: ClusterClient) -> None:
    for index in range(7):
        body = {**CONFIGMAP, "metadata": {**CONFIGMAP["metadata"], "name": f"cm-{index}"}}
        await client.apply(body)
    items, version = await client.list_objects(
        "v1", "ConfigMap", namespace="default", label_selector="fleet.dev/app", page_size=3
    )
    assert sorted(i["metadata"]["name"] for i in items) == [f"cm-{i}" for i in range(7)]
    assert all(i["kind"] == "ConfigMap" for i in items)
    assert version


async def test_watch_resumes_from_a_version(client: ClusterClient) -> None:
    _, version = await client.list_objects("v1", "ConfigMap", label_selector="fleet.dev/app")
    await client.apply(CONFIGMAP)
    seen = []
    with anyio.move_on_after(5):
        async for event_type, obj in client.watch(
            "v1",
            "ConfigMap",
            resource_version=version,
            label_selector="fleet.dev/app",
            timeout_seconds=2,
        ):
            if event_type != "BOOKMARK":
                seen.append((event_type, obj["metadata"]["name"]))
                break
    assert seen == [("ADDED", "settings")]


async def test_a_kind_the_cluster_does_not_serve(client: ClusterClient) -> None:
    with pytest.raises(KindNotServed, match="does not serve Widget"):
        await client.resource("example.com/v1", "Widget")


async def test_discovery_reads_only_the_group_versions_in_use(client: ClusterClient) -> None:
    await client.resource("v1", "ConfigMap")
    await client.resource("v1", "Secret")
    await client.resource("apps/v1", "Deployment")
    await client.resource("apps/v1", "StatefulSet")
    info = await client.resource("apps/v1", "Deployment")
    assert (info.plural, info.namespaced) == ("deployments", True)
    assert info.path("web", "api") == "/apis/apps/v1/namespaces/web/deployments/api"
    namespace = await client.resource("v1", "Namespace")
    assert (namespace.namespaced, namespace.path(name="web")) == (False, "/api/v1/namespaces/web")
    calls = client.calls  # type: ignore[attr-defined]
    assert calls == [("get", 200), ("get", 200)], "one read per group-version"


async def test_a_kind_added_by_a_crd_is_found_without_a_refresh(client: ClusterClient) -> None:
    with pytest.raises(KindNotServed):
        await client.resource("example.com/v1", "Widget")
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": {"type": "object"}},
                }
            ],
        },
    }
    await client.apply(crd)
    with anyio.fail_after(5):
        while True:
            try:
                info = await client.resource("example.com/v1", "Widget")
                break
            except KindNotServed:
                await anyio.sleep(0.05)
    assert info.path("default", "w") == "/apis/example.com/v1/namespaces/default/widgets/w"


async def test_merge_patch_and_create(client: ClusterClient) -> None:
    job = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "hook", "namespace": "default", "finalizers": ["fleet.dev/x"]},
    }
    await client.create(job)
    with pytest.raises(KubeError) as caught:
        await client.create(job)
    assert (caught.value.status, caught.value.reason) == (409, "AlreadyExists")
    ref = ObjectRef("", "ConfigMap", "default", "hook")
    patched = await client.merge_patch("v1", ref, {"metadata": {"finalizers": None}})
    assert "finalizers" not in patched["metadata"]


async def test_requests_are_reported_with_their_verbs(client: ClusterClient) -> None:
    await client.apply(CONFIGMAP)
    await client.get("v1", REF)
    await client.list_objects("v1", "ConfigMap")
    calls = client.calls  # type: ignore[attr-defined]
    # First the discovery of v1 (GET /api/v1), once.
    assert calls == [("get", 200), ("patch", 201), ("get", 200), ("list", 200)]


async def test_a_down_cluster_is_unreachable_and_comes_back(
    sim: SimFleet, client: ClusterClient
) -> None:
    await client.apply(CONFIGMAP)
    sim.clusters["one"].faults.down()
    try:
        with pytest.raises(KubeError) as caught:
            await client.get("v1", REF)
        assert caught.value.unreachable
    finally:
        sim.clusters["one"].faults.up()
    assert await client.get("v1", REF) is not None


async def test_a_wrong_token_is_a_clear_401(sim: SimFleet, tmp_path: Path) -> None:
    cluster = sim.clusters["one"]
    token = tmp_path / "token"
    token.write_text("wrong\n")
    endpoint = ClusterEndpoint("one", server=cluster.url, ca_file=cluster.ca_file, token_file=token)
    async with await ClusterClient.connect(endpoint, limits=Limits(request_timeout=5)) as client:
        with pytest.raises(KubeError) as caught:
            await client.get("v1", REF)
    assert caught.value.status == 401


async def test_a_rotated_token_file_is_read_again(sim: SimFleet, tmp_path: Path) -> None:
    cluster = sim.clusters["one"]
    token = tmp_path / "token"
    token.write_text("wrong\n")
    endpoint = ClusterEndpoint("one", server=cluster.url, ca_file=cluster.ca_file, token_file=token)
    async with await ClusterClient.connect(endpoint) as c:
        with pytest.raises(KubeError):
            await c.get("v1", REF)
        token.write_text(cluster.token + "\n")
        assert await c.get("v1", REF) is None


VERBS = [
    ("GET", "/api/v1/namespaces", [], "list"),
    ("GET", "/api/v1/namespaces/web", [], "get"),
    ("GET", "/api/v1/namespaces/web/configmaps", [], "list"),
    ("GET", "/api/v1/namespaces/web/configmaps/x", [], "get"),
    ("GET", "/apis/apps/v1/deployments", [("watch", "true")], "watch"),
    ("GET", "/apis/apps/v1/namespaces/web/deployments/x", [], "get"),
    ("PATCH", "/apis/apps/v1/namespaces/web/deployments/x", [], "patch"),
    ("DELETE", "/api/v1/namespaces/web/configmaps/x", [], "delete"),
    ("POST", "/api/v1/namespaces/web/configmaps", [], "create"),
    ("PUT", "/api/v1/namespaces/web/configmaps/x", [], "update"),
]


@pytest.mark.parametrize(("method", "path", "query", "verb"), VERBS)
def test_request_verbs(method: str, path: str, query: list[tuple[str, str]], verb: str) -> None:
    assert _verb(method, path, query) == verb


def test_error_answers_keep_status_reason_and_retry_after() -> None:
    body = b'{"kind":"Status","reason":"TooManyRequests","message":"slow down"}'
    error = from_response("c", 429, body, {"Retry-After": "3"})
    assert (error.status, error.reason, error.message, error.retry_after) == (
        429,
        "TooManyRequests",
        "slow down",
        3.0,
    )
    plain = from_response("c", 503, b"upstream gone", None)
    assert (plain.reason, plain.message) == ("ServiceUnavailable", "upstream gone")


async def test_token_bucket_allows_a_burst_then_paces() -> None:
    bucket = TokenBucket(qps=50, burst=5)
    started = anyio.current_time()
    for _ in range(5):
        await bucket.acquire()
    burst = anyio.current_time() - started
    for _ in range(5):
        await bucket.acquire()
    paced = anyio.current_time() - started - burst
    assert burst < 0.05
    assert paced >= 0.08  # five more at 50 per second


async def test_a_server_that_stalls_mid_answer_is_unreachable_after_the_timeout(
    tmp_path: Path,
) -> None:
    """An ordinary request is bounded by its total timeout alone (no read timer is
    re-armed per chunk): a server that sends half an answer and then nothing more is
    unreachable once ``request_timeout`` has passed, not later, and not sooner."""

    async def stall(stream: anyio.abc.SocketStream) -> None:
        await stream.receive()
        await stream.send(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"
        )
        await anyio.sleep(30)

    token = tmp_path / "token"
    token.write_text("t\n")
    async with await anyio.create_tcp_listener(local_host="127.0.0.1") as listener:
        port = listener.extra(anyio.abc.SocketAttribute.local_port)
        async with anyio.create_task_group() as group:
            group.start_soon(listener.serve, stall)
            endpoint = ClusterEndpoint("stall", server=f"http://127.0.0.1:{port}", token_file=token)
            limits = Limits(request_timeout=1.0)
            async with await ClusterClient.connect(endpoint, limits=limits) as client:
                started = anyio.current_time()
                with pytest.raises(KubeError) as caught:
                    await client.get("v1", REF)  # its discovery request stalls
                took = anyio.current_time() - started
            group.cancel_scope.cancel()
    assert caught.value.unreachable
    assert 0.9 <= took < 5.0


async def test_a_free_request_slot_is_taken_without_a_trip_round_the_event_loop(
    tmp_path: Path,
) -> None:
    """A request that finds a connection slot free goes on to send at once: giving the
    loop away first (anyio's default for a semaphore) was one more loop iteration for
    every request. A request that must wait for a slot still waits."""
    token = tmp_path / "token"
    token.write_text("t\n")
    endpoint = ClusterEndpoint("quick", server="http://127.0.0.1:9", token_file=token)
    others_ran: list[str] = []
    sent: list[bool] = []

    class Sent(Exception):
        pass

    async def send(*args: Any, **kwargs: Any) -> Any:
        sent.append(bool(others_ran))
        raise Sent

    async def another_task() -> None:
        others_ran.append("another task")

    async with await ClusterClient.connect(endpoint, limits=Limits(connections=1)) as client:
        assert client._pool is not None  # no proxy: requests go by the lean pool
        client._read_via_pool = send  # type: ignore[method-assign]
        async with anyio.create_task_group() as group:
            group.start_soon(another_task)
            with pytest.raises(Sent):
                await client._request("GET", "/api/v1")
        assert sent == [False]
        async with client._slots:  # the only slot is taken: the next request waits
            with anyio.move_on_after(0.2) as waited:
                await client._request("GET", "/api/v1")
        assert waited.cancelled_caught
        assert sent == [False]


async def test_gzip_is_asked_for_and_a_gzipped_answer_is_read(tmp_path: Path) -> None:
    """An API server gzips large answers when asked, as aiohttp asked: the pool asks too."""
    heads: list[bytes] = []
    body = gzip.compress(b'{"kind": "ConfigMap", "data": {"k": "' + b"v" * 5000 + b'"}}')

    async def gzipping(stream: SocketStream) -> None:
        async with stream:
            request = b""
            while b"\r\n\r\n" not in request:
                request += await stream.receive()
            heads.append(request)
            await stream.send(
                b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n%s"
                % (len(body), body)
            )

    token = tmp_path / "token"
    token.write_text("t\n")
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(SocketAttribute.local_port)
    async with anyio.create_task_group() as group:
        group.start_soon(listener.serve, gzipping)
        endpoint = ClusterEndpoint("zipped", server=f"http://127.0.0.1:{port}", token_file=token)
        async with await ClusterClient.connect(endpoint) as client:
            answer = await client._request("GET", "/api/v1/namespaces/a/configmaps/b")
        group.cancel_scope.cancel()
    assert answer["data"]["k"] == "v" * 5000
    assert b"\r\nAccept-Encoding: gzip\r\n" in heads[0]
    assert b"\r\nauthorization: bearer t\r\n" in heads[0].lower()


async def test_a_token_with_a_line_break_is_refused_as_an_error_of_the_cluster(
    tmp_path: Path,
) -> None:
    """A token file holding two lines would write a header of its own: refused before any
    byte is sent, as the cluster's error (never an exception that ends the worker)."""
    token = tmp_path / "token"
    token.write_text("t\nX-Injected: 1\n")
    endpoint = ClusterEndpoint("broken", server="http://127.0.0.1:9", token_file=token)
    async with await ClusterClient.connect(endpoint) as client:
        with pytest.raises(KubeError) as caught:
            await client._request("GET", "/api/v1")
    assert caught.value.unreachable
    assert "line break" in str(caught.value)
    assert "X-Injected" not in str(caught.value)
