"""``fleet status``: every app on every cluster, as the daemon sees it right now.

One row per (app, cluster): the revision it last synced, whether the daemon can reach
the cluster, whether it matches Git, its health, how its last sync ended and when, and
why it is not fine when it is not. A cluster the daemon cannot reach shows ``no``
under REACHABLE, Unknown sync and health (nothing it showed before still holds), and
``unreachable since T: reason``. ``--json`` prints the daemon's status objects unchanged
(at least ``app``, ``cluster``, ``revision``, ``reachable``, ``unreachable_since``,
``sync`` and ``health``), filtered like the table.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from fleet.cli.config_header import (
    fetch_config_state,
    fetch_generators,
    generator_lines,
    header_lines,
)
from fleet.cli.connect import (
    EXIT_ERROR,
    EXIT_OK,
    CommandError,
    add_daemon_arguments,
    run_against_daemon,
)
from fleet.cli.output import (
    STATUS_STYLES,
    Cell,
    Output,
    add_output_arguments,
    ago,
    local_time,
    short_sha,
)

if TYPE_CHECKING:
    from fleet.adapters.http.client import DaemonClient

HEADERS = ("APP", "CLUSTER", "REVISION", "REACHABLE", "SYNC", "HEALTH", "LAST SYNC", "MESSAGE")
#: How the REACHABLE column shows the daemon's ``reachable`` (None: not tried yet).
REACHABLE_CELLS: dict[bool | None, Cell] = {
    True: ("yes", "green"),
    False: ("no", "red"),
    None: ("-", "dim"),
}


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "status",
        help="show every app on every cluster: revision, sync status, health",
        description="Show the daemon's view of every app on every cluster it targets.",
    )
    parser.add_argument("--app", metavar="APP", help="only this app")
    parser.add_argument("--cluster", metavar="NAME", help="only this cluster")
    add_output_arguments(parser, json_help="print a JSON list of status objects")
    add_daemon_arguments(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    return run_against_daemon(args, show_status, loop=False)


async def show_status(client: DaemonClient, args: argparse.Namespace) -> int:
    rows: list[dict[str, Any]] = await client.request("GET", "/api/v1/status")
    selected = [
        row
        for row in rows
        if (args.app is None or row.get("app") == args.app)
        and (args.cluster is None or row.get("cluster") == args.cluster)
    ]
    out = Output.to(color_mode=args.color)
    if args.json:
        out.json(selected)
    if not selected and (args.app or args.cluster):
        wanted = " and ".join(
            f"{flag} {value}"
            for flag, value in (("--app", args.app), ("--cluster", args.cluster))
            if value
        )
        raise CommandError(f"nothing matches {wanted}", EXIT_ERROR)
    if args.json:
        return EXIT_OK
    header = header_lines(await fetch_config_state(client))
    header += generator_lines(await fetch_generators(client))
    for text, style in header:
        out.line(text, style)
    if header:
        out.line()
    if not rows:
        out.line("no apps are configured")
        return EXIT_OK
    out.table(HEADERS, [status_row(row) for row in selected])
    return EXIT_OK


def status_row(row: dict[str, Any]) -> list[Cell]:
    revision = short_sha(row.get("revision"))
    if row.get("pinned_revision"):
        revision += " (pinned)"
    sync = str(row.get("sync") or "Unknown")
    health = str(row.get("health") or "Unknown")
    return [
        str(row.get("app", "")),
        str(row.get("cluster", "")),
        revision,
        REACHABLE_CELLS.get(row.get("reachable"), "-"),
        (sync, STATUS_STYLES.get(sync)),
        (health, STATUS_STYLES.get(health)),
        last_sync(row),
        message_of(row),
    ]


def last_sync(row: dict[str, Any]) -> str:
    result = row.get("last_result")
    if not result:
        return "-"
    when = row.get("last_finished_at")
    return f"{result} {ago(when)}" if when else str(result)


def message_of(row: dict[str, Any]) -> str:
    """What is happening: the step of a sync in progress, else why syncs wait (a
    suspension or hold the daemon has not yet written into its message), else the
    daemon's message."""
    if row.get("operation"):
        step = row.get("step") or "starting"
        return f"{str(row['operation']).lower()}: {step}"
    if row.get("reachable") is False and not row.get("message"):
        since = row.get("unreachable_since")
        return f"unreachable since {local_time(since)}" if since else "cluster not reachable"
    message = str(row.get("message") or "")
    hold = row.get("hold")
    waiting = str(hold.get("reason") or "") if isinstance(hold, dict) else ""
    if not waiting and row.get("suspended"):
        waiting = "suspended"
    if waiting and waiting not in message:
        return f"{waiting}; {message}" if message else waiting
    return message
