"""``fleet events``: what the daemon noticed (drift, unreachable clusters, failed syncs...).

Without ``--since`` it prints the newest ``--limit`` events, oldest first, like
``tail``; with ``--since ID`` every event after that id. ``--follow`` then keeps the
connection open and prints each new event as the daemon records it. Event ids never
repeat, so when the stream breaks (the daemon restarts, or a quiet connection times
out) it reconnects from the last id printed and nothing is missed or printed twice.

``--json`` prints a JSON list, or with ``--follow`` one JSON object per line (NDJSON),
so a script can read events as they come.
"""

from __future__ import annotations

import argparse
import json
from collections import deque
from typing import TYPE_CHECKING, Any

from fleet.cli.connect import (
    EXIT_OK,
    MAX_LIMIT,
    add_daemon_arguments,
    limit_argument,
    positive_id,
    run_against_daemon,
)
from fleet.cli.output import Output, add_output_arguments, local_time

if TYPE_CHECKING:
    from fleet.adapters.http.client import DaemonClient

#: The colour of each event kind; kinds not named here are printed plain.
KIND_STYLES: dict[str, str] = {
    "sync_failed": "red",
    "prune_refused": "red",
    "cluster_unreachable": "red",
    "config_rejected": "red",
    "sync_interrupted": "yellow",
    "sync_retrying": "yellow",
    "drift": "yellow",
    "cluster_reachable": "green",
    "config_reloaded": "green",
    "pinned": "cyan",
    "unpinned": "cyan",
    "sync_held": "yellow",
    "suspended": "yellow",
    "resumed": "green",
    "generator_held": "red",
    "generator_failed": "red",
}

#: Kinds are padded to this width so that messages start in one column.
KIND_WIDTH = len("cluster_unreachable")

#: When the stream breaks: how often to try the daemon again, and the first pause.
RECONNECTS = 3
RECONNECT_DELAY = 0.5
#: The longest a followed stream may stay silent before it is reopened.
FOLLOW_READ_TIMEOUT = 300.0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "events",
        help="show the daemon's events (drift, failures, reloads); --follow streams them",
        description="Show the events the daemon recorded, oldest first; with --follow, "
        "keep printing new ones as they happen.",
    )
    parser.add_argument(
        "-f", "--follow", action="store_true", help="keep printing new events as they happen"
    )
    parser.add_argument("--app", metavar="APP", help="only events of this app")
    parser.add_argument("--cluster", metavar="NAME", help="only events of this cluster")
    parser.add_argument(
        "--since", type=positive_id, metavar="ID", help="every event after event ID"
    )
    parser.add_argument(
        "--limit",
        type=limit_argument,
        default=50,
        metavar="N",
        help="the newest N events, or with --since the first N after it (default 50)",
    )
    add_output_arguments(
        parser, json_help="print JSON: a list, or with --follow one object per line"
    )
    add_daemon_arguments(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    timeout = FOLLOW_READ_TIMEOUT if args.follow else 30.0
    # Only --follow waits (between reconnects): the rest needs no event loop.
    return run_against_daemon(args, show_events, timeout=timeout, loop=args.follow)


async def show_events(client: DaemonClient, args: argparse.Namespace) -> int:
    out = Output.to(color_mode=args.color)
    filters = {k: v for k, v in (("app", args.app), ("cluster", args.cluster)) if v}
    if args.since is not None:
        events = await _page(client, args.since, filters, args.limit)
    else:
        events = await _newest(client, filters, args.limit)
    if args.json and not args.follow:
        out.json(events)
        return EXIT_OK
    for event in events:
        _print(event, out, args.json)
    if not args.follow:
        if not events:
            out.line("no events")
        return EXIT_OK
    cursor = max([int(e["id"]) for e in events], default=args.since or 0)
    if args.since is None and not events:
        cursor = await _last_id(client, filters)
    await _follow(client, cursor, filters, out, args.json)
    return EXIT_OK


async def _page(
    client: DaemonClient, since: int, filters: dict[str, str], limit: int
) -> list[dict[str, Any]]:
    params: dict[str, str | int] = {"since": since, "limit": limit, **filters}
    events: list[dict[str, Any]] = await client.request("GET", "/api/v1/events", params=params)
    return events


async def _newest(
    client: DaemonClient, filters: dict[str, str], count: int
) -> list[dict[str, Any]]:
    """The newest ``count`` events; the API pages forward from an id, so read to the end."""
    kept: deque[dict[str, Any]] = deque(maxlen=count)
    cursor = 0
    while True:
        batch = await _page(client, cursor, filters, MAX_LIMIT)
        kept.extend(batch)
        if len(batch) < MAX_LIMIT:
            return list(kept)
        cursor = int(batch[-1]["id"])


async def _last_id(client: DaemonClient, filters: dict[str, str]) -> int:
    newest = await _newest(client, filters, 1)
    return int(newest[-1]["id"]) if newest else 0


async def _follow(
    client: DaemonClient, cursor: int, filters: dict[str, str], out: Output, as_json: bool
) -> None:
    from fleet.adapters.http.client import DaemonUnavailable

    while True:
        params = {"follow": "1", "since": str(cursor), **filters}
        try:
            async for event in client.stream("/api/v1/events", params):
                cursor = max(cursor, int(event["id"]))
                _print(event, out, as_json)
        except DaemonUnavailable:
            # The stream broke (the daemon stopped, or closed it in the middle of a chunk).
            pass
        # The stream broke: the daemon stopped or restarted, or the connection stayed
        # quiet past the read deadline. Catch up with a plain request (which also tells
        # whether the daemon is there at all), then stream again from the cursor.
        for event in await _catch_up(client, cursor, filters):
            cursor = max(cursor, int(event["id"]))
            _print(event, out, as_json)


async def _catch_up(
    client: DaemonClient, cursor: int, filters: dict[str, str]
) -> list[dict[str, Any]]:
    import anyio

    from fleet.adapters.http.client import DaemonUnavailable

    attempt = 0
    while True:
        try:
            return await _page(client, cursor, filters, MAX_LIMIT)
        except DaemonUnavailable:
            attempt += 1
            if attempt > RECONNECTS:
                raise
            await anyio.sleep(RECONNECT_DELAY * attempt)


def _print(event: dict[str, Any], out: Output, as_json: bool) -> None:
    if as_json:
        out.stream.write(json.dumps(event, default=str) + "\n")
    else:
        out.line(format_event(event, out))
    out.flush()


def format_event(event: dict[str, Any], out: Output) -> str:
    """``2024-05-01 12:00:03  #41 drift  web/staging  3 object(s) drifted...``"""
    kind = str(event.get("kind") or "")
    where = "/".join(str(event[k]) for k in ("app", "cluster") if event.get(k)) or "-"
    sync = f" (sync {event['sync_id']})" if event.get("sync_id") else ""
    return (
        f"{local_time(event.get('at'))}  #{event.get('id')}  "
        f"{out.paint(kind, KIND_STYLES.get(kind))}{' ' * (KIND_WIDTH - len(kind))}  "
        f"{where}  {event.get('message') or ''}{sync}"
    )
