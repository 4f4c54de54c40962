"""The garbage collector's settings for ``fleet sim up``, which serves hundreds of clusters
from one event loop.

Almost nothing the simulator allocates is freed by the cyclic collector: stored objects,
watch events and the status controllers' caches are freed by reference counting (full
collections found 0 to 1,400 objects each). Yet every full collection walks the whole
heap with the event loop stopped, and with Python's defaults they came every 2-17 s under
load and grew with the heap, to 1.5 s of CPU at 250 clusters (1.65 million tracked
objects): with a busy core, long enough for kubectl's fixed 10 s TLS handshake timeout to
expire on connections waiting behind them. Figures: docs/benchmarks.md.

The settings are only for the ``fleet sim up`` process; tests and fixtures that start a
:class:`~fleet.sim.fleet.SimFleet` in their own process keep the interpreter's.
"""

from __future__ import annotations

import gc

#: Container objects allocated (net of those freed) before the youngest generation is
#: collected; Python's default is 700. A request decodes and encodes objects into
#: thousands of short-lived dicts and lists: at 700, many lived just long enough to be
#: promoted, and promotions are what start a full collection. At 20,000, 60 clusters went
#: through three update rounds without one (23 before).
YOUNG_GENERATION_LIMIT = 20_000


def settle_after_startup() -> tuple[int, tuple[int, int, int]]:
    """Freeze what start-up built and collect the youngest generation less often.

    Called once every cluster serves and the controllers run: the imported modules and
    each cluster's server, routes and controllers live as long as the process (554,000
    objects at 250 clusters), so no full collection should walk them again.
    Frozen objects are still freed by reference counting. Returns the number of frozen
    objects and the thresholds now in force.
    """
    gc.collect()  # garbage of start-up is freed, not frozen
    gc.freeze()
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_GENERATION_LIMIT, middle, oldest)
    return gc.get_freeze_count(), gc.get_threshold()
