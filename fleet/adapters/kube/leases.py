"""The leader Lease (``coordination.k8s.io/v1``) read and written with kubernetes_asyncio.

Thin on purpose: read the Lease, create it, or replace it on condition that its
``resourceVersion`` is still the one read (the API server answers 409 otherwise, which
is how two candidates racing for an expired lease end with one leader). What to write is
decided by fleet.engine.leadership. Bodies are sent as plain JSON with the MicroTime
fields written out in the API server's exact layout (six fractional digits, UTC): a
Python ``isoformat`` drops the fraction when it is zero, which a real server refuses.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import aiohttp
from kubernetes_asyncio import client as kube_client
from kubernetes_asyncio.client.exceptions import ApiException

from fleet.adapters.kube.connection import ClusterEndpoint, new_api_client
from fleet.engine.leadership import LeaseRecord


class LeaseError(Exception):
    """The Lease could not be read or written (network, credentials, server)."""


class LeaseConflict(LeaseError):
    """Someone else wrote the Lease since we read it (409): read it again."""


def micro_time(seconds: float) -> str:
    """A MicroTime as the API server writes it: ``2006-01-02T15:04:05.000000Z``."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _seconds(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        moment = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return moment.timestamp()
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()


def record_of(lease: Any) -> LeaseRecord:
    """A V1Lease as the engine reads it."""
    spec = lease.spec
    return LeaseRecord(
        holder=str(getattr(spec, "holder_identity", None) or ""),
        lease_duration=float(getattr(spec, "lease_duration_seconds", None) or 0),
        acquire_time=_seconds(getattr(spec, "acquire_time", None)),
        renew_time=_seconds(getattr(spec, "renew_time", None)),
        transitions=int(getattr(spec, "lease_transitions", None) or 0),
        resource_version=str(lease.metadata.resource_version or ""),
    )


def lease_body(
    namespace: str, name: str, record: LeaseRecord, annotations: dict[str, str] | None = None
) -> dict[str, Any]:
    """The Lease to send for ``record`` (its resourceVersion is the precondition)."""
    metadata: dict[str, Any] = {"name": name, "namespace": namespace}
    if annotations:
        metadata["annotations"] = dict(annotations)
    if record.resource_version:
        metadata["resourceVersion"] = record.resource_version
    spec: dict[str, Any] = {
        "holderIdentity": record.holder,
        "leaseDurationSeconds": max(1, round(record.lease_duration)),
        "leaseTransitions": record.transitions,
    }
    if record.acquire_time is not None:
        spec["acquireTime"] = micro_time(record.acquire_time)
    if record.renew_time is not None:
        spec["renewTime"] = micro_time(record.renew_time)
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": metadata,
        "spec": spec,
    }


class LeaseClient:
    """One Lease, on one cluster. ``async with`` closes the connection."""

    def __init__(self, api: kube_client.ApiClient, namespace: str, name: str) -> None:
        self._api = api
        self._leases = kube_client.CoordinationV1Api(api)
        self.namespace = namespace
        self.name = name
        #: Written with every renewal (a shard's leader advertises its API URL here).
        self.annotations: dict[str, str] = {}

    @classmethod
    async def connect(cls, endpoint: ClusterEndpoint, namespace: str, name: str) -> LeaseClient:
        try:
            api = await new_api_client(endpoint)
        except Exception as error:  # a bad kubeconfig: say where, never the credentials
            raise LeaseError(
                f"leader lease cluster {endpoint.describe()}: {type(error).__name__}: {error}"
            ) from None
        return cls(api, namespace, name)

    async def __aenter__(self) -> LeaseClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._api.close()

    @property
    def where(self) -> str:
        return f"Lease {self.namespace}/{self.name}"

    async def read(self, timeout: float) -> LeaseRecord | None:  # noqa: ASYNC109
        """The Lease, or None when there is none."""
        try:
            lease = await self._leases.read_namespaced_lease(
                self.name, self.namespace, _request_timeout=timeout
            )
        except ApiException as error:
            if error.status == 404:
                return None
            raise self._error("read", error) from None
        except (aiohttp.ClientError, TimeoutError, OSError) as error:
            raise self._error("read", error) from None
        return record_of(lease)

    async def write(self, record: LeaseRecord, timeout: float) -> LeaseRecord:  # noqa: ASYNC109
        """Create (no resourceVersion) or replace the Lease; what the server stored."""
        # Sent as a dict (the client passes it through): see the module docstring.
        body: Any = lease_body(self.namespace, self.name, record, self.annotations)
        try:
            if record.resource_version:
                lease = await self._leases.replace_namespaced_lease(
                    self.name, self.namespace, body, _request_timeout=timeout
                )
            else:
                lease = await self._leases.create_namespaced_lease(
                    self.namespace, body, _request_timeout=timeout
                )
        except ApiException as error:
            if error.status == 409:
                raise LeaseConflict(f"{self.where} changed since it was read") from None
            raise self._error("write", error) from None
        except (aiohttp.ClientError, TimeoutError, OSError) as error:
            raise self._error("write", error) from None
        return record_of(lease)

    def _error(self, verb: str, error: BaseException) -> LeaseError:
        if isinstance(error, ApiException):
            detail = f"{error.status} {error.reason}"
        else:
            detail = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
        return LeaseError(f"cannot {verb} {self.where}: {detail}")
