"""``fleet resume APP [--cluster C]``: automated syncs and self-heal again.

Without ``--cluster`` it lifts every suspension of the app (everywhere and per cluster).
A cluster suspended as a whole stays suspended (``fleet cluster resume C``); the output
says which app x cluster pairs are still suspended, and by what.
"""

from __future__ import annotations

import argparse

from fleet.cli.suspension import add_common_arguments, app_path, request


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "resume",
        help="let a suspended app sync automatically again",
        description="Resume APP (every suspension of it, or only the one on --cluster); "
        "the next automated sync or self-heal runs at once.",
    )
    parser.add_argument("app", metavar="APP", help="the app to resume")
    parser.add_argument("--cluster", metavar="NAME", help="only on this cluster")
    add_common_arguments(parser, reason=False)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    body = {"cluster": args.cluster} if args.cluster else {}
    return request(args, app_path(args.app, "resume"), body)
