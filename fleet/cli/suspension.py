"""What ``fleet suspend``, ``fleet resume`` and ``fleet cluster suspend|resume`` share.

Each asks the daemon to change a suspension (an app on one cluster, an app everywhere,
or a whole cluster) and prints, for every app x cluster it touched, whether it is
suspended now and by what: resuming an app on a cluster that is itself suspended leaves
the app suspended there, and the output says so.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from fleet.cli.connect import EXIT_OK, add_daemon_arguments, run_against_daemon
from fleet.cli.output import Output, add_output_arguments

if TYPE_CHECKING:
    from fleet.adapters.http.client import DaemonClient

JSON = dict[str, Any]


def add_app_command(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    *,
    help: str,
    description: str,
    reason: bool,
) -> None:
    """``fleet suspend|resume APP [--cluster C]``: the two differ only in their words."""
    parser = subparsers.add_parser(name, help=help, description=description)
    parser.add_argument("app", metavar="APP", help=f"the app to {name}")
    parser.add_argument("--cluster", metavar="NAME", help="only on this cluster")
    _add_common_arguments(parser, reason=reason)
    parser.set_defaults(handler=run_app, suspension_action=name)


def add_cluster_command(
    actions: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    *,
    help: str,
    description: str,
    reason: bool,
) -> None:
    """``fleet cluster suspend|resume CLUSTER``."""
    parser = actions.add_parser(name, help=help, description=description)
    parser.add_argument("cluster", metavar="CLUSTER", help=f"the cluster to {name}")
    _add_common_arguments(parser, reason=reason)
    parser.set_defaults(handler=run_cluster, suspension_action=name)


def _add_common_arguments(parser: argparse.ArgumentParser, *, reason: bool) -> None:
    if reason:
        parser.add_argument(
            "--reason", metavar="TEXT", default="", help="why (shown in status and events)"
        )
    add_output_arguments(parser, json_help="print the daemon's answer as JSON")
    add_daemon_arguments(parser)


def run_app(args: argparse.Namespace) -> int:
    body = _reason(args)
    if args.cluster:
        body["cluster"] = args.cluster
    path = f"/api/v1/apps/{quote(args.app, safe='')}/{args.suspension_action}"
    return request(args, path, body)


def run_cluster(args: argparse.Namespace) -> int:
    path = f"/api/v1/clusters/{quote(args.cluster, safe='')}/{args.suspension_action}"
    return request(args, path, _reason(args))


def _reason(args: argparse.Namespace) -> JSON:
    reason = getattr(args, "reason", "")
    return {"reason": reason} if reason else {}


def request(args: argparse.Namespace, path: str, body: JSON) -> int:
    """POST ``body`` to ``path`` and print the answer; the exit code."""

    async def send(client: DaemonClient, args: argparse.Namespace) -> int:
        answer: JSON = await client.request("POST", path, body=body)
        out = Output.to(color_mode=args.color)
        if args.json:
            out.json(answer)
        else:
            for line in describe(answer):
                out.line(line)
        return EXIT_OK

    return run_against_daemon(args, send, loop=False)


def describe(answer: JSON) -> list[str]:
    """One line per app x cluster: suspended or not, and by what."""
    lines: list[str] = []
    if "resumed" in answer and not answer["resumed"]:
        lines.append("nothing was suspended there")
    targets = answer.get("targets") or []
    for target in targets:
        where = f"{target.get('app')} on {target.get('cluster')}"
        by = ", ".join(str(b).removeprefix("suspended: ") for b in target.get("by") or [])
        if target.get("suspended"):
            lines.append(f"{where}: suspended ({by})")
        else:
            lines.append(f"{where}: not suspended")
    if not targets:
        lines.append("no app runs there yet: the suspension applies when one does")
    return lines
