"""Rollout records and peer addresses in the coordination cluster (shards, docs/shards.md).

One ConfigMap per app and revision holds the rollout as every shard shares it
(fleet.engine.shards.RolloutRecord, as JSON under ``record``). It is read, then
replaced on condition that its ``resourceVersion`` is still the one read: the API server
answers 409 otherwise (``RecordConflict``), and the caller reads again and decides
again, so two shards' writes never overwrite each other. The same client reads the
shards' Leases for the API URL each shard's leader advertises (an annotation).

Thin on purpose: what to write is decided by fleet.engine.shards. Plain dict bodies,
nothing but kubernetes_asyncio's typed CoreV1 and CoordinationV1 calls, so a real API
server and the simulator answer the same way.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

import aiohttp
from kubernetes_asyncio import client as kube_client
from kubernetes_asyncio.client.exceptions import ApiException

from fleet.adapters.kube.connection import ClusterEndpoint, new_api_client
from fleet.engine.shards import RecordFormatError, RolloutRecord, record_from_json, record_to_json

#: The Lease annotation a shard's leader writes its API URL into.
API_URL_ANNOTATION = "fleet.dev/api-url"
#: The Lease annotation naming the shard.
SHARD_ANNOTATION = "fleet.dev/shard"
_DATA_KEY = "record"
#: The label that finds an app's records (a digest: any app name, a valid label value).
APP_LABEL = "fleet.dev/rollout-app"


def app_label(app: str) -> str:
    return hashlib.sha256(app.encode()).hexdigest()[:16]


class RecordError(Exception):
    """The coordination cluster could not be read or written (network, credentials)."""


class RecordConflict(RecordError):
    """Someone else wrote the record since it was read (409): read it again."""


@dataclass(frozen=True, slots=True)
class StoredRecord:
    record: RolloutRecord
    resource_version: str


@dataclass(frozen=True, slots=True)
class PeerAddress:
    """A shard's leader as its Lease says: who holds it, and its API URL ("" unknown)."""

    shard: str
    holder: str
    api_url: str


def record_name(app: str, revision: str) -> str:
    """``fleet-rollout-<app>-<revision[:12]>``; an app name that is not a DNS label is
    replaced by a digest, so any app gets a valid, stable name."""
    label = re.sub(r"[^a-z0-9-]+", "-", app.lower()).strip("-")[:40]
    if label != app:
        label = f"{label[:30]}-{hashlib.sha256(app.encode()).hexdigest()[:8]}".strip("-")
    return f"fleet-rollout-{label}-{revision[:12].lower()}"


