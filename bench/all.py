"""Run every benchmark in turn and print their figures: ``make bench``.

Each benchmark is its own module (``python -m bench.<name>``) with its own options;
this runs them one after another, each in its own process, so that one's memory and
threads cannot colour another's figures.
"""

from __future__ import annotations

import subprocess
import sys

BENCHMARKS: tuple[tuple[str, ...], ...] = (
    ("bench.engine_plan",),
    ("bench.render",),
    ("bench.git_fetch",),
    ("bench.store",),
    ("bench.sim_api",),
    ("bench.daemon",),
    ("bench.cli",),
    ("bench.dashboard",),
)


def main() -> int:
    failed = []
    for command in BENCHMARKS:
        print(f"\n=== python -m {' '.join(command)}", flush=True)
        if subprocess.run([sys.executable, "-m", *command], check=False).returncode != 0:
            failed.append(command[0])
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
