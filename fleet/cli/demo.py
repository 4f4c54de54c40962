"""``fleet demo``: three simulated clusters, a Git repository and the daemon."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="run fleet on a simulated fleet of three clusters (the Quick start)",
        description="Start three simulated clusters, a local Git repository and the daemon, "
        "show them converge, then keep running so you can change things and watch.",
    )
    parser.add_argument(
        "--dir",
        type=Path,
        default=Path("demo-state"),
        help="where the demo keeps everything (default: ./demo-state)",
    )
    parser.add_argument(
        "--once",
        action="store_true",
        help="stop as soon as the fleet has converged (exit 1 if it does not)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=300.0,
        help="seconds to wait for convergence (default: 300)",
    )
    parser.add_argument(
        "--port", type=int, default=8787, help="preferred API port (a free one is used if taken)"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import os

    import anyio

    from fleet.runtime.demo import run_demo, setup_demo

    os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost,::1")
    setup = setup_demo(args.dir, args.port)
    try:
        return anyio.run(lambda: run_demo(setup, once=args.once, patience=args.timeout))
    except KeyboardInterrupt:
        print("\nstopped; run `make demo` again to continue where you left off")
        return 0
