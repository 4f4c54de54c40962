"""The admin endpoint of a simulated fleet: switch faults from outside the process.

A plain-HTTP server on 127.0.0.1 whose URL and bearer token are written to
``DIR/admin.json`` (mode 0600). Routes:

``GET /clusters``                        every cluster: name, url, labels, faults
``GET /clusters/{name}/faults``          the faults of one cluster
``PATCH|PUT /clusters/{name}/faults``    change them: ``{"latency": 0.2, "error_rate": 0.5,
                                         "error_code": 503, "drop_rate": 0, "down": true,
                                         "paths": ["/openapi/v3"]}``
``POST /clusters/{name}/down`` and ``/up``
``GET /requests``                        requests each cluster received so far, by client
                                         and verb: ``{"sim-1": {"kubectl": {"apply": 3}}}``
``GET /clusters/{name}/requests``        the same for one cluster (see fleet.sim.counters)
``GET /gc``                              the process's garbage collector: thresholds, frozen
                                         objects, collections by generation (fleet.sim.heap)

It lives apart from the API servers so that a cluster that is down can be brought up.
"""

from __future__ import annotations

import gc
import json
import os
import secrets
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from fleet.sim.server import SimCluster

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class AdminServer:
    def __init__(self, clusters: Mapping[str, SimCluster]) -> None:
        self.clusters = clusters
        self.token = secrets.token_urlsafe(24)
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application(middlewares=[self._auth])
        app.router.add_get("/clusters", self._list)
        app.router.add_get("/clusters/{name}/faults", self._get)
        app.router.add_route("PATCH", "/clusters/{name}/faults", self._set)
        app.router.add_put("/clusters/{name}/faults", self._set)
        app.router.add_post("/clusters/{name}/down", self._down)
        app.router.add_post("/clusters/{name}/up", self._up)
        app.router.add_get("/requests", self._all_requests)
        app.router.add_get("/clusters/{name}/requests", self._requests)
        app.router.add_get("/gc", self._gc)
        self._runner = web.AppRunner(
            app, access_log=None, handle_signals=False, shutdown_timeout=0.5
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"

    def write(self, directory: Path) -> Path:
        """Write ``admin.json`` (mode 0600) with the URL and token."""
        path = directory / "admin.json"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump({"url": self.url, "token": self.token}, handle)
        return path

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @web.middleware
    async def _auth(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if not secrets.compare_digest(
            request.headers.get("Authorization", ""), f"Bearer {self.token}"
        ):
            return web.json_response({"error": "unauthorized"}, status=401)
        return await handler(request)

    def _cluster(self, request: web.Request) -> SimCluster:
        name = request.match_info["name"]
        cluster = self.clusters.get(name)
        if cluster is None:
            raise web.HTTPNotFound(
                text=json.dumps({"error": f"no cluster named {name!r}"}),
                content_type="application/json",
            )
        return cluster

    @staticmethod
    def _describe(cluster: SimCluster) -> dict[str, Any]:
        return {
            "name": cluster.name,
            "url": cluster.url,
            "labels": cluster.labels,
            "faults": cluster.faults.to_dict(),
        }

    async def _list(self, request: web.Request) -> web.Response:
        return web.json_response([self._describe(c) for c in self.clusters.values()])

    async def _get(self, request: web.Request) -> web.Response:
        return web.json_response(self._cluster(request).faults.to_dict())

    async def _set(self, request: web.Request) -> web.Response:
        cluster = self._cluster(request)
        try:
            changes = await request.json()
            if not isinstance(changes, dict):
                raise ValueError("the body must be a JSON object")
            cluster.faults.update(changes)
        except ValueError as error:
            return web.json_response({"error": str(error)}, status=400)
        return web.json_response(cluster.faults.to_dict())

    async def _down(self, request: web.Request) -> web.Response:
        cluster = self._cluster(request)
        cluster.faults.down()
        return web.json_response(cluster.faults.to_dict())

    async def _up(self, request: web.Request) -> web.Response:
        cluster = self._cluster(request)
        cluster.faults.up()
        return web.json_response(cluster.faults.to_dict())

    async def _all_requests(self, request: web.Request) -> web.Response:
        return web.json_response({n: c.requests.to_dict() for n, c in self.clusters.items()})

    async def _requests(self, request: web.Request) -> web.Response:
        return web.json_response(self._cluster(request).requests.to_dict())

    async def _gc(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "threshold": list(gc.get_threshold()),
                "frozen": gc.get_freeze_count(),
                "generations": gc.get_stats(),
            }
        )
