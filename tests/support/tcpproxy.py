"""A TCP proxy on loopback that a test can cut, to partition one client from a server.

``cut()`` is a network partition as a client meets it: open connections go silent (bytes
are swallowed, nothing comes back) and new ones are accepted but never answered, so a
request hangs until its own timeout, rather than failing at once. ``heal()`` ends it.
Bytes are forwarded untouched (TLS passes through end to end).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from anyio.abc import SocketStream


class TcpProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self.partitioned = False
        self.connections = 0
        self._healed = anyio.Event()

    def cut(self) -> None:
        self.partitioned = True
        self._healed = anyio.Event()

    def heal(self) -> None:
        self.partitioned = False
        self._healed.set()

    async def _pipe(self, source: SocketStream, sink: SocketStream) -> None:
        try:
            async for chunk in source:
                while self.partitioned:  # swallowed: a partition answers nothing
                    await self._healed.wait()
                    chunk = b""
                if chunk:
                    await sink.send(chunk)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
            pass
        finally:
            await sink.aclose()

    async def _serve(self, client: SocketStream) -> None:
        self.connections += 1
        async with client:
            while self.partitioned:
                await self._healed.wait()
            try:
                upstream = await anyio.connect_tcp(*self.target)
            except OSError:
                return
            async with upstream, anyio.create_task_group() as tasks:
                tasks.start_soon(self._pipe, client, upstream)
                tasks.start_soon(self._pipe, upstream, client)


@asynccontextmanager
async def tcp_proxy(target_host: str, target_port: int) -> AsyncIterator[TcpProxy]:
    proxy = TcpProxy(target_host, target_port)
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    proxy.port = int(listener.extra(anyio.abc.SocketAttribute.local_port))
    async with listener, anyio.create_task_group() as tasks:
        tasks.start_soon(listener.serve, proxy._serve)
        try:
            yield proxy
        finally:
            tasks.cancel_scope.cancel()
