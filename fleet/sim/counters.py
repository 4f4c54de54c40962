"""Request counters of a simulated cluster, by client and verb, for benchmarks.

A real API server exports ``apiserver_request_total{verb=...}``; the simulator keeps the
same tally per cluster, split by client (the product token of the ``User-Agent``:
``kubectl``, ``OpenAPI-Generator`` for kubernetes_asyncio, ``fleet-sim-controllers``)
so that a benchmark can tell its own client's requests from the status controllers'.
Verbs are the API server's: ``get``, ``list``, ``watch``, ``create``, ``update``,
``patch``, ``apply`` (server-side apply), ``delete``, ``deletecollection``, plus
``discovery`` (``/api``, ``/apis``, ``/openapi``, ``/version``) and ``other``. A dry run
is counted apart, as ``<verb>:dry-run``. The admin endpoint serves the tallies.
"""

from __future__ import annotations

from collections import Counter, defaultdict

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from fleet.sim.paths import GroupVersionPath, parse

APPLY_PATCH = "application/apply-patch+yaml"
_WRITE_VERBS = {"POST": "create", "PUT": "update", "DELETE": "delete"}


def client_of(request: web.Request) -> str:
    """``kubectl/v1.32.4 (linux/amd64) ...`` -> ``kubectl``."""
    agent = request.headers.get("User-Agent", "")
    return agent.split("/", 1)[0].strip()[:64] or "unknown"


def verb_of(request: web.Request) -> str:
    """The API server's verb for a request (see the module docstring)."""
    path = request.path.rstrip("/") or "/"
    target = parse(path)
    if target is None or isinstance(target, GroupVersionPath):
        discovery = path in ("/api", "/apis", "/version") or path.startswith(
            ("/api/", "/apis/", "/openapi")
        )
        return "discovery" if discovery and request.method == "GET" else "other"
    method = request.method
    if method == "GET":
        watching = target.watch_prefix or request.query.get("watch") in ("true", "1")
        verb = "watch" if watching else ("get" if target.name else "list")
    elif method == "PATCH":
        apply = request.content_type == APPLY_PATCH
        verb = "apply" if apply else "patch"
    elif method == "DELETE" and not target.name:
        verb = "deletecollection"
    else:
        verb = _WRITE_VERBS.get(method, "other")
    if method in ("POST", "PUT", "PATCH", "DELETE") and "dryRun" in request.query:
        verb += ":dry-run"
    return verb


class RequestCounts:
    """Requests one cluster received: ``{client: {verb: count}}``."""

    def __init__(self) -> None:
        self._counts: defaultdict[str, Counter[str]] = defaultdict(Counter)

    def add(self, client: str, verb: str) -> None:
        self._counts[client][verb] += 1

    def to_dict(self) -> dict[str, dict[str, int]]:
        return {client: dict(verbs) for client, verbs in self._counts.items()}

    def middleware(self) -> Middleware:
        @web.middleware
        async def count(request: web.Request, handler: Handler) -> web.StreamResponse:
            self.add(client_of(request), verb_of(request))
            return await handler(request)

        return count
