"""coordination.k8s.io/v1 Leases, as leader election uses them, with the real clients."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta

import anyio
import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from tests.sim.conftest import Sim

pytestmark = pytest.mark.anyio
KUBECTL = shutil.which("kubectl")
NS = "kube-node-lease"


def lease(name: str, holder: str, renew: datetime, duration: int = 15) -> client.V1Lease:
    return client.V1Lease(
        metadata=client.V1ObjectMeta(name=name, namespace=NS),
        spec=client.V1LeaseSpec(
            holder_identity=holder,
            lease_duration_seconds=duration,
            acquire_time=renew,
            renew_time=renew,
            lease_transitions=0,
        ),
    )


def at(micro: int) -> datetime:
    return datetime(2026, 3, 1, 12, 0, 0, micro, tzinfo=UTC)


async def test_create_read_and_round_trip_micro_times(sim: Sim) -> None:
    api = client.CoordinationV1Api(sim.api)
    created = await api.create_namespaced_lease(NS, lease("fleet-leader", "host-a", at(123456)))
    assert created.spec.holder_identity == "host-a"
    assert created.spec.lease_duration_seconds == 15
    assert created.spec.renew_time == at(123456)
    stored = sim.cluster.get_object("coordination.k8s.io", "leases", NS, "fleet-leader")
    assert stored is not None
    assert stored["spec"]["renewTime"] == "2026-03-01T12:00:00.123456Z"
    assert stored["spec"]["acquireTime"] == "2026-03-01T12:00:00.123456Z"
    read = await api.read_namespaced_lease("fleet-leader", NS)
    assert read.spec.acquire_time == at(123456)


async def test_an_offset_is_stored_in_utc_with_six_digits(sim: Sim) -> None:
    api = client.CoordinationV1Api(sim.api)
    body = {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": "tz"},
        "spec": {"holderIdentity": "b", "renewTime": "2026-03-01T14:00:00.000001+02:00"},
    }
    await api.create_namespaced_lease(NS, body)
    stored = sim.cluster.get_object("coordination.k8s.io", "leases", NS, "tz")
    assert stored is not None
    assert stored["spec"]["renewTime"] == "2026-03-01T12:00:00.000001Z"


async def test_a_stale_resource_version_is_a_conflict_and_the_winner_holds(sim: Sim) -> None:
    """Two candidates read the same version; only the first write of it wins."""
    api = client.CoordinationV1Api(sim.api)
    await api.create_namespaced_lease(NS, lease("race", "host-a", at(1)))
    seen_a = await api.read_namespaced_lease("race", NS)
    seen_b = await api.read_namespaced_lease("race", NS)
    seen_a.spec.renew_time = at(2)
    renewed = await api.replace_namespaced_lease("race", NS, seen_a)
    assert int(renewed.metadata.resource_version) > int(seen_b.metadata.resource_version)
    seen_b.spec.holder_identity = "host-b"
    seen_b.spec.lease_transitions = 1
    with pytest.raises(ApiException) as caught:
        await api.replace_namespaced_lease("race", NS, seen_b)
    assert caught.value.status == 409
    assert "the object has been modified" in caught.value.body
    assert (await api.read_namespaced_lease("race", NS)).spec.holder_identity == "host-a"


async def test_creating_an_existing_lease_is_already_exists(sim: Sim) -> None:
    api = client.CoordinationV1Api(sim.api)
    await api.create_namespaced_lease(NS, lease("once", "host-a", at(1)))
    with pytest.raises(ApiException) as caught:
        await api.create_namespaced_lease(NS, lease("once", "host-b", at(2)))
    assert caught.value.status == 409
    assert '"reason":"AlreadyExists"' in caught.value.body.replace(" ", "")
    assert (await api.read_namespaced_lease("once", NS)).spec.holder_identity == "host-a"


@pytest.mark.parametrize(
    ("spec", "code", "words"),
    [
        ({"renewTime": "2026-03-01T12:00:00Z"}, 400, "cannot be handled as a Lease"),
        ({"acquireTime": "2026-03-01T12:00:00.123Z"}, 400, "2006-01-02T15:04:05.000000Z07:00"),
        ({"renewTime": "yesterday"}, 400, "parsing time"),
        ({"leaseDurationSeconds": "15"}, 400, "of type int32"),
        ({"holderIdentity": 7}, 400, "of type string"),
        ({"leaseDurationSeconds": 0}, 422, "must be greater than 0"),
        ({"leaseTransitions": -1}, 422, "greater than or equal to 0"),
    ],
)
async def test_bad_lease_fields_are_refused_like_a_real_server(
    sim: Sim, spec: dict[str, object], code: int, words: str
) -> None:
    api = client.CoordinationV1Api(sim.api)
    body = {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": "bad"},
        "spec": spec,
    }
    with pytest.raises(ApiException) as caught:
        await api.create_namespaced_lease(NS, body)
    assert caught.value.status == code
    assert words in caught.value.body
    assert sim.cluster.get_object("coordination.k8s.io", "leases", NS, "bad") is None


async def test_a_bad_renewal_is_refused_and_the_lease_is_unchanged(sim: Sim) -> None:
    api = client.CoordinationV1Api(sim.api)
    await api.create_namespaced_lease(NS, lease("keep", "host-a", at(5)))
    patch = {"spec": {"renewTime": (at(5) + timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ")}}
    with pytest.raises(ApiException) as caught:
        await api.patch_namespaced_lease("keep", NS, patch)
    assert caught.value.status == 400
    assert (await api.read_namespaced_lease("keep", NS)).spec.renew_time == at(5)


@pytest.mark.kubectl
@pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed on this machine")
async def test_kubectl_gets_and_applies_leases(sim: Sim) -> None:
    assert KUBECTL is not None
    api = client.CoordinationV1Api(sim.api)
    await api.create_namespaced_lease(NS, lease("seen", "host-a", at(42)))
    base = [KUBECTL, "--kubeconfig", str(sim.fleet.kubeconfig_path), "-n", NS]
    env = {"HOME": str(sim.directory)}
    listing = await anyio.run_process([*base, "get", "leases"], env=env)
    assert "seen" in listing.stdout.decode()
    assert "host-a" in listing.stdout.decode()
    manifest = (
        "apiVersion: coordination.k8s.io/v1\nkind: Lease\nmetadata: {name: seen}\n"
        "spec: {holderIdentity: host-b, renewTime: '2026-03-01T12:00:01.000000Z'}\n"
    )
    await anyio.run_process(
        [*base, "apply", "--server-side", "--force-conflicts", "-f", "-"],
        input=manifest.encode(),
        env=env,
    )
    renewed = await api.read_namespaced_lease("seen", NS)
    assert renewed.spec.holder_identity == "host-b"
    assert renewed.spec.renew_time == datetime(2026, 3, 1, 12, 0, 1, tzinfo=UTC)
    stale = await anyio.run_process(
        [*base, "replace", "-f", "-"],
        input=(
            manifest.replace(
                "metadata: {name: seen}", "metadata: {name: seen, resourceVersion: '1'}"
            )
        ).encode(),
        env=env,
        check=False,
    )
    assert stale.returncode != 0
    assert "Conflict" in stale.stderr.decode() or "modified" in stale.stderr.decode()
