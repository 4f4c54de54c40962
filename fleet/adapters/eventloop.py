"""The daemon's event loop: uvloop's where it is installed, asyncio's own otherwise.

The daemon is mostly network I/O: a TLS request per object applied or dry-run, a watch
stream per kind per cluster, the API's polls. asyncio's loop, socket transports and TLS
layer are Python; uvloop's are C (libuv), and at a hundred clusters they took a sixth
less of the daemon's CPU for the same sync (docs/benchmarks.md, "CPU per sync").
Everything above the loop (anyio, aiohttp, kubernetes_asyncio) is unchanged.
"""

from __future__ import annotations

import importlib.util
from typing import Any


def daemon_loop_options() -> dict[str, Any]:
    """anyio's ``backend_options`` for the daemon's ``anyio.run``."""
    return {"use_uvloop": importlib.util.find_spec("uvloop") is not None}
