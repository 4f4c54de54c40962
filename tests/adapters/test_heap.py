"""Giving freed C heap pages back to the system; keeping startup objects out of GC."""

from __future__ import annotations

import gc
import platform
import subprocess
import sys
import weakref
from pathlib import Path

import pytest

from fleet.adapters.heap import (
    YOUNG_GENERATION_LIMIT,
    collect_young_less_often,
    freeze_startup_objects,
    release_free_heap,
)

_MAPPED_APART = """
import ctypes, sys
from fleet.adapters.heap import map_large_blocks_apart

class MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in "arena ordblks smblks hblks hblkhd usmblks \
fsmblks uordblks fordblks keepcost".split()]

libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
libc.mallinfo2.restype = MallInfo2
libc.free(libc.malloc(300 * 1024))  # a mapped block freed: glibc raises its threshold
if sys.argv[1] == "set":
    assert map_large_blocks_apart()
before = libc.mallinfo2().hblks
block = libc.malloc(200 * 1024)  # a TLS connection's read buffer (uvloop's is 256 KiB)
print(libc.mallinfo2().hblks - before)
"""


@pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
    reason="mallopt is glibc's",
)
@pytest.mark.parametrize(("threshold", "mapped"), [("set", 1), ("glibc's own", 0)])
def test_a_large_block_keeps_a_mapping_of_its_own_after_one_was_freed(
    threshold: str, mapped: int
) -> None:
    """Without the fixed threshold, the second large block comes out of the heap."""
    done = subprocess.run(
        [sys.executable, "-c", _MAPPED_APART, threshold],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert int(done.stdout) == mapped


def resident_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


@pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
    reason="malloc_trim is glibc's",
)
def test_pages_held_below_a_live_allocation_are_given_back() -> None:
    # Objects over 512 bytes come from malloc, not from Python's own arenas.
    burst = [bytes(1000) + bytes([i % 256]) for i in range(60_000)]
    keeper = [bytes(1000) for _ in range(10)]  # above the burst: the heap cannot shrink
    before = resident_mib()
    del burst
    freed = resident_mib()
    assert release_free_heap() is True
    after = resident_mib()
    assert keeper
    assert freed > before - 10, "free() alone keeps the pages"
    assert after < freed - 30, (before, freed, after)


class _Node:
    """An object that can be part of a reference cycle."""

    def __init__(self) -> None:
        self.other: _Node | None = None


def test_startup_objects_are_frozen_and_later_garbage_still_goes() -> None:
    startup = _Node()
    try:
        frozen = freeze_startup_objects()
        assert frozen > 0
        assert gc.is_tracked(startup)
        # Frozen objects are in no generation a collection walks.
        assert not any(obj is startup for obj in gc.get_objects())
        # What is made after the freeze is collected as before, cycles included.
        left, right = _Node(), _Node()
        left.other, right.other = right, left
        gone = weakref.ref(left)
        del left, right
        gc.collect()
        assert gone() is None
    finally:
        gc.unfreeze()
    assert any(obj is startup for obj in gc.get_objects())


def test_the_young_generation_is_collected_after_the_daemons_limit_only() -> None:
    kept = gc.get_threshold()
    collections: list[int] = []

    def count(phase: str, info: dict[str, int]) -> None:
        if phase == "start" and info["generation"] == 0:
            collections.append(1)

    try:
        gc.set_threshold(700, 10, 10)
        assert collect_young_less_often() == (YOUNG_GENERATION_LIMIT, 10, 10)
        gc.collect()
        gc.callbacks.append(count)
        # Containers kept alive, fewer than the limit: the default would collect ~14 times.
        held = [[i] for i in range(YOUNG_GENERATION_LIMIT // 2)]
        assert collections == []
        held += [[i] for i in range(YOUNG_GENERATION_LIMIT)]
        assert collections, "past the limit a collection still comes"
    finally:
        if count in gc.callbacks:
            gc.callbacks.remove(count)
        gc.set_threshold(*kept)
