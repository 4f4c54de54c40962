"""The controllers' only door to the API server: kubernetes_asyncio's typed API classes.

Every call asks for the raw response (``_preload_content=False``) and works with JSON
dicts: generated models would drop fields they do not know and cost a conversion per
watch event, and some responses (a Binding answered with a Status) do not fit the model
the generator expected. Non-2xx answers become :class:`ApiError` with the server's
Status reason. Watch streams are read line by line here rather than through
``kubernetes_asyncio.watch.Watch``, which builds a throwaway ApiClient per stream,
converts each event into models, and retries a 410 with the same stale
resourceVersion; the informers need the raw events and to re-list on 410 themselves.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any

import aiohttp
from kubernetes_asyncio import client

from fleet.sim.controllers.objects import Obj, name_of, namespace_of
from fleet.sim.store import loads

REQUEST_TIMEOUT = 30.0


@dataclass(frozen=True, slots=True)
class Resource:
    kind: str
    api_version: str
    api_class: str
    snake: str
    namespaced: bool = True


RESOURCES = {
    r.kind: r
    for r in (
        Resource("Pod", "v1", "CoreV1Api", "pod"),
        Resource("Service", "v1", "CoreV1Api", "service"),
        Resource("PersistentVolumeClaim", "v1", "CoreV1Api", "persistent_volume_claim"),
        Resource("PersistentVolume", "v1", "CoreV1Api", "persistent_volume", namespaced=False),
        Resource("Deployment", "apps/v1", "AppsV1Api", "deployment"),
        Resource("ReplicaSet", "apps/v1", "AppsV1Api", "replica_set"),
        Resource("StatefulSet", "apps/v1", "AppsV1Api", "stateful_set"),
        Resource("DaemonSet", "apps/v1", "AppsV1Api", "daemon_set"),
        Resource("Job", "batch/v1", "BatchV1Api", "job"),
    )
}


class ApiError(Exception):
    """A non-2xx answer from the API server."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message


class Gone(ApiError):
    """410: the resourceVersion is too old to resume from; list again."""


def _error(status: int, body: bytes | str) -> ApiError:
    reason, message = "", body if isinstance(body, str) else body.decode(errors="replace")
    try:
        parsed = json.loads(body)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        reason = str(parsed.get("reason") or "")
        message = str(parsed.get("message") or message)
    cls = Gone if status == 410 else ApiError
    return cls(status, reason, message[:500])


async def _json(response: aiohttp.ClientResponse) -> Obj:
    try:
        body = await response.read()
    finally:
        response.release()
    if not 200 <= response.status < 300:
        raise _error(response.status, body)
    parsed = loads(body) if body else {}
    return parsed if isinstance(parsed, dict) else {}


def _without_managed_fields(obj: Obj) -> Obj:
    """``obj`` to send in an update: an API server keeps the stored ``managedFields``
    when an update has none, so they would only cost encoding and decoding (they are
    often most of the object)."""
    metadata = obj.get("metadata")
    if not isinstance(metadata, dict) or "managedFields" not in metadata:
        return obj
    return {**obj, "metadata": {k: v for k, v in metadata.items() if k != "managedFields"}}