class CoordinationClient:
    """Records and peer Leases in one namespace of one cluster; ``async with`` closes it."""

    def __init__(self, api: kube_client.ApiClient, namespace: str) -> None:
        self._api = api
        self._core = kube_client.CoreV1Api(api)
        self._leases = kube_client.CoordinationV1Api(api)
        self.namespace = namespace

    @classmethod
    async def connect(cls, endpoint: ClusterEndpoint, namespace: str) -> CoordinationClient:
        try:
            api = await new_api_client(endpoint)
        except Exception as error:  # a bad kubeconfig: say where, never the credentials
            raise RecordError(
                f"coordination cluster {endpoint.describe()}: {type(error).__name__}: {error}"
            ) from None
        return cls(api, namespace)

    async def __aenter__(self) -> CoordinationClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._api.close()

    async def read(self, app: str, revision: str, timeout: float) -> StoredRecord | None:  # noqa: ASYNC109
        """The record of ``app`` at ``revision``, or None when no shard wrote one yet."""
        name = record_name(app, revision)
        try:
            config_map = await self._core.read_namespaced_config_map(
                name, self.namespace, _request_timeout=timeout
            )
        except ApiException as error:
            if error.status == 404:
                return None
            raise self._error("read", name, error) from None
        except (aiohttp.ClientError, TimeoutError, OSError) as error:
            raise self._error("read", name, error) from None
        text = (config_map.data or {}).get(_DATA_KEY, "")
        try:
            record = record_from_json(text)
        except RecordFormatError as error:
            raise RecordError(f"ConfigMap {self.namespace}/{name}: {error}") from None
        if (record.app, record.revision) != (app, revision):
            raise RecordError(
                f"ConfigMap {self.namespace}/{name} holds the record of {record.app} at "
                f"{record.revision[:12]}, not of {app} at {revision[:12]}"
            )
        return StoredRecord(record, str(config_map.metadata.resource_version or ""))

    async def write(
        self,
        record: RolloutRecord,
        resource_version: str,
        timeout: float,  # noqa: ASYNC109
    ) -> StoredRecord:
        """Create the record (``resource_version`` "") or replace the version read."""
        name = record_name(record.app, record.revision)
        metadata: dict[str, Any] = {
            "name": name,
            "namespace": self.namespace,
            "labels": {"app.kubernetes.io/managed-by": "fleet", APP_LABEL: app_label(record.app)},
            "annotations": {"fleet.dev/app": record.app, "fleet.dev/revision": record.revision},
        }
        if resource_version:
            metadata["resourceVersion"] = resource_version
        body: Any = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": metadata,
            "data": {_DATA_KEY: record_to_json(record)},
        }
        try:
            if resource_version:
                stored = await self._core.replace_namespaced_config_map(
                    name, self.namespace, body, _request_timeout=timeout
                )
            else:
                stored = await self._core.create_namespaced_config_map(
                    self.namespace, body, _request_timeout=timeout
                )
        except ApiException as error:
            if error.status == 409:
                raise RecordConflict(
                    f"ConfigMap {self.namespace}/{name} changed since it was read"
                ) from None
            raise self._error("write", name, error) from None
        except (aiohttp.ClientError, TimeoutError, OSError) as error:
            raise self._error("write", name, error) from None
        return StoredRecord(record, str(stored.metadata.resource_version or ""))

    async def prune(self, app: str, keep: int, timeout: float) -> list[str]:  # noqa: ASYNC109
        """Delete the app's records but the ``keep`` newest; the names deleted. A record
        deleted under a shard still on that revision is written again by it."""
        try:
            listed = await self._core.list_namespaced_config_map(
                self.namespace,
                label_selector=f"{APP_LABEL}={app_label(app)}",
                _request_timeout=timeout,
            )
            items = sorted(
                listed.items,
                key=lambda item: (item.metadata.creation_timestamp, item.metadata.name),
            )
            deleted = []
            for item in items[: max(0, len(items) - keep)]:
                try:
                    await self._core.delete_namespaced_config_map(
                        item.metadata.name, self.namespace, _request_timeout=timeout
                    )
                except ApiException as error:
                    if error.status != 404:  # another shard deleted it first
                        raise
                deleted.append(str(item.metadata.name))
        except ApiException as error:
            raise self._error("prune", f"records of {app}", error) from None
        except (aiohttp.ClientError, TimeoutError, OSError) as error:
            raise self._error("prune", f"records of {app}", error) from None
        return deleted

    async def peer(self, shard: str, lease: str, timeout: float) -> PeerAddress:  # noqa: ASYNC109
        """What shard ``shard``'s Lease (named ``lease``) says of its leader."""
        try:
            found = await self._leases.read_namespaced_lease(
                lease, self.namespace, _request_timeout=timeout
            )
        except ApiException as error:
            if error.status == 404:
                return PeerAddress(shard, "", "")
            raise self._error("read", f"Lease {lease}", error) from None
        except (aiohttp.ClientError, TimeoutError, OSError) as error:
            raise self._error("read", f"Lease {lease}", error) from None
        annotations = found.metadata.annotations or {}
        holder = str(getattr(found.spec, "holder_identity", None) or "")
        return PeerAddress(shard, holder, str(annotations.get(API_URL_ANNOTATION, "")))

    def _error(self, verb: str, name: str, error: BaseException) -> RecordError:
        if isinstance(error, ApiException):
            detail = f"{error.status} {error.reason}"
        else:
            detail = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
        return RecordError(f"cannot {verb} {name} in {self.namespace}: {detail}")
