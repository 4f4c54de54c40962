"""A memory probe for the daemon: where its resident memory is, split by owner.

Run a fleet command with the probe: ``python -m bench.memprobe DIR -- run --config ...``
(``bench.daemon --memprobe DIR`` does this for ``fleet run``). A thread waits for a file
``DIR/request`` holding a label; it then writes ``DIR/<label>/`` and ``DIR/<label>/done``:

- ``rollup.txt``: ``/proc/self/smaps_rollup`` and ``status`` (RSS, anonymous RSS);
- ``malloc.json``: glibc's ``mallinfo2`` (main and thread arenas, mapped chunks, bytes
  in use and free), the number of arenas from ``malloc_info``, the pymalloc arenas from
  ``sys._debugmallocstats``, and the anonymous mappings by kind;
- ``types.json``: live objects by type (count, shallow bytes) from ``gc.get_objects``;
- ``owners.json``: deep sizes of the daemon's per-cluster structures, found by type;
- ``trim.json``: the same rollup after ``malloc_trim(0)`` (what the C heap could give back);
- ``tracemalloc.snap``, when tracing (``PYTHONTRACEMALLOC=N``): a snapshot to compare.

``python -m bench.memprobe --compare A B --clusters NA NB`` prints the slope per cluster
between two dumps (types, owners, and allocation sites when both have snapshots).
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import gc
import json
import os
import re
import sys
import threading
import time
import tracemalloc
from collections import Counter
from pathlib import Path
from typing import Any

POLL = 0.5


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


def _libc() -> Any:
    name = ctypes.util.find_library("c")
    return ctypes.CDLL(name) if name else None


def mallinfo() -> dict[str, int]:
    libc = _libc()
    if libc is None or not hasattr(libc, "mallinfo2"):
        return {}
    libc.mallinfo2.restype = _MallInfo2
    info = libc.mallinfo2()
    return {field[0]: int(getattr(info, field[0])) for field in _MallInfo2._fields_}


def malloc_arenas(scratch: Path) -> dict[str, Any]:
    """glibc's own account per arena (``malloc_info``): count, and the total system bytes."""
    libc = _libc()
    if libc is None or not hasattr(libc, "malloc_info"):
        return {}
    libc.fopen.restype = ctypes.c_void_p
    libc.fopen.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    libc.fclose.argtypes = [ctypes.c_void_p]
    libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
    path = scratch / "malloc_info.xml"
    handle = libc.fopen(str(path).encode(), b"w")
    libc.malloc_info(0, handle)
    libc.fclose(handle)
    text = path.read_text()
    heaps = re.findall(r'<heap nr="(\d+)">(.*?)</heap>', text, re.S)
    per_heap = []
    for number, body in heaps:
        current = re.search(r'<system type="current" size="(\d+)"/>', body)
        rest = re.search(r'<total type="rest" count="(\d+)" size="(\d+)"/>', body)
        fast = re.search(r'<total type="fast" count="(\d+)" size="(\d+)"/>', body)
        per_heap.append(
            {
                "heap": int(number),
                "system": int(current.group(1)) if current else 0,
                "free_rest": int(rest.group(2)) if rest else 0,
                "free_fast": int(fast.group(2)) if fast else 0,
            }
        )
    return {"arenas": len(heaps), "heaps": per_heap}


def pymalloc_stats(scratch: Path) -> dict[str, int]:
    """The totals of ``sys._debugmallocstats`` (it writes to the C stderr: redirected)."""
    path = scratch / "debugmallocstats.txt"
    sys.stderr.flush()
    saved = os.dup(2)
    with path.open("wb") as out:
        os.dup2(out.fileno(), 2)
        try:
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
    stats: dict[str, int] = {}
    for line in path.read_text().splitlines():
        match = re.match(r"#?\s*([a-z ]+?)\s*=\s*([\d,]+)\s*$", line.strip())
        if match:
            stats[match.group(1).strip()] = int(match.group(2).replace(",", ""))
    return stats


def rollup() -> dict[str, int]:
    """kB figures of smaps_rollup and the RSS lines of status."""
    figures: dict[str, int] = {}
    for source in ("/proc/self/smaps_rollup", "/proc/self/status"):
        for line in Path(source).read_text().splitlines():
            key, _, value = line.partition(":")
            parts = value.split()
            if len(parts) == 2 and parts[1] == "kB":
                figures[key.strip()] = int(parts[0])
    return figures


