"""``fleet diff APP``: what differs between Git and each cluster, as unified diffs.

The daemon computes the diffs (a server-side dry-run of every desired object against
the live one, with the app's ignore rules and Secret values replaced by digests), so
what this prints is exactly what a sync would change. Like diff(1), the exit code says
whether anything differs: 0 no, 1 yes, 2 when a diff could not be computed.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from fleet.cli.connect import (
    EXIT_ERROR,
    EXIT_FAILED,
    EXIT_OK,
    add_daemon_arguments,
    run_against_daemon,
)
from fleet.cli.output import Output, add_output_arguments, short_sha

if TYPE_CHECKING:
    from fleet.adapters.http.client import DaemonClient


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "diff",
        help="show what differs between Git and the clusters (exit 1 if anything does)",
        description="Show, per cluster, the unified diff of every object whose live state "
        "differs from Git. Exit code: 0 no differences, 1 differences, 2 errors.",
    )
    parser.add_argument("app", metavar="APP", help="the app to compare")
    parser.add_argument("--cluster", metavar="NAME", help="only this cluster")
    add_output_arguments(
        parser,
        json_help="print a JSON list, one object per cluster, with the diff of each object",
    )
    add_daemon_arguments(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    # A diff dry-runs every object of the app on every cluster: allow it time.
    return run_against_daemon(args, show_diff, timeout=300.0, loop=False)


async def show_diff(client: DaemonClient, args: argparse.Namespace) -> int:
    params = {"cluster": args.cluster} if args.cluster else None
    clusters: list[dict[str, Any]] = await client.request(
        "GET", f"/api/v1/apps/{quote(args.app, safe='')}/diff", params=params
    )
    out = Output.to(color_mode=args.color)
    if args.json:
        out.json(clusters)
    else:
        for cluster in clusters:
            print_cluster(cluster, out)
    objects = [obj for cluster in clusters for obj in cluster.get("objects") or []]
    if any(obj.get("error") for obj in objects):
        return EXIT_ERROR
    return EXIT_FAILED if objects else EXIT_OK


def print_cluster(cluster: dict[str, Any], out: Output) -> None:
    objects = cluster.get("objects") or []
    differing = [obj for obj in objects if not obj.get("error")]
    failed = [obj for obj in objects if obj.get("error")]
    where = f"{cluster.get('app')} on {cluster.get('cluster')}"
    revision = short_sha(cluster.get("revision"))
    if not objects:
        out.line(f"# {where} at {revision}: in sync", "bold")
        return
    summary = [f"{len(differing)} object(s) differ"] if differing else []
    summary += [f"{len(failed)} could not be compared"] if failed else []
    out.line(f"# {where} at {revision}: {', '.join(summary)}", "bold")
    for obj in differing:
        for line in str(obj.get("text") or "").splitlines():
            out.line(line, diff_style(line))
    for obj in failed:
        out.line(f"! {obj.get('object')}: cannot compare: {obj.get('error')}", "red+bold")


def diff_style(line: str) -> str | None:
    """The colour of a unified diff line: headers bold, hunks cyan, removals red, adds green."""
    if line.startswith(("---", "+++")):
        return "bold"
    if line.startswith("@@"):
        return "cyan"
    if line.startswith("-"):
        return "red"
    if line.startswith("+"):
        return "green"
    return None
