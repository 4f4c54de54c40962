"""``fleet suspend APP [--cluster C]``: no automated sync and no self-heal until resumed.

Drift is still detected and shown; a manual ``fleet sync`` is refused unless ``--force``.
The suspension is kept in the daemon's database, so it survives a restart. A whole
cluster (maintenance) is ``fleet cluster suspend C``.
"""

from __future__ import annotations

import argparse

from fleet.cli.suspension import add_common_arguments, app_path, request


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "suspend",
        help="stop automated syncs and self-heal of an app (everywhere or on one cluster)",
        description="Suspend APP: no automated sync and no self-heal (drift is still "
        "shown) until `fleet resume APP`; a manual sync needs --force. Survives restarts.",
    )
    parser.add_argument("app", metavar="APP", help="the app to suspend")
    parser.add_argument("--cluster", metavar="NAME", help="only on this cluster")
    add_common_arguments(parser, reason=True)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    body = {"reason": args.reason} if args.reason else {}
    if args.cluster:
        body["cluster"] = args.cluster
    return request(args, app_path(args.app, "suspend"), body)
