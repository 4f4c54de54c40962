"""A smaller TLS read buffer for processes that hold many TLS connections.

asyncio gives every TLS connection a read buffer of ``SSLProtocol.max_size`` bytes
(256 KiB), zeroed. The daemon holds a watch and a small pool per cluster, and the
simulator a watch per controller, so with a hundred clusters the buffers alone take
hundreds of MiB. A TLS record is at most 16 KiB, so 32 KiB loses nothing.
"""

from __future__ import annotations

import asyncio.sslproto


def lean_tls_buffers(size: int = 32 * 1024) -> None:
    """Shrink the buffer for every TLS connection this process opens from now on."""
    if hasattr(asyncio.sslproto.SSLProtocol, "max_size"):
        asyncio.sslproto.SSLProtocol.max_size = size
