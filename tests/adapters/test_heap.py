"""Giving freed C heap pages back to the system."""

from __future__ import annotations

import platform
from pathlib import Path

import pytest

from fleet.adapters.heap import release_free_heap


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
