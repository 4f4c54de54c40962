"""The simulator's own status controllers, writing to their cluster without HTTP.

The controllers (:mod:`fleet.sim.controllers`) are API clients so that they also run
against a real API server. Against the simulator in the same process, each of their
writes (a pod's status, a ReplicaSet's creation: several per object a user changes)
used to cost a kubernetes_asyncio request, an HTTP round trip on loopback and JSON
both ways: more than half the simulator's CPU per user write. :class:`LocalAccess`
keeps their lists and watches on HTTP (one stream per kind, shared bytes) and performs
their creates, updates and deletes by calling :class:`~fleet.sim.cluster.ClusterState`
directly, with what the HTTP layer would have added around it: the cluster's faults
(latency, errors, dropped connections, down), the request counters under the
controllers' client name, and the same errors.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import orjson
from kubernetes_asyncio import client

from fleet.sim import errors
from fleet.sim.controllers.kube import ApiError, Gone, KubeAccess, Resource
from fleet.sim.controllers.objects import Obj, name_of, namespace_of
from fleet.sim.options import DeleteOptions, WriteOptions
from fleet.sim.registry import ResourceType
from fleet.sim.server import SimCluster


class LocalAccess(KubeAccess):
    """:class:`KubeAccess` whose writes go straight to ``cluster``'s state."""

    def __init__(self, api_client: client.ApiClient, cluster: SimCluster, user: str) -> None:
        super().__init__(api_client)
        self._cluster = cluster
        self._user = user

    def _type(self, res: Resource) -> tuple[ResourceType, str]:
        group, _, version = res.api_version.rpartition("/")
        rt = self._cluster.state.registry.kind(group, res.kind)
        if rt is None:
            raise ApiError(404, "NotFound", f"the server could not find {res.kind}")
        return rt, version

    def _path(self, res: Resource, namespace: str, name: str = "", sub: str = "") -> str:
        """The URL path the same request would have had over HTTP (for ``faults.paths``)."""
        group, _, version = res.api_version.rpartition("/")
        rt = self._cluster.state.registry.kind(group, res.kind)
        if rt is None:
            return ""
        path = f"/apis/{group}/{version}" if group else f"/api/{version}"
        if rt.namespaced:
            path += f"/namespaces/{namespace}"
        return "/".join(part for part in (path, rt.plural, name, sub) if part)

    async def _enter(self, verb: str, path: str) -> None:
        """What the HTTP middlewares do before a request is handled."""
        faults = self._cluster.faults
        self._cluster.requests.add(self._user, verb)
        chosen = faults.applies_to(path)  # ``down`` is for every path, as over HTTP
        if chosen and faults.latency > 0:
            await asyncio.sleep(faults.latency)
        if faults.is_down:
            raise aiohttp.ClientConnectionError("simulated: the cluster is down")
        if not chosen:
            return
        if faults.roll(faults.drop_rate):
            raise aiohttp.ServerDisconnectedError("simulated: connection dropped")
        if faults.roll(faults.error_rate):
            raise _client_error(faults.error())

    async def create(self, res: Resource, obj: Obj, manager: str) -> Obj:
        await self._enter("create", self._path(res, namespace_of(obj)))
        rt, version = self._type(res)
        body = _copy(obj)
        try:
            return self._cluster.state.create(
                rt,
                version,
                namespace_of(obj) if rt.namespaced else "",
                body,
                WriteOptions(field_manager=manager),
            )
        except errors.ApiError as error:
            raise _client_error(error) from None

    async def replace(self, res: Resource, obj: Obj, manager: str, *, status: bool = False) -> Obj:
        path = self._path(res, namespace_of(obj), name_of(obj), "status" if status else "")
        await self._enter("update", path)
        rt, version = self._type(res)
        body = _status_body(obj) if status else _copy(obj, without_managed_fields=True)
        try:
            return self._cluster.state.update(
                rt,
                version,
                namespace_of(obj) if rt.namespaced else "",
                name_of(obj),
                body,
                WriteOptions(field_manager=manager),
                "status" if status else "",
            )
        except errors.ApiError as error:
            raise _client_error(error) from None

    async def delete(
        self, res: Resource, namespace: str, name: str, grace_period_seconds: int | None = None
    ) -> Obj:
        await self._enter("delete", self._path(res, namespace, name))
        rt, _ = self._type(res)
        try:
            result = self._cluster.state.delete(
                rt, namespace if rt.namespaced else "", name, DeleteOptions()
            )
        except errors.ApiError as error:
            raise _client_error(error) from None
        if result.removed and rt.group_resource not in {("", "pods"), ("", "namespaces")}:
            return {"kind": "Status", "apiVersion": "v1", "status": "Success"}
        obj: Obj = result.object
        return obj


def _copy(obj: Obj, without_managed_fields: bool = False) -> dict[str, Any]:
    """A private copy, as a request body would be: the state keeps and changes what it
    is given, and ``obj`` may be the controllers' cached object."""
    copied: dict[str, Any] = orjson.loads(orjson.dumps(obj))
    if without_managed_fields:
        (copied.get("metadata") or {}).pop("managedFields", None)
    return copied


_STATUS_ENVELOPE = ("name", "namespace", "resourceVersion")
"""What a write through ``/status`` reads of the body's metadata (its identity and the
resourceVersion it expects): everything else but ``status`` comes from the stored object
(:meth:`~fleet.sim.cluster.ClusterState.update`), and its managedFields from the stored
ones, as the request body's are dropped."""


def _status_body(obj: Obj) -> dict[str, Any]:
    """The body of a ``/status`` write of ``obj``: a private copy of its status inside its
    identity, not a copy of the whole object (the spec is most of it, and unread)."""
    md = obj.get("metadata")
    if not isinstance(md, dict):
        return _copy(obj, without_managed_fields=True)
    body: dict[str, Any] = {k: obj[k] for k in ("apiVersion", "kind") if k in obj}
    body["metadata"] = {k: md[k] for k in _STATUS_ENVELOPE if k in md}
    if "status" in obj:
        body["status"] = orjson.loads(orjson.dumps(obj["status"]))
    return body


def _client_error(error: errors.ApiError) -> ApiError:
    cls = Gone if error.code == 410 else ApiError
    return cls(error.code, error.reason, error.message[:500])
