"""The renderer a daemon or a command uses, bounded by the daemon settings.

One :class:`~fleet.adapters.render.Renderer` per process: its cache outlives config
reloads, and its render processes (``settings.render.workers`` of them, started on
demand) end when this process exits.
"""

from __future__ import annotations

import atexit

from fleet.adapters.render import Renderer
from fleet.adapters.render.isolation import RenderPool
from fleet.adapters.render.limits import RenderLimits
from fleet.config import Settings


def render_limits(settings: Settings) -> RenderLimits:
    """The adapter's view of ``settings.render``."""
    render = settings.render
    return RenderLimits(
        max_file_bytes=render.max_file_size,
        max_rendered_bytes=render.max_rendered_size,
        max_objects=render.max_objects,
        cpu_seconds=render.cpu_time.total_seconds(),
        memory_bytes=render.memory,
        timeout_seconds=render.timeout.total_seconds(),
    )


def renderer_for(settings: Settings) -> Renderer:
    """A renderer with its own pool of render processes, stopped at exit."""
    pool = RenderPool(settings.render.workers)
    atexit.register(pool.close)
    return Renderer(limits=render_limits(settings), pool=pool)