def anonymous_mappings() -> dict[str, int]:
    """Resident kB of anonymous mappings: [heap], thread stacks, other anonymous."""
    totals: Counter[str] = Counter()
    kind = ""
    for line in Path("/proc/self/smaps").read_text().splitlines():
        fields = line.split()
        if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
            path = fields[5] if len(fields) > 5 else ""
            if path == "[heap]":
                kind = "brk heap"
            elif path.startswith("["):
                kind = path
            elif path:
                kind = "file"
            else:
                kind = "anonymous"
        elif fields and fields[0] == "Rss:":
            totals[kind] += int(fields[1])
    return dict(totals)


def type_table() -> dict[str, list[int]]:
    """{type name: [count, shallow bytes]} of every object the collector tracks."""
    table: dict[str, list[int]] = {}
    for obj in gc.get_objects():
        name = f"{type(obj).__module__}.{type(obj).__qualname__}"
        row = table.setdefault(name, [0, 0])
        row[0] += 1
        row[1] += sys.getsizeof(obj)
    return table


_OWNER_TYPES = {
    "LiveCache": "fleet.runtime.livecache",
    "ClusterRuntime": "fleet.runtime.clusters",
    "ClusterClient": "fleet.adapters.kube.client",
    "ApiClient": "kubernetes_asyncio.client.api_client",
    "Configuration": "kubernetes_asyncio.client.configuration",
    "LeanPool": "fleet.adapters.kube.http1",
    "ClientSession": "aiohttp.client",
    "SSLContext": "ssl",
    "SSLObject": "ssl",
    "_SelectorSocketTransport": "asyncio",
    "UVStream": "uvloop",
    "SSLProtocol": "uvloop",
    "TCPTransport": "uvloop",
}


def _is_owner(obj: object) -> str | None:
    kind = type(obj)
    module = _OWNER_TYPES.get(kind.__name__)
    return kind.__name__ if module and kind.__module__.startswith(module) else None


def _stops(obj: object) -> bool:
    """Shared by every cluster, or the program itself: not counted in an owner's size."""
    import asyncio
    import types

    return isinstance(
        obj,
        (
            type,
            types.ModuleType,
            types.FunctionType,
            types.MethodType,
            types.BuiltinFunctionType,
            types.FrameType,
            types.CoroutineType,
            types.CodeType,
            asyncio.AbstractEventLoop,
            asyncio.Future,
            threading.Thread,
        ),
    )


def deep_size(root: object, seen: set[int]) -> int:
    """Bytes reachable from ``root`` not yet in ``seen``: the walk stops at shared objects
    (``_stops``) and at other owners, which are counted under their own name."""
    total = 0
    stack = [root]
    while stack:
        obj = stack.pop()
        if id(obj) in seen or _stops(obj) or (obj is not root and _is_owner(obj)):
            continue
        seen.add(id(obj))
        total += sys.getsizeof(obj)
        stack.extend(gc.get_referents(obj))
    return total


def owner_sizes() -> dict[str, list[int]]:
    """{owner type: [instances, deep bytes]}: each object counted once overall."""
    found: dict[str, list[object]] = {name: [] for name in _OWNER_TYPES}
    for obj in gc.get_objects():
        name = _is_owner(obj)
        if name is not None:
            found[name].append(obj)
    seen: set[int] = set()
    return {
        name: [len(found[name]), sum(deep_size(o, seen) for o in found[name])]
        for name in _OWNER_TYPES
    }


def referrers(type_name: str, sample: int = 20) -> dict[str, Any]:
    """Who holds objects of a type (by type name): referrer types over a sample of them."""
    found = [o for o in gc.get_objects() if type(o).__name__ == type_name]
    held: Counter[str] = Counter()
    for obj in found[:sample]:
        for holder in gc.get_referrers(obj):
            if holder is not found:
                held[f"{type(holder).__module__}.{type(holder).__qualname__}"] += 1
    return {"count": len(found), "referrers": dict(held.most_common(15))}


