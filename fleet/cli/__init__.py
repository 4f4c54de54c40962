"""The ``fleet`` command.

Each subcommand lives in its own module under ``fleet.cli`` and exposes
``register(subparsers)``, which adds its parser and sets ``handler`` to a function
``(args) -> int`` (the exit code). Heavy imports happen inside handlers so that
``fleet --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable, Sequence

#: Subcommand modules, in the order ``fleet --help`` lists them.
COMMANDS: tuple[str, ...] = (
    "demo",
    "run",
    "sim",
    "validate",
    "render",
    "status",
    "diff",
    "sync",
    "history",
    "events",
)

Handler = Callable[[argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fleet",
        description="GitOps fleet manager for Kubernetes: many clusters, one ordered plan.",
    )
    from fleet import __version__

    parser.add_argument("--version", action="version", version=f"fleet {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        module = importlib.import_module(f"fleet.cli.{name}")
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    try:
        return handler(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (``fleet render ... | head``): stop quietly, as cat does.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())
