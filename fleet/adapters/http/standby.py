"""What a standby instance answers on the API address while another instance leads.

A standby holds no history open (the next leader restores it from the replica, over
its own copy), so it answers only who leads: ``/healthz`` is ok (the process is fine),
``/readyz`` is 503 with ``standby: leader is NAME`` (it is not the one to ask), and
``/api/v1/leader`` says the same as JSON, without a token (it names hosts, nothing else).
Every other path is 503 naming the leader, so a client can go and ask it.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from aiohttp import web

#: (identity of this instance, the leader as last seen or "", the Lease's place).
LeaderView = Callable[[], tuple[str, str, str]]


def standby_line(leader: str) -> str:
    return f"standby: leader is {leader}" if leader else "standby: no leader seen yet"


def build_standby_app(view: LeaderView) -> web.Application:
    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def readyz(_: web.Request) -> web.Response:
        return web.Response(text=standby_line(view()[1]) + "\n", status=503)

    async def leader(_: web.Request) -> web.Response:
        identity, current, lease = view()
        body = {"role": "standby", "identity": identity, "leader": current, "lease": lease}
        return web.Response(text=json.dumps(body), content_type="application/json")

    async def other(_: web.Request) -> web.Response:
        body = {"error": standby_line(view()[1]) + ": ask the leader"}
        return web.Response(text=json.dumps(body), status=503, content_type="application/json")

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/api/v1/leader", leader)
    app.router.add_route("*", "/{tail:.*}", other)
    return app