def _resident(address: int, size: int, libc: Any) -> int:
    """Bytes of [address, address + size) resident in RAM, by ``mincore``."""
    page = os.sysconf("SC_PAGE_SIZE")
    start = address - address % page
    pages = (address + size - start + page - 1) // page
    vector = (ctypes.c_ubyte * pages)()
    if libc.mincore(ctypes.c_void_p(start), ctypes.c_size_t(pages * page), vector) != 0:
        return -1
    return sum(page for flag in vector if flag & 1)


def uvloop_tls_buffers() -> dict[str, Any]:
    """How much of each live uvloop ``SSLProtocol``'s read buffer is resident.

    uvloop mallocs 256 KiB per TLS connection (``SSL_READ_MAX_SIZE``) and the socket
    reads fill it as far as the largest read did; the rest is never touched. The buffer's
    address is found in the object: the pointer stored just before its length.
    """
    libc = _libc()
    if libc is None or not hasattr(libc, "mincore"):
        return {}
    wanted = 256 * 1024
    sizes: list[int] = []
    for obj in gc.get_objects():
        if type(obj).__name__ != "SSLProtocol" or type(obj).__module__ != "uvloop.loop":
            continue
        words = (ctypes.c_size_t * (type(obj).__basicsize__ // 8)).from_address(id(obj))
        for index in range(1, len(words)):
            if words[index] == wanted and words[index - 1] > 4096:
                resident = _resident(words[index - 1], wanted, libc)
                sizes.append(resident)
                break
    return {
        "buffers": len(sizes),
        "resident_bytes": sum(sizes),
        "resident_histogram_KiB": dict(
            sorted(Counter(size // 1024 // 32 * 32 for size in sizes).items())
        ),
    }


class _BufMem(ctypes.Structure):
    _fields_ = [
        ("length", ctypes.c_size_t),
        ("data", ctypes.c_void_p),
        ("max", ctypes.c_size_t),
        ("flags", ctypes.c_ulong),
    ]


def memory_bios() -> dict[str, Any]:
    """Capacity of every live ``ssl.MemoryBIO`` (uvloop's TLS reads and writes go
    through two per connection): OpenSSL grows a memory BIO's buffer to the largest
    write and keeps it. The BIO is the pointer after the object's header."""
    import _ssl
    import ssl

    lib = ctypes.CDLL(_ssl.__file__)
    lib.BIO_ctrl.restype = ctypes.c_long
    lib.BIO_ctrl.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_long, ctypes.c_void_p]
    get_buf_mem_ptr = 115  # BIO_C_GET_BUF_MEM_PTR
    capacities: list[int] = []
    for obj in gc.get_objects():
        if type(obj) is not ssl.MemoryBIO:
            continue
        bio = ctypes.c_void_p.from_address(id(obj) + object.__basicsize__).value
        pointer = ctypes.c_void_p()
        found = bio and lib.BIO_ctrl(bio, get_buf_mem_ptr, 0, ctypes.byref(pointer)) > 0
        if found and pointer.value:
            capacities.append(_BufMem.from_address(pointer.value).max)
    return {
        "bios": len(capacities),
        "capacity_bytes": sum(capacities),
        "capacity_histogram_KiB": dict(
            sorted(Counter(size // 1024 // 32 * 32 for size in capacities).items())
        ),
    }


def cache_contents() -> dict[str, int]:
    """What the live caches hold: bytes of containers and strings (each object once), and
    the string bytes left if equal strings were one object."""
    containers = strings = others = 0
    seen: set[int] = set()
    distinct: dict[str, int] = {}
    for cache in [o for o in gc.get_objects() if type(o).__name__ == "LiveCache"]:
        stack: list[Any] = list(getattr(cache, "_objects", {}).values())
        while stack:
            obj = stack.pop()
            if id(obj) in seen:
                continue
            seen.add(id(obj))
            size = sys.getsizeof(obj)
            if isinstance(obj, dict):
                containers += size
                stack.extend(obj.keys())
                stack.extend(obj.values())
            elif isinstance(obj, list):
                containers += size
                stack.extend(obj)
            elif isinstance(obj, str):
                strings += size
                distinct[obj] = size
            else:
                others += size
    return {
        "containers": containers,
        "strings": strings,
        "strings_if_shared": sum(distinct.values()),
        "others": others,
    }


def dump(directory: Path) -> None:
    """Write the split into ``directory``; a label starting with "collected" runs a full
    garbage collection first (how much of the heap is cyclic garbage not yet collected)."""
    directory.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    if directory.name.startswith("collected"):
        began = time.process_time()
        freed = gc.collect()
        (directory / "collected.json").write_text(
            json.dumps({"freed": freed, "cpu_s": time.process_time() - began})
        )
    (directory / "rollup.json").write_text(json.dumps(rollup(), indent=1))
    figures = {
        "mallinfo2": mallinfo(),
        "malloc_info": malloc_arenas(directory),
        "pymalloc": pymalloc_stats(directory),
        "mappings_kB": anonymous_mappings(),
        "threads": threading.active_count(),
        "uvloop_tls_buffers": uvloop_tls_buffers(),
        "memory_bios": memory_bios(),
        "cache_contents": cache_contents(),
        "gc_counts": gc.get_count(),
        "gc_frozen": gc.get_freeze_count(),
    }
    (directory / "malloc.json").write_text(json.dumps(figures, indent=1))
    if tracemalloc.is_tracing():
        tracemalloc.take_snapshot().dump(str(directory / "tracemalloc.snap"))
        traced = tracemalloc.get_traced_memory()
        (directory / "traced.json").write_text(json.dumps({"traced": traced}))
    (directory / "types.json").write_text(json.dumps(type_table()))
    (directory / "owners.json").write_text(json.dumps(owner_sizes(), indent=1))
    (directory / "referrers.json").write_text(
        json.dumps({name: referrers(name) for name in ("SSLProtocol", "SSLObject")}, indent=1)
    )
    libc = _libc()
    if libc is not None and hasattr(libc, "malloc_trim"):
        libc.malloc_trim(0)
        (directory / "trim.json").write_text(
            json.dumps({"rollup": rollup(), "mallinfo2": mallinfo()}, indent=1)
        )
    (directory / "done").write_text(f"{time.monotonic() - started:.1f}s\n")


def _watch(directory: Path) -> None:
    request = directory / "request"
    while True:
        time.sleep(POLL)
        try:
            label = request.read_text().strip()
        except FileNotFoundError:
            continue
        request.unlink()
        try:
            dump(directory / label)
        except Exception as error:  # the probe must never stop the daemon
            (directory / label).mkdir(parents=True, exist_ok=True)
            (directory / label / "done").write_text(f"failed: {error!r}\n")


def request_dump(directory: Path, label: str, patience: float = 300.0) -> Path:
    """Ask the probe in a running process for a dump; wait for it; its directory."""
    target = directory / label
    (directory / "request").write_text(label)
    deadline = time.monotonic() + patience
    while not (target / "done").exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"memory probe: no dump {label} within {patience:.0f}s")
        time.sleep(0.2)
    return target


def _run(directory: Path, fleet_args: list[str]) -> int:
    from fleet.cli import main as fleet_main

    directory.mkdir(parents=True, exist_ok=True)
    threading.Thread(target=_watch, args=(directory,), name="memprobe", daemon=True).start()
    return fleet_main(fleet_args)


def _per_cluster(a: dict[str, Any], b: dict[str, Any], span: int) -> list[tuple[str, float]]:
    return [(k, (b.get(k, 0) - a.get(k, 0)) / span) for k in set(a) | set(b)]


def _slope_row(label: str, x_kib: float, y_kib: float, span: int) -> None:
    """Two sizes in KiB, as MiB, and the KiB per cluster between them."""
    print(
        f"{label:40} {x_kib / 1024:10.1f}Mi {y_kib / 1024:10.1f}Mi {(y_kib - x_kib) / span:12.1f}"
    )


def compare(a: Path, b: Path, na: int, nb: int, top: int) -> None:
    span = nb - na
    kib = 1024.0
    ra = json.loads((a / "rollup.json").read_text())
    rb = json.loads((b / "rollup.json").read_text())
    print(f"{'':40} {a.name:>12} {b.name:>12} {'KiB/cluster':>12}")
    for key in ("Rss", "Anonymous", "Private_Dirty", "VmRSS", "RssAnon", "RssFile"):
        if key in ra:
            _slope_row(key, ra[key], rb[key], span)
    ma = json.loads((a / "malloc.json").read_text())
    mb = json.loads((b / "malloc.json").read_text())
    for section in ("mallinfo2", "pymalloc", "mappings_kB"):
        scale = 1.0 if section == "mappings_kB" else kib
        for key in sorted(set(ma[section]) | set(mb[section])):
            x, y = ma[section].get(key, 0), mb[section].get(key, 0)
            print(
                f"{section[:9]}:{key[:30]:30} {x / scale / kib:10.1f}Mi {y / scale / kib:10.1f}Mi"
                f" {(y - x) / scale / span:12.1f}"
            )
    print(f"glibc arenas: {ma['malloc_info'].get('arenas')} -> {mb['malloc_info'].get('arenas')}")
    for name in ("trim.json",):
        if (a / name).exists() and (b / name).exists():
            ta, tb = json.loads((a / name).read_text()), json.loads((b / name).read_text())
            _slope_row("Rss after malloc_trim", ta["rollup"]["Rss"], tb["rollup"]["Rss"], span)
    oa = json.loads((a / "owners.json").read_text())
    ob = json.loads((b / "owners.json").read_text())
    print("\nowners (deep, each object once): count a, count b, MiB b, KiB per cluster")
    for name in ob:
        print(
            f"  {name:20} {oa[name][0]:6} {ob[name][0]:6} {ob[name][1] / kib / kib:8.1f} "
            f"{(ob[name][1] - oa[name][1]) / kib / span:8.1f}"
        )
    ta = json.loads((a / "types.json").read_text())
    tb = json.loads((b / "types.json").read_text())
    rows = []
    for name in set(ta) | set(tb):
        ca, sa = ta.get(name, [0, 0])
        cb, sb = tb.get(name, [0, 0])
        rows.append(((sb - sa) / span, (cb - ca) / span, name, sb))
    rows.sort(reverse=True)
    print("\ntypes (gc-tracked, shallow): bytes per cluster, objects per cluster, MiB at b")
    for size, count, name, total in rows[:top]:
        print(f"  {size / kib:8.1f} KiB {count:8.1f}  {total / kib / kib:7.1f}  {name}")
    snap_a, snap_b = a / "tracemalloc.snap", b / "tracemalloc.snap"
    if snap_a.exists() and snap_b.exists():
        sa_, sb_ = tracemalloc.Snapshot.load(str(snap_a)), tracemalloc.Snapshot.load(str(snap_b))
        ignore = [tracemalloc.Filter(False, tracemalloc.__file__)]
        sa_, sb_ = sa_.filter_traces(ignore), sb_.filter_traces(ignore)
        print(
            f"\ntraced: {sum(t.size for t in sa_.traces) / kib / kib:.1f} -> "
            f"{sum(t.size for t in sb_.traces) / kib / kib:.1f} MiB"
        )
        for key in ("filename", "lineno", "traceback"):
            print(f"\nallocation sites by {key}: KiB per cluster, MiB at b")
            for stat in sb_.compare_to(sa_, key)[:top]:
                print(
                    f"  {stat.size_diff / kib / span:8.1f} {stat.size / kib / kib:8.1f}  "
                    f"{stat.count_diff / span:8.1f} blocks  {stat.traceback.format()[-1].strip()}"
                )
                if key == "traceback":
                    for line in stat.traceback.format(limit=12)[:-1]:
                        print(f"{'':30}{line.strip()}")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--compare":
        parser = argparse.ArgumentParser(prog="python -m bench.memprobe --compare")
        parser.add_argument("--compare", nargs=2, type=Path, required=True)
        parser.add_argument("--clusters", nargs=2, type=int, required=True)
        parser.add_argument("--top", type=int, default=25)
        args = parser.parse_args(argv)
        (first, second), (clusters_first, clusters_second) = args.compare, args.clusters
        compare(first, second, clusters_first, clusters_second, args.top)
        return 0
    if len(argv) < 2 or "--" not in argv:
        print(__doc__, file=sys.stderr)
        return 2
    split = argv.index("--")
    return _run(Path(argv[0]), argv[split + 1 :])


if __name__ == "__main__":
    sys.exit(main())
