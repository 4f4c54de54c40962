"""The daemon runs on uvloop (a dependency on Linux), and anyio accepts the option."""

from __future__ import annotations

import asyncio

import anyio
import anyio.lowlevel

from fleet.adapters.eventloop import daemon_loop_options


def test_the_daemon_loop_is_uvloop() -> None:
    options = daemon_loop_options()
    assert options == {"use_uvloop": True}

    async def loop_module() -> str:
        await anyio.lowlevel.checkpoint()
        return type(asyncio.get_running_loop()).__module__

    assert anyio.run(loop_module, backend="asyncio", backend_options=options).startswith("uvloop")
