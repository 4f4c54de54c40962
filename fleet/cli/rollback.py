"""``fleet rollback APP [--to SYNC_ID | --revision REV] [--cluster C] [--now]``.

Takes the app back to what a recorded sync applied (``--to``: its revision; the render
is reproducible from the revision), to a revision the user names, or by default, on
each cluster, to the last revision that synced healthy there before the current one.
The clusters are held there (kept in the daemon's database) until a new commit or
``fleet sync APP --unpin``, and they go back wave by wave like a commit, unless
``--now``. ``fleet rollout status APP`` follows it.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from fleet.cli.connect import (
    EXIT_OK,
    add_daemon_arguments,
    positive_id,
    run_against_daemon,
)
from fleet.cli.output import Output, add_output_arguments, short_sha

if TYPE_CHECKING:
    from fleet.adapters.http.client import DaemonClient

JSON = dict[str, Any]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "rollback",
        help="take an app back to an earlier revision, in waves, and hold it there",
        description="Take APP back to what a recorded sync applied (--to), to a revision "
        "(--revision), or by default to each cluster's last healthy revision; held there "
        "until a new commit or `fleet sync APP --unpin`. Goes wave by wave unless --now.",
    )
    parser.add_argument("app", metavar="APP", help="the app to roll back")
    target = parser.add_mutually_exclusive_group()
    target.add_argument(
        "--to", type=positive_id, metavar="SYNC_ID", help="the revision this sync applied"
    )
    target.add_argument("--revision", metavar="REV", help="a commit, tag or branch")
    parser.add_argument("--cluster", metavar="NAME", help="only this cluster")
    parser.add_argument(
        "--now", action="store_true", help="every cluster at once instead of wave by wave"
    )
    add_output_arguments(parser, json_help="print the daemon's answer as JSON")
    add_daemon_arguments(parser)
    parser.set_defaults(handler=run)


def request_body(args: argparse.Namespace) -> JSON:
    body: JSON = {}
    if args.to is not None:
        body["toSyncId"] = args.to
    if args.revision:
        body["revision"] = args.revision
    if args.cluster:
        body["cluster"] = args.cluster
    if args.now:
        body["now"] = True
    return body


def run(args: argparse.Namespace) -> int:
    return run_against_daemon(args, roll_back, loop=False)


async def roll_back(client: DaemonClient, args: argparse.Namespace) -> int:
    answer: JSON = await client.request(
        "POST", f"/api/v1/apps/{quote(args.app, safe='')}/rollback", body=request_body(args)
    )
    out = Output.to(color_mode=args.color)
    if args.json:
        out.json(answer)
        return EXIT_OK
    for line in describe(args.app, answer):
        out.line(line)
    return EXIT_OK


def describe(app: str, answer: JSON) -> list[str]:
    by_revision: dict[str, list[str]] = {}
    for cluster, sha in sorted((answer.get("targets") or {}).items()):
        by_revision.setdefault(short_sha(sha), []).append(cluster)
    lines = [
        f"rolling {app} back: "
        + "; ".join(f"{', '.join(cs)} to {sha}" for sha, cs in by_revision.items())
    ]
    started = [str(q["cluster"]) for q in answer.get("queued") or []]
    if started:
        lines.append(f"started now on {', '.join(started)}")
    waiting = answer.get("waiting") or []
    if waiting:
        lines.append(f"waiting for their wave: {', '.join(waiting)}")
    for cluster, why in sorted((answer.get("skipped") or {}).items()):
        lines.append(f"not rolled back on {cluster}: {why}")
    lines.append(
        f"held there until a new commit or `fleet sync {app} --unpin`; "
        f"follow it with `fleet rollout status {app}`"
    )
    return lines
