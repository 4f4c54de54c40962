"""The request router of one simulated API server.

One catch-all route: resources appear and disappear with CRDs, so the path is parsed
per request (:mod:`fleet.sim.paths`) and looked up in the cluster's registry, and the
verb is chosen from the method and the query (``watch``) as the real server does.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from aiohttp import web

from fleet.sim import discovery, errors, openapi, openapi_proto, wire
from fleet.sim.cluster import ClusterState
from fleet.sim.paths import GroupVersionPath, Target, parse
from fleet.sim.reads import Reader
from fleet.sim.registry import ResourceType
from fleet.sim.store import dumps
from fleet.sim.writes import Writer, scale_of

log = logging.getLogger(__name__)


class ApiServer:
    """Serves the Kubernetes REST API of one :class:`ClusterState`."""

    def __init__(
        self, cluster: ClusterState, address: str = "127.0.0.1:0", bookmark_interval: float = 60.0
    ) -> None:
        self.cluster = cluster
        self.address = address
        self.reader = Reader(cluster, bookmark_interval)
        self.writer = Writer(cluster)
        self._openapi_cache: dict[str, tuple[int, bytes]] = {}

    async def handle(self, request: web.Request) -> web.StreamResponse:
        try:
            return await self._dispatch(request)
        except errors.ApiError as error:
            return wire.error_response(error)
        except (asyncio.CancelledError, ConnectionResetError):
            raise
        except Exception as error:  # a bug in the simulator must still answer like a server
            log.exception("sim: internal error on %s %s", request.method, request.path)
            return wire.error_response(errors.internal(repr(error)))

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        path = request.path.rstrip("/") or "/"
        if request.method == "GET":
            special = self._special(request, path)
            if special is not None:
                return special
        target = parse(path)
        if target is None:
            raise errors.no_such_path()
        if isinstance(target, GroupVersionPath):
            if request.method != "GET":
                raise errors.method_not_allowed(request.method)
            doc = discovery.api_resource_list(self.cluster.registry, target.group, target.version)
            if doc is None:
                raise errors.no_such_path()
            return wire.respond(200, doc)
        return await self._resource(request, target)

    def _special(self, request: web.Request, path: str) -> web.Response | None:
        registry = self.cluster.registry
        accept = request.headers.get("Accept", "")
        if path == "/version":
            return wire.respond(200, discovery.version())
        if path in ("/healthz", "/readyz", "/livez"):
            return web.Response(text="ok")
        if path in ("/api", "/apis"):
            media = discovery.wants_aggregated(accept)
            if media is not None:
                return wire.respond(
                    200, discovery.aggregated(registry, path == "/api", media), media
                )
            if path == "/api":
                return wire.respond(200, discovery.api_versions(self.address))
            return wire.respond(200, discovery.api_group_list(registry))
        if path.startswith("/apis/") and path.count("/") == 2:
            group_doc = discovery.api_group(registry, path.split("/")[2])
            if group_doc is None:
                raise errors.no_such_path()
            return wire.respond(200, group_doc)
        if path == "/openapi/v2":
            media = openapi_proto.v2_media(accept)
            if media is None:
                raise errors.not_acceptable(accept, openapi_proto.JSON, openapi_proto.V2_PROTOBUF)
            if media == openapi_proto.JSON:
                return self._cached("v2", lambda: dumps(openapi.v2(registry)))
            return self._cached(
                "v2.pb", lambda: openapi_proto.v2_document(openapi.v2(registry)), media
            )
        if path == "/openapi/v3":  # the index is JSON whatever is asked, as on a real server
            return self._cached("v3", lambda: dumps(openapi.v3_root(registry)))
        if path.startswith("/openapi/v3/"):
            if openapi_proto.v3_media(accept) is None:
                raise errors.not_acceptable(accept, openapi_proto.JSON)
            gv = path[len("/openapi/v3/") :]
            parts = gv.split("/")
            if parts[0] == "api" and len(parts) == 2:
                group, version = "", parts[1]
            elif parts[0] == "apis" and len(parts) == 3:
                group, version = parts[1], parts[2]
            else:
                raise errors.no_such_path()
            if not registry.in_group_version(group, version):
                raise errors.no_such_path()
            return self._cached(
                gv, lambda: dumps(openapi.v3_group_version(registry, group, version))
            )
        return None

    def _cached(self, key: str, build: Callable[[], bytes], media: str = wire.JSON) -> web.Response:
        generation = self.cluster.registry.generation
        cached = self._openapi_cache.get(key)
        if cached is None or cached[0] != generation:
            cached = (generation, build())
            self._openapi_cache[key] = cached
        return wire.respond(200, cached[1], media)

    def _resource_type(self, target: Target) -> ResourceType:
        rt = self.cluster.registry.resource(target.group, target.version, target.plural)
        if rt is None:
            raise errors.no_such_path()
        if target.subresource:
            allowed = {"status"} if rt.status else set()
            if rt.scale:
                allowed.add("scale")
            if rt.group_resource == ("", "namespaces"):
                allowed.add("finalize")
            if rt.group_resource == ("", "pods"):
                allowed.add("log")
            if target.subresource not in allowed:
                raise errors.no_such_path()
        if not rt.namespaced and target.namespace is not None:
            raise errors.no_such_path()
        return rt

    async def _resource(self, request: web.Request, target: Target) -> web.StreamResponse:
        rt = self._resource_type(target)
        method = request.method
        version = target.version
        namespace = target.namespace or ""
        watching = target.watch_prefix or wire.parse_bool(request.query.get("watch"))
        if not target.name:
            if method == "GET":
                ns = target.namespace if rt.namespaced else None
                if watching:
                    return await self.reader.watch(request, rt, version, ns)
                return self.reader.collection(request, rt, version, ns)
            if method == "POST":
                if rt.namespaced and target.namespace is None:
                    raise errors.method_not_allowed(method)
                return await self.writer.create(request, rt, version, namespace)
            if method == "DELETE":
                return await self.writer.delete_collection(
                    request, rt, version, target.namespace if rt.namespaced else None, self.reader
                )
            raise errors.method_not_allowed(method)
        if rt.namespaced and target.namespace is None:
            raise errors.no_such_path()
        if method == "GET":
            if watching:
                return await self.reader.watch(request, rt, version, target.namespace, target.name)
            if target.subresource == "scale":
                entry = self.cluster.get(rt, namespace, target.name)
                return wire.respond(200, scale_of(rt, entry.obj()))
            if target.subresource == "log":
                self.cluster.get(rt, namespace, target.name)
                # Simulated containers run nothing, so they have printed nothing.
                return web.Response(text="", content_type="text/plain")
            return self.reader.get(request, rt, version, namespace, target.name)
        if target.subresource == "log":
            raise errors.method_not_allowed(method)
        if method == "PUT":
            return await self.writer.replace(
                request, rt, version, namespace, target.name, target.subresource
            )
        if method == "PATCH":
            return await self.writer.patch(
                request, rt, version, namespace, target.name, target.subresource
            )
        if method == "DELETE" and not target.subresource:
            return await self.writer.delete(request, rt, namespace, target.name)
        raise errors.method_not_allowed(method)
