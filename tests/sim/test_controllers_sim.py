"""The status controllers against a running simulated API server, through real HTTP.

Objects are written with kubernetes_asyncio as a user would; the controllers run as
separate API clients (SimFleet's ``controllers=True``), so these tests check the same
path a bare kube-apiserver would see.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from kubernetes_asyncio import client

from fleet.sim import SimFleet

pytestmark = pytest.mark.anyio

READY_DELAY = 0.2
NS = "default"
Obj = dict[str, Any]


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[client.ApiClient]:
    async with SimFleet.start(tmp_path, count=1, ready_delay=READY_DELAY) as fleet:
        api_client = await fleet.api_client(fleet.names[0])
        try:
            yield api_client
        finally:
            await api_client.close()


async def eventually(check: Callable[[], Awaitable[Any]], within: float = 10.0) -> Any:
    """Poll ``check`` until it returns something truthy without raising."""
    last: BaseException | None = None
    with anyio.move_on_after(within):
        while True:
            try:
                result = await check()
                if result:
                    return result
            except (AssertionError, AttributeError, TypeError, KeyError, IndexError) as exc:
                last = exc  # not there yet (a status still None counts as not yet)
            await anyio.sleep(0.05)
    raise AssertionError(f"condition not met within {within}s: {last!r}")


def deployment(name: str = "web", replicas: int = 3, image: str = "nginx:1.27", **spec: Any) -> Obj:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": image}]},
            },
            **spec,
        },
    }


def conditions(obj: Any) -> dict[str, tuple[str, str | None]]:
    return {c.type: (c.status, c.reason) for c in obj.status.conditions or []}


async def pods_of(api: client.ApiClient, selector: str) -> list[Any]:
    listed = await client.CoreV1Api(api).list_namespaced_pod(NS, label_selector=selector)
    return list(listed.items)


async def test_deployment_becomes_available(api: client.ApiClient) -> None:
    apps = client.AppsV1Api(api)
    await apps.create_namespaced_deployment(NS, deployment(replicas=3))

    async def available() -> Any:
        d = await apps.read_namespaced_deployment("web", NS)
        assert conditions(d).get("Available") == ("True", "MinimumReplicasAvailable")
        assert conditions(d).get("Progressing") == ("True", "NewReplicaSetAvailable")
        return d

    d = await eventually(available)
    assert (d.status.replicas, d.status.updated_replicas) == (3, 3)
    assert (d.status.ready_replicas, d.status.available_replicas) == (3, 3)
    assert d.status.unavailable_replicas is None
    assert d.status.observed_generation == d.metadata.generation == 1

    [rs] = (await apps.list_namespaced_replica_set(NS)).items
    pod_hash = rs.metadata.labels["pod-template-hash"]
    assert rs.metadata.name == f"web-{pod_hash}"
    assert rs.metadata.owner_references[0].uid == d.metadata.uid
    assert rs.metadata.owner_references[0].controller is True
    assert rs.metadata.annotations["deployment.kubernetes.io/revision"] == "1"
    assert rs.status.ready_replicas == 3
    pods = await pods_of(api, "app=web")
    assert len(pods) == 3
    for pod in pods:
        assert pod.metadata.name.startswith(f"web-{pod_hash}-")
        assert pod.metadata.owner_references[0].uid == rs.metadata.uid
        assert pod.status.phase == "Running"
        assert pod.status.pod_ip
        assert pod.spec.node_name.startswith("fleet-sim-node-")
        assert pod.status.container_statuses[0].ready is True
    managers = {m.manager for m in d.metadata.managed_fields or []}
    assert "kube-controller-manager" in managers


async def test_rolling_update_replaces_every_pod(api: client.ApiClient) -> None:
    apps = client.AppsV1Api(api)
    await apps.create_namespaced_deployment(NS, deployment(replicas=4))

    async def complete(generation: int) -> Any:
        d = await apps.read_namespaced_deployment("web", NS)
        assert d.status.observed_generation == generation
        assert d.status.updated_replicas == d.status.replicas == d.status.available_replicas == 4
        assert conditions(d)["Progressing"] == ("True", "NewReplicaSetAvailable")
        return d

    await eventually(lambda: complete(1))
    current = await apps.read_namespaced_deployment("web", NS)
    current.spec.template.spec.containers[0].image = "nginx:1.28"
    await apps.replace_namespaced_deployment("web", NS, current)
    d = await eventually(lambda: complete(2))
    assert d.metadata.generation == 2
    sets = {
        rs.metadata.annotations["deployment.kubernetes.io/revision"]: rs
        for rs in (await apps.list_namespaced_replica_set(NS)).items
    }
    assert sorted(sets) == ["1", "2"]
    assert sets["1"].spec.replicas == 0
    assert sets["2"].spec.replicas == 4

    async def only_new_pods() -> bool:
        pods = await pods_of(api, "app=web")
        assert len(pods) == 4
        assert {p.spec.containers[0].image for p in pods} == {"nginx:1.28"}
        return True

    await eventually(only_new_pods)


async def test_crash_loop_reaches_progress_deadline(api: client.ApiClient) -> None:
    apps = client.AppsV1Api(api)
    await apps.create_namespaced_deployment(
        NS, deployment(replicas=2, image="registry.example/crashloop:1", progressDeadlineSeconds=2)
    )

    async def timed_out() -> Any:
        d = await apps.read_namespaced_deployment("web", NS)
        assert conditions(d).get("Progressing") == ("False", "ProgressDeadlineExceeded")
        return d

    d = await eventually(timed_out, within=15)
    assert conditions(d)["Available"] == ("False", "MinimumReplicasUnavailable")
    assert d.status.unavailable_replicas == 2
    assert not d.status.ready_replicas
    pods = await pods_of(api, "app=web")
    assert len(pods) == 2
    for pod in pods:
        [container] = pod.status.container_statuses
        assert container.state.waiting.reason == "CrashLoopBackOff"
        assert container.restart_count >= 2
        assert container.ready is False


async def test_job_completes(api: client.ApiClient) -> None:
    batch = client.BatchV1Api(api)
    body = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "once", "namespace": NS},
        "spec": {
            "completions": 2,
            "parallelism": 2,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "c", "image": "busybox"}],
                }
            },
        },
    }
    await batch.create_namespaced_job(NS, body)

    async def complete() -> Any:
        job = await batch.read_namespaced_job("once", NS)
        assert conditions(job).get("Complete") == ("True", "CompletionsReached")
        return job

    job = await eventually(complete)
    assert conditions(job)["SuccessCriteriaMet"] == ("True", "CompletionsReached")
    assert job.status.succeeded == 2
    assert job.status.completion_time is not None
    assert job.status.start_time <= job.status.completion_time
    pods = await pods_of(api, "batch.kubernetes.io/job-name=once")
    assert [p.status.phase for p in pods] == ["Succeeded", "Succeeded"]


async def test_job_fails_with_the_failure_marker(api: client.ApiClient) -> None:
    batch = client.BatchV1Api(api)
    body = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "doomed", "namespace": NS},
        "spec": {
            "backoffLimit": 1,
            "template": {
                "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "fail"}]}
            },
        },
    }
    await batch.create_namespaced_job(NS, body)

    async def failed() -> Any:
        job = await batch.read_namespaced_job("doomed", NS)
        assert conditions(job).get("Failed") == ("True", "BackoffLimitExceeded")
        return job

    job = await eventually(failed)
    assert conditions(job)["FailureTarget"] == ("True", "BackoffLimitExceeded")
    assert job.status.failed == 2
    assert job.status.completion_time is None
    pods = await pods_of(api, "batch.kubernetes.io/job-name=doomed")
    assert [p.status.phase for p in pods] == ["Failed", "Failed"]
    assert pods[0].status.container_statuses[0].state.terminated.exit_code == 1


async def test_statefulset_and_daemonset_become_ready(api: client.ApiClient) -> None:
    apps = client.AppsV1Api(api)
    template = {
        "metadata": {"labels": {"app": "db"}},
        "spec": {"containers": [{"name": "c", "image": "postgres"}]},
    }
    await apps.create_namespaced_stateful_set(
        NS,
        {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": {"name": "db", "namespace": NS},
            "spec": {
                "replicas": 2,
                "serviceName": "db",
                "selector": {"matchLabels": {"app": "db"}},
                "template": template,
                "volumeClaimTemplates": [
                    {
                        "metadata": {"name": "data"},
                        "spec": {
                            "accessModes": ["ReadWriteOnce"],
                            "resources": {"requests": {"storage": "1Gi"}},
                        },
                    }
                ],
            },
        },
    )
    agent = copy.deepcopy(template)
    agent["metadata"]["labels"] = {"app": "agent"}
    await apps.create_namespaced_daemon_set(
        NS,
        {
            "apiVersion": "apps/v1",
            "kind": "DaemonSet",
            "metadata": {"name": "agent", "namespace": NS},
            "spec": {"selector": {"matchLabels": {"app": "agent"}}, "template": agent},
        },
    )

    async def sts_ready() -> Any:
        sts = await apps.read_namespaced_stateful_set("db", NS)
        assert sts.status.ready_replicas == 2
        assert sts.status.current_revision == sts.status.update_revision
        assert sts.status.updated_replicas == 2
        assert sts.status.observed_generation == 1
        return sts

    async def ds_ready() -> Any:
        ds = await apps.read_namespaced_daemon_set("agent", NS)
        assert ds.status.desired_number_scheduled == 1
        assert ds.status.number_ready == ds.status.number_available == 1
        assert ds.status.updated_number_scheduled == 1
        return ds

    await eventually(sts_ready)
    await eventually(ds_ready)
    pods = sorted(p.metadata.name for p in await pods_of(api, "app=db"))
    assert pods == ["db-0", "db-1"]
    claims = (await client.CoreV1Api(api).list_namespaced_persistent_volume_claim(NS)).items
    assert sorted(c.metadata.name for c in claims) == ["data-db-0", "data-db-1"]


async def test_load_balancer_gets_an_ingress_address(api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    for name in ("front", "back"):
        await core.create_namespaced_service(
            NS,
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": name, "namespace": NS},
                "spec": {
                    "type": "LoadBalancer",
                    "selector": {"app": name},
                    "ports": [{"port": 80}],
                },
            },
        )

    async def addresses() -> list[str]:
        ips = []
        for name in ("front", "back"):
            svc = await core.read_namespaced_service(name, NS)
            ingress = svc.status.load_balancer.ingress
            assert ingress, f"{name} has no ingress yet"
            ips.append(ingress[0].ip)
        return ips

    ips = await eventually(addresses)
    assert len(set(ips)) == 2
    assert all(ip.startswith("198.51.100.") for ip in ips)


async def test_claim_is_bound_and_its_volume_reclaimed(api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    await core.create_namespaced_persistent_volume_claim(
        NS,
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": "data", "namespace": NS},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "2Gi"}},
            },
        },
    )

    async def bound() -> Any:
        pvc = await core.read_namespaced_persistent_volume_claim("data", NS)
        assert pvc.status.phase == "Bound"
        return pvc

    pvc = await eventually(bound)
    assert pvc.spec.volume_name == f"pvc-{pvc.metadata.uid}"
    assert pvc.status.capacity == {"storage": "2Gi"}
    pv = await core.read_persistent_volume(pvc.spec.volume_name)
    assert pv.status.phase == "Bound"
    assert pv.spec.claim_ref.name == "data"

    await core.delete_namespaced_persistent_volume_claim("data", NS)

    async def reclaimed() -> bool:
        names = [v.metadata.name for v in (await core.list_persistent_volume()).items]
        assert pvc.spec.volume_name not in names
        return True

    await eventually(reclaimed)


async def test_bare_pods_run_to_completion_and_deleting_one_finishes(api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    for name, policy in (("once", "Never"), ("server", "Always")):
        await core.create_namespaced_pod(
            NS,
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": name, "namespace": NS, "labels": {"bare": "yes"}},
                "spec": {
                    "restartPolicy": policy,
                    "containers": [{"name": "c", "image": "busybox"}],
                },
            },
        )

    async def phases() -> dict[str, str]:
        got = {p.metadata.name: p.status.phase for p in await pods_of(api, "bare=yes")}
        assert got == {"once": "Succeeded", "server": "Running"}
        return got

    await eventually(phases)
    await core.delete_namespaced_pod("server", NS)

    async def gone() -> bool:
        assert [p.metadata.name for p in await pods_of(api, "bare=yes")] == ["once"]
        return True

    await eventually(gone)


async def test_deleting_a_deployment_collects_its_pods(api: client.ApiClient) -> None:
    apps = client.AppsV1Api(api)
    await apps.create_namespaced_deployment(NS, deployment(replicas=2))

    async def running() -> bool:
        assert len(await pods_of(api, "app=web")) == 2
        return True

    await eventually(running)
    await apps.delete_namespaced_deployment("web", NS)

    async def collected() -> bool:
        assert (await apps.list_namespaced_replica_set(NS)).items == []
        assert await pods_of(api, "app=web") == []
        return True

    await eventually(collected)
