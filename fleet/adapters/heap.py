"""The daemon's memory: free C heap pages given back after a burst of work, large blocks
mapped apart from the heap (both glibc only), and the objects of startup kept out of the
garbage collector's way.

A burst of syncs passes responses, JSON text and the state of hundreds of TLS
connections through malloc. glibc returns freed memory to the system only from the top
of its heap, so one live allocation above a freed region keeps the whole region resident:
at 100 clusters, after the first sync, 22 MiB of the daemon's 227 MiB were such pages.
``malloc_trim(0)`` hands them back. Elsewhere (musl, macOS) this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
from functools import cache
from typing import Any


@cache
def _libc_function(name: str, *argtypes: type[ctypes._SimpleCData[Any]]) -> Any:
    """A C library function returning an int, or None where the library lacks it."""
    library = ctypes.util.find_library("c")
    if library is None:
        return None
    try:
        function = getattr(ctypes.CDLL(library), name)
    except (OSError, AttributeError):
        return None
    function.argtypes = list(argtypes)
    function.restype = ctypes.c_int
    return function


#: glibc's ``mallopt`` parameter for the size from which a block gets its own mapping.
_M_MMAP_THRESHOLD = -3
#: Blocks this large or larger are mapped apart (glibc's own starting value).
MAP_APART_FROM = 128 * 1024


def map_large_blocks_apart(threshold: int = MAP_APART_FROM) -> bool:
    """Give every block of ``threshold`` bytes or more a mapping of its own, for good.

    uvloop allocates a 256 KiB read buffer for each TLS connection, and only the pages a
    read reaches become resident. glibc maps such a block apart at first, but when one is
    freed it raises its threshold above it, so from then on the buffers come out of the
    heap: a new connection's buffer reuses pages an older, closed one filled, and a
    closed one leaves them resident until the next trim. A threshold set once is never
    raised. Returns False where the C library has no ``mallopt`` (not glibc).
    """
    mallopt = _libc_function("mallopt", ctypes.c_int, ctypes.c_int)
    return mallopt is not None and bool(mallopt(_M_MMAP_THRESHOLD, threshold))


def release_free_heap() -> bool:
    """Return free heap pages to the system; False where the C library cannot."""
    trim = _libc_function("malloc_trim", ctypes.c_size_t)
    if trim is None:
        return False
    trim(0)
    return True


def freeze_startup_objects() -> int:
    """Move every object alive now out of the cyclic garbage collector's sight.

    The modules, classes and functions imported at startup (over 100,000 objects, most
    of them kubernetes_asyncio's generated models) live as long as the process, yet
    every full collection walks them again: a full collection cost 0.2 s of CPU with
    nothing else loaded, and a sync burst at 100 clusters triggers several. Frozen, they
    are never walked. Objects freed later are still freed by reference counting; only a
    reference cycle among them would stay (none is made by importing). Returns how many
    objects were frozen.
    """
    gc.collect()  # what is already garbage is freed, not frozen
    gc.freeze()
    return gc.get_freeze_count()


#: Container objects allocated (net of those freed) before the youngest generation is
#: collected; Python's default is 700.
YOUNG_GENERATION_LIMIT = 20_000


def collect_young_less_often() -> tuple[int, int, int]:
    """Collect the youngest generation after ``YOUNG_GENERATION_LIMIT`` allocations.

    A sync decodes whole API answers and watch events into thousands of short-lived dicts
    and lists; with the default 700, a few Deployments' answers started a collection,
    every tenth of those walked the middle generation, and now and then one (when the
    heap had grown by a quarter) the whole live cache: a tenth of the daemon's CPU at 20
    clusters, and 12 % less CPU per sync with this limit, at the same peak RSS. Only
    garbage held in reference cycles waits longer (at most this many more objects);
    everything else is freed by reference counting as before. The older generations'
    thresholds are kept. Returns the thresholds now in force.
    """
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_GENERATION_LIMIT, middle, oldest)
    return gc.get_threshold()
