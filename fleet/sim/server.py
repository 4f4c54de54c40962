"""One simulated cluster on the network: an aiohttp app on its own HTTPS port.

The app is served through ``loop.create_server`` with aiohttp's request handler
factory rather than a ``TCPSite``, so that ``down()`` can close the listening socket and
cut open connections at once, and ``up()`` can listen on the same port again. A second,
plain-HTTP listener on loopback serves the same app to the in-process status
controllers (:attr:`SimCluster.internal_url`). Authentication is a bearer token per
cluster (401 otherwise); a second, read-only token gets 403 Forbidden on writes, as an
RBAC-limited user would.
"""

from __future__ import annotations

import asyncio
import secrets
import socket
import ssl
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from fleet.sim import collector, errors, wire
from fleet.sim.api import ApiServer
from fleet.sim.cluster import ClusterState
from fleet.sim.counters import RequestCounts
from fleet.sim.faults import Faults, middleware
from fleet.sim.store import Entry

_PUBLIC_PATHS = frozenset({"/healthz", "/livez", "/readyz"})
VIEWER_USER = "system:serviceaccount:default:fleet-sim-viewer"


def _auth(token: str, viewer_token: str) -> Middleware:
    expected = f"Bearer {token}"
    viewer = f"Bearer {viewer_token}"

    @web.middleware
    async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
        given = request.headers.get("Authorization", "")
        if request.path in _PUBLIC_PATHS or secrets.compare_digest(given, expected):
            return await handler(request)
        if secrets.compare_digest(given, viewer):
            if request.method in ("GET", "HEAD"):
                return await handler(request)
            return wire.error_response(_forbidden_write(request))
        return wire.error_response(errors.unauthorized())

    return authenticate


def _forbidden_write(request: web.Request) -> errors.ApiError:
    parts = [p for p in request.path.split("/") if p]
    group = parts[1] if parts[:1] == ["apis"] and len(parts) > 1 else ""
    rest = parts[2:] if parts[:1] == ["api"] else parts[3:]
    namespace = ""
    if len(rest) >= 3 and rest[0] == "namespaces":
        namespace, rest = rest[1], rest[2:]
    resource = rest[0] if rest else ""
    name = rest[1] if len(rest) > 1 else ""
    verb = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}.get(
        request.method, ""
    )
    where = f' in the namespace "{namespace}"' if namespace else " at the cluster scope"
    return errors.forbidden(
        resource,
        group,
        name,
        f'User "{VIEWER_USER}" cannot {verb} resource "{resource}" in API group "{group}"{where}',
    )


class SimCluster:
    """A simulated cluster: API semantics, HTTP server, credentials and faults."""

    def __init__(
        self,
        name: str,
        labels: Mapping[str, str] | None = None,
        latency: float = 0.0,
        watch_window: int = 1000,
        bookmark_interval: float = 60.0,
    ) -> None:
        self.name = name
        self.labels: dict[str, str] = dict(labels or {})
        self.token = secrets.token_urlsafe(24)
        self.viewer_token = secrets.token_urlsafe(24)
        self.faults = Faults(latency=latency)
        self.requests = RequestCounts()
        self.state = ClusterState(name, watch_window=watch_window)
        collector.install(self.state)
        self.port = 0
        self.ca_file = Path()
        self.kubeconfig_path = Path()
        self._api = ApiServer(self.state, bookmark_interval=bookmark_interval)
        self._runner: web.AppRunner | None = None
        #: The HTTPS listener clients use, and a plain-HTTP one on loopback for the
        #: simulator's own status controllers (see :attr:`internal_url`).
        self._servers: dict[bool, asyncio.Server] = {}
        self.internal_port = 0
        self._ssl: ssl.SSLContext | None = None
        self._pending: set[asyncio.Task[None]] = set()
        self.faults._switch = self._switch

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def internal_url(self) -> str:
        """Plain HTTP on 127.0.0.1, same API, same token, same faults.

        For the status controllers running in this process: TLS would cost each of their
        watch connections about 75 KiB on each end (hundreds of MiB for a large fleet)
        and the CPU of encrypting traffic that never leaves the process.
        """
        return f"http://127.0.0.1:{self.internal_port}"

    # -------------------------------------------------------------- lifecycle

    async def start(self, ssl_context: ssl.SSLContext, port: int = 0) -> None:
        app = web.Application(
            middlewares=[
                self.requests.middleware(),
                middleware(self.faults),
                _auth(self.token, self.viewer_token),
            ],
            client_max_size=4 * 1024 * 1024,
            handler_args={"max_field_size": 65536},
        )
        app.router.add_route("*", "/{tail:.*}", self._api.handle)
        self._runner = web.AppRunner(
            app, access_log=None, handle_signals=False, shutdown_timeout=0.05
        )
        await self._runner.setup()
        self._ssl = ssl_context
        sock = self._listen(port)
        self.port = sock.getsockname()[1]
        self._api.address = f"127.0.0.1:{self.port}"
        await self._serve(sock, tls=True)
        internal = self._listen(0)
        self.internal_port = internal.getsockname()[1]
        await self._serve(internal, tls=False)

    def _listen(self, port: int) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        sock.listen(128)
        sock.setblocking(False)
        return sock

    async def _serve(self, sock: socket.socket, tls: bool) -> None:
        assert self._runner is not None
        assert self._runner.server is not None
        loop = asyncio.get_running_loop()
        self._servers[tls] = await loop.create_server(
            self._runner.server, sock=sock, ssl=self._ssl if tls else None, backlog=128
        )

    def _cut_connections(self) -> None:
        """Abort every open connection (TLS handshakes in progress included)."""
        if self._runner is None or self._runner.server is None:
            return
        for handler in list(self._runner.server.connections):
            transport = handler.transport
            if transport is not None:
                transport.abort()

    def _switch(self, on: bool) -> None:
        if not on:
            self._close_listeners()
            self._cut_connections()
            return
        if self._runner is None or self._servers:
            return
        for tls, port in ((True, self.port), (False, self.internal_port)):
            sock = self._listen(port)  # listening at once: clients queue until served
            task = asyncio.get_running_loop().create_task(self._serve(sock, tls))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

    def _close_listeners(self) -> None:
        for server in self._servers.values():
            server.close()
        self._servers.clear()

    async def stop(self) -> None:
        for task in list(self._pending):
            await task
        self._close_listeners()
        self._cut_connections()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # ------------------------------------------------------ store, for tests

    def get_object(
        self, group: str, plural: str, namespace: str, name: str
    ) -> dict[str, Any] | None:
        """The stored object, decoded (a copy), or None."""
        entry = self.state.store.get((group, plural), namespace, name)
        return entry.obj() if entry else None

    def list_objects(
        self, group: str, plural: str, namespace: str | None = None
    ) -> list[dict[str, Any]]:
        return [e.obj() for e in self.state.store.entries((group, plural), namespace)]

    def entries(self, group: str, plural: str) -> list[Entry]:
        return self.state.store.entries((group, plural))

    @property
    def resource_version(self) -> int:
        return self.state.store.rv