class KubeAccess:
    """List, watch and write the kinds in :data:`RESOURCES` through one ApiClient."""

    def __init__(self, api_client: client.ApiClient) -> None:
        self._apis: dict[str, Any] = {
            name: getattr(client, name)(api_client)
            for name in ("CoreV1Api", "AppsV1Api", "BatchV1Api")
        }

    def _method(self, res: Resource, verb: str, scope: str, suffix: str = "") -> Any:
        api = self._apis[res.api_class]
        if not res.namespaced:
            return getattr(api, f"{verb}_{res.snake}{suffix}")
        if scope == "all":
            return getattr(api, f"{verb}_{res.snake}_for_all_namespaces")
        return getattr(api, f"{verb}_namespaced_{res.snake}{suffix}")

    def _scoped(self, res: Resource, namespace: str | None) -> tuple[Any, tuple[str, ...]]:
        if res.namespaced and namespace:
            return self._method(res, "list", "ns"), (namespace,)
        return self._method(res, "list", "all"), ()

    async def list(self, res: Resource, namespace: str | None) -> tuple[list[Obj], str]:
        """All objects (following ``continue``) and the list's resourceVersion."""
        method, args = self._scoped(res, namespace)
        items: list[Obj] = []
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"limit": 500, "_preload_content": False}
            if token:
                kwargs["_continue"] = token
            page = await _json(await method(*args, **kwargs, _request_timeout=REQUEST_TIMEOUT))
            for item in page.get("items") or []:
                item.setdefault("apiVersion", res.api_version)
                item.setdefault("kind", res.kind)
                items.append(item)
            meta = page.get("metadata") or {}
            token = meta.get("continue")
            if not token:
                return items, str(meta.get("resourceVersion") or "")

    async def watch(
        self, res: Resource, namespace: str | None, resource_version: str, seconds: int
    ) -> AsyncGenerator[Obj, None]:
        """Watch events from ``resource_version`` until the server ends the stream.

        Yields ``{"type": ..., "object": ...}``; an ERROR event raises :class:`ApiError`
        (:class:`Gone` for 410).
        """
        method, args = self._scoped(res, namespace)
        response = await method(
            *args,
            watch=True,
            resource_version=resource_version,
            allow_watch_bookmarks=True,
            timeout_seconds=seconds,
            _preload_content=False,
            _request_timeout=aiohttp.ClientTimeout(
                total=None, sock_connect=REQUEST_TIMEOUT, sock_read=seconds + REQUEST_TIMEOUT
            ),
        )
        try:
            if not 200 <= response.status < 300:
                raise _error(response.status, await response.read())
            async for line in response.content:
                if not line.strip():
                    continue
                event = loads(line)
                obj = event.get("object") or {}
                if event.get("type") == "ERROR":
                    raise _error(int(obj.get("code") or 500), json.dumps(obj))
                if isinstance(obj, dict):
                    obj.setdefault("apiVersion", res.api_version)
                    obj.setdefault("kind", res.kind)
                yield event
        finally:
            response.close()

    async def create(self, res: Resource, obj: Obj, manager: str) -> Obj:
        method = self._method(res, "create", "ns")
        args: tuple[Any, ...] = (namespace_of(obj), obj) if res.namespaced else (obj,)
        return await _json(
            await method(
                *args,
                field_manager=manager,
                _preload_content=False,
                _request_timeout=REQUEST_TIMEOUT,
            )
        )

    async def replace(self, res: Resource, obj: Obj, manager: str, *, status: bool = False) -> Obj:
        suffix = "_status" if status else ""
        method = self._method(res, "replace", "ns", suffix)
        obj = _without_managed_fields(obj)
        args: tuple[Any, ...] = (
            (name_of(obj), namespace_of(obj), obj) if res.namespaced else (name_of(obj), obj)
        )
        return await _json(
            await method(
                *args,
                field_manager=manager,
                _preload_content=False,
                _request_timeout=REQUEST_TIMEOUT,
            )
        )

    async def delete(
        self, res: Resource, namespace: str, name: str, grace_period_seconds: int | None = None
    ) -> Obj:
        method = self._method(res, "delete", "ns")
        args: tuple[str, ...] = (name, namespace) if res.namespaced else (name,)
        kwargs: dict[str, Any] = {"_preload_content": False, "_request_timeout": REQUEST_TIMEOUT}
        if grace_period_seconds is not None:
            kwargs["grace_period_seconds"] = grace_period_seconds
        return await _json(await method(*args, **kwargs))

    async def bind(self, namespace: str, name: str, node: str, manager: str) -> None:
        body = {
            "apiVersion": "v1",
            "kind": "Binding",
            "metadata": {"name": name, "namespace": namespace},
            "target": {"apiVersion": "v1", "kind": "Node", "name": node},
        }
        core = self._apis["CoreV1Api"]
        await _json(
            await core.create_namespaced_pod_binding(
                name,
                namespace,
                body,
                field_manager=manager,
                _preload_content=False,
                _request_timeout=REQUEST_TIMEOUT,
            )
        )
