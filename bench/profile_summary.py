"""Summarise a ``py-spy record --format raw`` file: where a process spent its CPU.

Run: ``.venv/bin/python -m bench.profile_summary FILE [--top 25] [--only fleet/]``.

Prints the functions with the most samples on the stack (inclusive) and at the top of
the stack (self), as shares of the samples where a thread was running. ``--only``
keeps functions whose file path contains the text (``fleet/`` for fleet's own code).
The benchmark's ``--profile DIR`` writes such files for the daemon and the simulator.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

_LINE_NUMBER = re.compile(r":\d+\)$")
_SITE_PACKAGES = re.compile(r"^.*?site-packages/")


def _frame(text: str) -> str:
    name, _, where = text.partition(" (")
    where = _SITE_PACKAGES.sub("", _LINE_NUMBER.sub(")", "(" + where))
    return f"{name} {where}"


def summarise(path: Path) -> tuple[int, Counter[str], Counter[str]]:
    """(samples with a running thread, inclusive counts, self counts)."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    busy = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack.strip() or not count.isdigit():
            continue
        samples = int(count)
        busy += samples
        frames = [_frame(f) for f in stack.split(";")]
        own[frames[-1]] += samples
        for frame in set(frames):
            inclusive[frame] += samples
    return busy, inclusive, own


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile_summary")
    parser.add_argument("file", type=Path)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--only", default="", help="keep frames whose file contains this")
    args = parser.parse_args(argv)
    busy, inclusive, own = summarise(args.file)
    if not busy:
        print(f"{args.file}: no samples")
        return 1
    for title, counts in (("inclusive", inclusive), ("self", own)):
        print(f"{title} (% of {busy} busy samples)")
        kept = [(f, n) for f, n in counts.most_common() if args.only in f]
        for frame, samples in kept[: args.top]:
            print(f"  {100 * samples / busy:5.1f}%  {frame}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
