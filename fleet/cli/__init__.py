"""The ``fleet`` command.

Each subcommand lives in its own module under ``fleet.cli`` and exposes
``register(subparsers)``, which adds its parser and sets ``handler`` to a function
``(args) -> int`` (the exit code). Heavy imports happen inside handlers so that
``fleet --help`` stays fast.

A command line naming a command imports that command's module only (``fleet status``
never imports ``fleet.cli.sync``); ``fleet --help``, no command or an unknown one
registers them all, so the help lists every command and a typo gets the choices. A
daemon-facing command stays fast (docs/cli.md, "Speed") by importing only the
standard library, fleet.cli.connect/output and fleet.adapters.http.client at its top,
and by calling ``run_against_daemon(..., loop=False)`` when it only makes requests.
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
    "health",
    "status",
    "diff",
    "plan",
    "sync",
    "rollout",
    "rollback",
    "suspend",
    "resume",
    "cluster",
    "history",
    "events",
    "audit",
    "secrets",
    "import",
)
#: Commands whose module is not named after them (``import`` is a Python keyword).
MODULES: dict[str, str] = {"import": "import_argocd"}

Handler = Callable[[argparse.Namespace], int]


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser of every command, or of ``only`` (a name in COMMANDS) alone."""
    parser = argparse.ArgumentParser(
        prog="fleet",
        description="GitOps fleet manager for Kubernetes: many clusters, one ordered plan.",
    )
    from fleet import __version__

    parser.add_argument("--version", action="version", version=f"fleet {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in (only,) if only in COMMANDS else COMMANDS:
        module = importlib.import_module(f"fleet.cli.{MODULES.get(name, name)}")
        module.register(subparsers)
    return parser


def command_named(argv: Sequence[str]) -> str | None:
    """The command a command line names (its first word), if it is one of COMMANDS."""
    for word in argv:
        if word.startswith("-"):
            return None  # --help, --version before any command: the whole parser
        return word if word in COMMANDS else None
    return None


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(command_named(words))
    args = parser.parse_args(words)
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
