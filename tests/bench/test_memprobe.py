"""The memory probe of ``bench.daemon --memprobe``: its dumps and their comparison."""

from __future__ import annotations

import gc
import json
import threading
import weakref
from pathlib import Path

import pytest

from bench import memprobe


class _Node:
    other: _Node | None = None


def test_a_dump_splits_the_memory_of_the_process(tmp_path: Path) -> None:
    memprobe.dump(tmp_path / "idle")
    rollup = json.loads((tmp_path / "idle" / "rollup.json").read_text())
    assert rollup["Rss"] > 0
    figures = json.loads((tmp_path / "idle" / "malloc.json").read_text())
    assert figures["mappings_kB"]["file"] > 0
    assert figures["pymalloc"]["bytes in allocated blocks"] > 0
    types = json.loads((tmp_path / "idle" / "types.json").read_text())
    assert types["builtins.dict"][0] > 0
    assert (tmp_path / "idle" / "done").exists()


def test_a_collected_dump_frees_cyclic_garbage_first(tmp_path: Path) -> None:
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        first, second = _Node(), _Node()
        first.other, second.other = second, first
        cycle = weakref.ref(first)
        del first, second
        memprobe.dump(tmp_path / "collected")
        assert cycle() is None
    finally:
        if was_enabled:
            gc.enable()
    freed = json.loads((tmp_path / "collected" / "collected.json").read_text())["freed"]
    assert freed >= 2


def test_the_probe_thread_answers_a_request(tmp_path: Path) -> None:
    threading.Thread(target=memprobe._watch, args=(tmp_path,), daemon=True).start()
    dumped = memprobe.request_dump(tmp_path, "now", patience=120.0)
    assert dumped == tmp_path / "now"
    assert not (dumped / "done").read_text().startswith("failed")


def test_two_dumps_compare_per_cluster(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    memprobe.dump(tmp_path / "a")
    kept = [[i] for i in range(20_000)]  # noqa: F841 - held across the second dump
    memprobe.dump(tmp_path / "b")
    memprobe.compare(tmp_path / "a", tmp_path / "b", 10, 20, top=5)
    out = capsys.readouterr().out
    assert "KiB/cluster" in out
    assert "builtins.list" in out
