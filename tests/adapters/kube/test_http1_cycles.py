"""A closed connection is freed when it closes, not left to the garbage collector.

The daemon's heap at 1,000 clusters is millions of objects, so Python starts a full
collection rarely, and a connection kept alive only by a reference cycle (the parser's
callbacks point back at the protocol, the protocol at its TLS transport) would hold
uvloop's 256 KiB read buffer and OpenSSL's state until one comes.
"""

from __future__ import annotations

import gc
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import anyio
import httptools
import pytest

from fleet.adapters.kube.http1 import LeanPool, LineFeed, Origin, _Exchange
from fleet.sim.fleet import SimFleet
from tests.adapters.kube.test_http1 import anyio_backend  # noqa: F401 (both loops)

pytestmark = pytest.mark.anyio


@contextmanager
def garbage_kept() -> Iterator[list[object]]:
    """Collector off inside; on leaving, what only a collection could free, by type."""
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    found: list[object] = []
    try:
        yield found
        gc.collect()
        found.extend(gc.garbage)
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()


def client_side(garbage: list[object]) -> list[str]:
    kinds = (_Exchange, LineFeed, httptools.HttpResponseParser)
    return sorted(
        type(thing).__name__
        for thing in garbage
        if isinstance(thing, kinds) or (isinstance(thing, ssl.SSLObject) and not thing.server_side)
    )


async def test_requests_and_watches_leave_no_cycles_behind(tmp_path: Path) -> None:
    """Three connections for parallel requests, a watch read to its end (its connection
    goes back to the pool) and a watch dropped half-way, then the pool closed: none of
    them, nor their TLS objects, waits for the collector."""
    async with SimFleet.start(tmp_path / "sim", names=["one"], controllers=False) as fleet:
        cluster = fleet.clusters["one"]
        context = ssl.create_default_context(cafile=str(cluster.ca_file))
        auth = {"Authorization": f"Bearer {cluster.token}", "Accept": "application/json"}
        with garbage_kept() as garbage:
            pool = LeanPool(Origin.of(cluster.url), ssl_context=context)
            version = pool.head("GET", "/version", "", auth)

            async def ask() -> None:
                await pool.request(version, None, within=5, connect_within=5, idempotent=True)

            async with anyio.create_task_group() as group:
                for _ in range(3):
                    group.start_soon(ask)
            assert pool.open_connections == 3
            ended = pool.head("GET", "/api/v1/namespaces", "watch=true&timeoutSeconds=1", auth)
            feed = await pool.stream(ended, idle_timeout=10, connect_within=5, max_line=1 << 21)
            with anyio.fail_after(10):
                assert [line async for line in feed]
            feed.close()
            dropped = pool.head("GET", "/api/v1/namespaces", "watch=true", auth)
            feed = await pool.stream(dropped, idle_timeout=10, connect_within=5, max_line=1 << 21)
            await feed.__anext__()
            feed.close()
            pool.close()
            for _ in range(20):  # connection_lost comes a loop turn or two later
                await anyio.sleep(0.01)
        assert context.session_stats()["connect"] >= 3
        assert client_side(garbage) == []
