"""One cluster's API, as the runtime needs it: apply, dry-run, get, list, delete, watch.

Built on kubernetes_asyncio's ApiClient for auth, TLS and HTTP; kinds are mapped to
resource paths by reading only the group-versions in use (fleet.adapters.kube.discovery).
Every write is server-side apply with field manager ``fleet``. Every request has a
timeout (aiohttp's default is none), goes through the cluster's token bucket, and is
reported to an optional observer (metrics and traces hook in there).
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterable, AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp
import anyio
from kubernetes_asyncio import client as kube_client
from multidict import CIMultiDict

from fleet.adapters.kube.connection import ClusterEndpoint, new_transport
from fleet.adapters.kube.discovery import ResourceInfo, group_version_path, served_kinds
from fleet.adapters.kube.errors import KindNotServed, KubeError, from_response, unreachable
from fleet.adapters.kube.http1 import LeanPool, LineFeed
from fleet.adapters.kube.ratelimit import TokenBucket
from fleet.adapters.kube.transport import READ_BUFFER
from fleet.adapters.kube.wire import decode, encode
from fleet.model.refs import ObjectRef
from fleet.model.tracking import FIELD_MANAGER

#: (cluster, verb, status code, seconds) after every request; status 0 = unreachable.
RequestObserver = Callable[[str, str, int, float], None]


@dataclass(frozen=True, slots=True)
class Limits:
    qps: float = 50.0
    burst: int = 100
    request_timeout: float = 30.0
    #: Requests in flight at once (watches not counted: each holds its own connection).
    #: Three keep the qps limit the binding one up to ~60 ms round trips (qps x RTT);
    #: each connection more costs a TLS handshake per burst and heap that stays.
    connections: int = 3


class ClusterClient:
    """The API of one cluster. Use ``async with ClusterClient.connect(...)``."""

    def __init__(
        self,
        endpoint: ClusterEndpoint,
        api: kube_client.ApiClient,
        limits: Limits,
        observer: RequestObserver | None,
        pool: LeanPool | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.name = endpoint.name
        self._api = api
        #: Requests and watches go here when set (no proxy); else by the ApiClient's session.
        self._pool = pool
        self._limits = limits
        self._bucket = TokenBucket(limits.qps, limits.burst)
        # fast_acquire: a free slot is taken without a trip round the event loop (anyio's
        # default yields at every acquire, one more loop iteration per request).
        self._slots = anyio.Semaphore(limits.connections, fast_acquire=True)
        self._observer = observer
        #: apiVersion -> kind -> resource, for the group-versions read so far.
        self._served: dict[str, dict[str, ResourceInfo]] = {}

    @classmethod
    async def connect(
        cls,
        endpoint: ClusterEndpoint,
        *,
        limits: Limits | None = None,
        observer: RequestObserver | None = None,
    ) -> ClusterClient:
        """Build the client; no request is made, so an unreachable cluster still connects."""
        api, pool = await new_transport(endpoint)
        return cls(endpoint, api, limits or Limits(), observer, pool)

    @property
    def max_in_flight(self) -> int:
        """Requests this client sends at once; more callers wait for a slot."""
        return self._limits.connections

    async def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
        await self._api.close()

    async def __aenter__(self) -> ClusterClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- discovery -------------------------------------------------------------------

    async def resource(self, api_version: str, kind: str) -> ResourceInfo:
        """Where ``kind`` of ``api_version`` is served; raises KindNotServed.

        A kind missing from the cached list is asked for again before it is called
        missing: a CRD may have added it since (misses are never cached).
        """
        served = self._served.get(api_version)
        if served is None or kind not in served:
            served = await self._read_group_version(api_version)
        info = served.get(kind)
        if info is None:
            raise KindNotServed(self.name, api_version, kind)
        return info

    async def _read_group_version(self, api_version: str) -> dict[str, ResourceInfo]:
        try:
            resource_list = await self._request("GET", group_version_path(api_version))
        except KubeError as error:
            if error.status == 404:
                self._served.pop(api_version, None)
                return {}
            raise
        served = served_kinds(api_version, resource_list)
        self._served[api_version] = served
        return served

    async def refresh_discovery(self) -> None:
        """Forget what is served (after CRDs changed)."""
        self._served.clear()

    # -- reads -------------------------------------------------------------------------

    async def get(self, api_version: str, ref: ObjectRef) -> dict[str, Any] | None:
        """The live object, or None when it does not exist."""
        info = await self.resource(api_version, ref.kind)
        try:
            return await self._request("GET", info.path(ref.namespace, ref.name))
        except KubeError as error:
            if error.status == 404:
                return None
            raise

    async def list_objects(
        self,
        api_version: str,
        kind: str,
        *,
        namespace: str = "",
        label_selector: str = "",
        page_size: int = 500,
    ) -> tuple[list[dict[str, Any]], str]:
        """Every object of a kind (paged), and the list's resourceVersion to watch from."""
        info = await self.resource(api_version, kind)
        items: list[dict[str, Any]] = []
        token = ""
        while True:
            query: list[tuple[str, str]] = [("limit", str(page_size))]
            if label_selector:
                query.append(("labelSelector", label_selector))
            if token:
                query.append(("continue", token))
            page = await self._request("GET", info.path(namespace), query=query)
            for item in page.get("items") or []:
                item.setdefault("apiVersion", api_version)
                item.setdefault("kind", kind)
                items.append(item)
            token = (page.get("metadata") or {}).get("continue") or ""
            if not token:
                return items, str((page.get("metadata") or {}).get("resourceVersion") or "")

    # -- writes ------------------------------------------------------------------------

    async def apply(
        self, body: Mapping[str, Any], *, dry_run: bool = False, force: bool = True
    ) -> dict[str, Any]:
        """Server-side apply as field manager ``fleet``; the object as the server has it."""
        api_version = str(body.get("apiVersion", ""))
        ref = ObjectRef.of(dict(body))
        info = await self.resource(api_version, ref.kind)
        query = [("fieldManager", FIELD_MANAGER), ("force", "true" if force else "false")]
        if dry_run:
            query.append(("dryRun", "All"))
        return await self._request(
            "PATCH",
            info.path(ref.namespace, ref.name),
            query=query,
            body=dict(body),
            content_type="application/apply-patch+yaml",
        )

    async def replace(self, body: Mapping[str, Any], *, dry_run: bool = False) -> dict[str, Any]:
        """PUT (create if missing): the Replace=true sync option."""
        api_version = str(body.get("apiVersion", ""))
        ref = ObjectRef.of(dict(body))
        info = await self.resource(api_version, ref.kind)
        query = [("fieldManager", FIELD_MANAGER)]
        if dry_run:
            query.append(("dryRun", "All"))
        live = await self.get(api_version, ref)
        if live is None:
            return await self._request(
                "POST", info.path(ref.namespace), query=query, body=dict(body)
            )
        return await self._request(
            "PUT", info.path(ref.namespace, ref.name), query=query, body=dict(body)
        )

    async def create(self, body: Mapping[str, Any], *, dry_run: bool = False) -> dict[str, Any]:
        """POST: hooks are created, never applied, so an existing one is a 409."""
        api_version = str(body.get("apiVersion", ""))
        ref = ObjectRef.of(dict(body))
        info = await self.resource(api_version, ref.kind)
        query = [("fieldManager", FIELD_MANAGER)]
        if dry_run:
            query.append(("dryRun", "All"))
        return await self._request("POST", info.path(ref.namespace), query=query, body=dict(body))

    async def merge_patch(
        self, api_version: str, ref: ObjectRef, patch: Mapping[str, Any]
    ) -> dict[str, Any]:
        """JSON merge patch (for finalizers, which fleet adds by create, not by apply)."""
        info = await self.resource(api_version, ref.kind)
        return await self._request(
            "PATCH",
            info.path(ref.namespace, ref.name),
            query=[("fieldManager", FIELD_MANAGER)],
            body=dict(patch),
            content_type="application/merge-patch+json",
        )

    async def delete(
        self,
        api_version: str,
        ref: ObjectRef,
        *,
        propagation: str = "Background",
        uid: str | None = None,
    ) -> bool:
        """Delete; False when it was already gone. ``uid`` guards against a re-created twin."""
        info = await self.resource(api_version, ref.kind)
        options: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "DeleteOptions",
            "propagationPolicy": propagation,
        }
        if uid:
            options["preconditions"] = {"uid": uid}
        try:
            await self._request("DELETE", info.path(ref.namespace, ref.name), body=options)
        except KubeError as error:
            if error.status == 404:
                return False
            raise
        return True

    # -- watch -------------------------------------------------------------------------

    async def watch(
        self,
        api_version: str,
        kind: str,
        *,
        resource_version: str,
        label_selector: str = "",
        timeout_seconds: int = 300,
    ) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        """(type, object) events from ``resource_version``, bookmarks included.

        A 410 (as an ERROR event or a response) raises KubeError(410): the caller re-lists.
        Not kubernetes_asyncio's Watch, which retries a 410 once by itself and builds a
        default ApiClient per instance: the lean pool streams it (``LeanPool.stream``), or
        the ApiClient's aiohttp session for a cluster behind a proxy.
        """
        info = await self.resource(api_version, kind)
        query = [
            ("watch", "true"),
            ("allowWatchBookmarks", "true"),
            ("resourceVersion", resource_version),
            ("timeoutSeconds", str(timeout_seconds)),
        ]
        if label_selector:
            query.append(("labelSelector", label_selector))
        await self._bucket.acquire()
        # The server ends the watch at timeoutSeconds: silent this long, it is stuck.
        silence = timeout_seconds + 30.0
        lines: AsyncIterable[bytes]
        if self._pool is None:
            response = await self._send(
                "GET", info.path(), query=query, request_timeout=silence, stream=True
            )
            lines, finish = response.content, response.release
        else:
            feed = await self._stream_via_pool(self._pool, info.path(), query, silence)
            lines, finish = feed, feed.close
        try:
            async for line in lines:
                if not line.strip():
                    continue
                event = decode(line)
                event_type = str(event.get("type", ""))
                obj = event.get("object") or {}
                if event_type == "ERROR":
                    raise from_response(self.name, int(obj.get("code") or 500), encode(obj))
                yield event_type, obj
        except (aiohttp.ClientError, OSError, TimeoutError) as error:
            raise unreachable(self.name, error) from None
        finally:
            finish()

    # -- plumbing ----------------------------------------------------------------------

    async def _request(
        self,
        method: str,
        path: str,
        *,
        query: list[tuple[str, str]] | None = None,
        body: dict[str, Any] | None = None,
        content_type: str = "application/json",
    ) -> dict[str, Any]:
        query = query or []
        async with self._slots:
            await self._bucket.acquire()
            if self._pool is None:
                raw = await self._read_via_session(method, path, query, body, content_type)
            else:
                raw = await self._read_via_pool(self._pool, method, path, query, body, content_type)
        # As aiohttp's ``response.json()`` read it: an empty answer is None.
        data: dict[str, Any] = decode(raw) if raw.strip() else None  # type: ignore[assignment]
        return data

    async def _read_via_pool(
        self,
        pool: LeanPool,
        method: str,
        path: str,
        query: list[tuple[str, str]],
        body: dict[str, Any] | None,
        content_type: str,
    ) -> bytes:
        """One request on the lean pool (see ``http1``): the answer's body, or KubeError."""
        verb = _verb(method, path, query)
        started = anyio.current_time()
        timeout = self._limits.request_timeout
        try:
            headers = await self._headers(content_type, query)
            # As aiohttp asks: an API server gzips answers past 128 KiB (large lists).
            headers["Accept-Encoding"] = "gzip"
            head = pool.head(method, path, _query_string(tuple(query)) if query else "", headers)
            payload = None if method == "GET" else b"" if body is None else encode(body)
            answer = await pool.request(
                head,
                payload,
                within=timeout,
                connect_within=min(timeout, 10.0),
                idempotent=method != "POST",
            )
        except (OSError, TimeoutError, ValueError) as error:
            # ValueError: a credential with a line break, refused before it is sent.
            self._observe(verb, 0, started)
            raise unreachable(self.name, error) from None
        self._observe(verb, answer.status, started)
        if answer.status >= 300:
            raise from_response(self.name, answer.status, answer.body, CIMultiDict(answer.headers))
        return answer.body

    async def _stream_via_pool(
        self, pool: LeanPool, path: str, query: list[tuple[str, str]], silence: float
    ) -> LineFeed:
        """A watch holding a connection of the lean pool (an idle one if any), its head
        read; headers as ``_read_via_pool`` sends them, but no gzip (events are small and
        come one by one).
        """
        verb = _verb("GET", path, query)
        started = anyio.current_time()
        try:
            headers = await self._headers("application/json", query)
            head = pool.head("GET", path, _query_string(tuple(query)), headers)
            feed = await pool.stream(
                head, idle_timeout=silence, connect_within=min(silence, 10.0), max_line=READ_BUFFER
            )
        except (OSError, TimeoutError, ValueError) as error:
            self._observe(verb, 0, started)
            raise unreachable(self.name, error) from None
        self._observe(verb, feed.status, started)
        if feed.status >= 300:
            feed.close()
            raise from_response(self.name, feed.status, feed.body, CIMultiDict(feed.headers))
        return feed

    async def _read_via_session(
        self,
        method: str,
        path: str,
        query: list[tuple[str, str]],
        body: dict[str, Any] | None,
        content_type: str,
    ) -> bytes:
        """One request on aiohttp's session (clusters behind a proxy)."""
        response = await self._send(
            method,
            path,
            query=query,
            body=body,
            content_type=content_type,
            request_timeout=self._limits.request_timeout,
        )
        try:
            return await response.read()
        except (aiohttp.ClientError, OSError, TimeoutError) as error:
            # The answer broke off (the server went away mid-body): no answer at all.
            raise unreachable(self.name, error) from None
        finally:
            response.release()

    async def _send(
        self,
        method: str,
        path: str,
        *,
        query: list[tuple[str, str]],
        body: dict[str, Any] | None = None,
        content_type: str = "application/json",
        request_timeout: float,
        stream: bool = False,
    ) -> aiohttp.ClientResponse:
        verb = _verb(method, path, query)
        started = anyio.current_time()
        try:
            response = await self._call(
                method,
                path,
                query,
                body,
                content_type,
                aiohttp.ClientTimeout(
                    total=None if stream else request_timeout,
                    sock_connect=min(request_timeout, 10.0),
                    # A read timeout as long as the total one could never fire first; a
                    # stream has only this one. (aiohttp re-arms it at every chunk read.)
                    sock_read=request_timeout if stream else None,
                ),
            )
        except (aiohttp.ClientError, OSError, TimeoutError) as error:
            self._observe(verb, 0, started)
            raise unreachable(self.name, error) from None
        self._observe(verb, response.status, started)
        if response.status >= 400:
            payload = await response.read()
            response.release()
            raise from_response(self.name, response.status, payload, response.headers)
        return response

    async def _call(
        self,
        method: str,
        path: str,
        query: list[tuple[str, str]],
        body: dict[str, Any] | None,
        content_type: str,
        limits: aiohttp.ClientTimeout,
    ) -> aiohttp.ClientResponse:
        """One request on the ApiClient's session, as its ``call_api`` would send it.

        The same URL, headers (its defaults and cookie, then the credentials its
        configuration gives, a token file re-read or an exec plugin's token refreshed),
        proxy and TLS server name; the body is encoded by ``wire.encode`` rather than
        walked by ``sanitize_for_serialization`` and ``json.dumps``, and nothing else
        of the generated client runs.
        """
        api = self._api
        query = list(query)
        headers = await self._headers(content_type, query)
        url = f"{api.configuration.host}{path}"
        if query:
            url += "?" + _query_string(tuple(query))
        rest = api.rest_client
        options: dict[str, Any] = {"headers": headers, "timeout": limits}
        if rest.proxy:
            options["proxy"] = rest.proxy
        if rest.proxy_headers:
            options["proxy_headers"] = rest.proxy_headers
        if rest.server_hostname:
            options["server_hostname"] = rest.server_hostname
        if method != "GET":
            options["data"] = encode(body) if body is not None else None
        response: aiohttp.ClientResponse = await rest.pool_manager.request(method, url, **options)
        return response

    async def _headers(self, content_type: str, query: list[tuple[str, str]]) -> dict[str, str]:
        """As ``call_api`` sends them: its defaults and cookie, then the credentials its
        configuration gives (a token file re-read, an exec plugin's token refreshed)."""
        api = self._api
        headers = {"Accept": "application/json", "Content-Type": content_type}
        headers.update(api.default_headers)
        if api.cookie:
            headers["Cookie"] = api.cookie
        await api.update_params_for_auth(headers, query, ["BearerToken"])
        return headers

    def _observe(self, verb: str, status: int, started: float) -> None:
        if self._observer is not None:
            self._observer(self.name, verb, status, anyio.current_time() - started)


@functools.lru_cache(maxsize=512)
def _query_string(query: tuple[tuple[str, str], ...]) -> str:
    """``urlencode``, once per query: a sync sends the same few again and again."""
    return urlencode(query)


def _verb(method: str, path: str, query: list[tuple[str, str]]) -> str:
    """The Kubernetes verb of a request, for metrics: get/list/watch/create/..."""
    params = dict(query)
    if method == "GET":
        if params.get("watch") in {"true", "1"}:
            return "watch"
        return "list" if _ends_in_plural(path) else "get"
    return {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}.get(
        method, method.lower()
    )


def _ends_in_plural(path: str) -> bool:
    parts = [p for p in path.split("/") if p]
    # /api/v1/<plural>, /api/v1/namespaces/<ns>/<plural>, /apis/<g>/<v>/<plural>, ...
    core = parts[0] == "api"
    rest = parts[2:] if core else parts[3:]
    if rest[:1] == ["namespaces"] and len(rest) >= 3:
        rest = rest[2:]
    return len(rest) == 1
