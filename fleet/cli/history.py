"""``fleet history``: past syncs, newest first; ``fleet history show ID``: one in full.

The list answers "what happened to this app lately" (what started each sync, how it
ended, how long it took); ``show`` answers "what exactly did sync 42 do": every
resource result in the order it was recorded, with its phase, wave, action, health,
message and duration. An app literally named ``show`` is listed with ``--app show``.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from fleet.cli.connect import (
    EXIT_OK,
    CommandError,
    add_daemon_arguments,
    positive_id,
    report,
    run_against_daemon,
)
from fleet.cli.output import (
    STATUS_STYLES,
    Cell,
    Output,
    add_output_arguments,
    ago,
    between,
    duration,
    local_time,
    short_sha,
)
from fleet.cli.paging import add_page_arguments, print_page

if TYPE_CHECKING:
    from fleet.adapters.http.client import DaemonClient

LIST_HEADERS = ("ID", "APP", "CLUSTER", "REVISION", "TRIGGER", "RESULT", "STARTED", "TOOK")
RESULT_HEADERS = ("PHASE", "WAVE", "KIND", "NAMESPACE/NAME", "ACTION", "HEALTH", "TOOK")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "history",
        help="list past syncs, or show one with every resource result",
        description="`fleet history [APP]` lists syncs newest first; "
        "`fleet history show ID` shows one sync and every resource result it recorded.",
        usage="fleet history [APP] [options]\n       fleet history show ID [options]",
    )
    parser.add_argument("words", nargs="*", metavar="APP | show ID", help=argparse.SUPPRESS)
    parser.add_argument("--app", metavar="APP", help="only this app (same as the APP argument)")
    parser.add_argument("--cluster", metavar="NAME", help="only this cluster")
    add_page_arguments(parser, default=20, noun="syncs")
    add_output_arguments(
        parser, json_help="print JSON (a list of syncs; with show, the sync and its results)"
    )
    add_daemon_arguments(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    words: list[str] = args.words
    try:
        if words[:1] == ["show"]:
            if len(words) != 2:
                raise CommandError("usage: fleet history show ID")
            args.sync_id = positive_id(words[1])
            return run_against_daemon(args, show_sync, loop=False)
        if len(words) > 1:
            raise CommandError(f"expected at most one APP, got {' '.join(words)}")
        if words and args.app and words[0] != args.app:
            raise CommandError(f"two different apps given: {words[0]} and --app {args.app}")
        args.app = args.app or (words[0] if words else None)
    except argparse.ArgumentTypeError as error:
        return report(args, CommandError(str(error)))
    except CommandError as error:
        return report(args, error)
    return run_against_daemon(args, list_syncs, loop=False)


async def list_syncs(client: DaemonClient, args: argparse.Namespace) -> int:
    return await print_page(
        client,
        args,
        "/api/v1/history",
        ("app", "cluster"),
        (*LIST_HEADERS, "MESSAGE"),
        sync_row,
        "no syncs recorded",
    )


def sync_row(sync: dict[str, Any]) -> list[Cell]:
    result = str(sync.get("result") or "")
    return [
        str(sync.get("id")),
        str(sync.get("app")),
        str(sync.get("cluster")),
        short_sha(sync.get("revision")),
        trigger_of(sync),
        (result, STATUS_STYLES.get(result)),
        ago(sync.get("started_at")),
        between(sync.get("started_at"), sync.get("finished_at")),
        str(sync.get("message") or ""),
    ]


def trigger_of(sync: dict[str, Any]) -> str:
    trigger = str(sync.get("trigger") or "")
    return f"{trigger} (dry run)" if sync.get("dry_run") else trigger


async def show_sync(client: DaemonClient, args: argparse.Namespace) -> int:
    detail: dict[str, Any] = await client.request("GET", f"/api/v1/history/{args.sync_id}")
    out = Output.to(color_mode=args.color)
    if args.json:
        out.json(detail)
        return EXIT_OK
    print_sync(detail, out)
    return EXIT_OK


def print_sync(detail: dict[str, Any], out: Output) -> None:
    result = str(detail.get("result") or "")
    out.line(f"sync {detail.get('id')}: {detail.get('app')} on {detail.get('cluster')}", "bold")
    fields: list[tuple[str, str, str | None]] = [
        ("revision", str(detail.get("revision") or "-"), None),
        ("trigger", trigger_of(detail), None),
        ("result", result, STATUS_STYLES.get(result)),
        ("started", _when(detail.get("started_at")), None),
        ("applied", _when(detail.get("applied_at")), None),
        ("healthy", _when(detail.get("healthy_at")), None),
        ("finished", _when(detail.get("finished_at")), None),
        ("took", between(detail.get("started_at"), detail.get("finished_at")), None),
    ]
    if detail.get("resumed_from"):
        fields.append(("resumes", f"sync {detail['resumed_from']}", None))
    if detail.get("trace_id"):
        fields.append(("trace", str(detail["trace_id"]), None))
    if detail.get("config_revision"):  # the fleet config commit it ran under
        fields.append(("config", str(detail["config_revision"]), None))
    if detail.get("message"):
        fields.append(("message", str(detail["message"]), None))
    for name, value, style in fields:
        out.line(f"  {name:<9} {out.paint(value, style)}")
    results = detail.get("results") or []
    out.line()
    if not results:
        out.line("no resource results recorded")
        return
    out.table((*RESULT_HEADERS, "MESSAGE"), [result_row(row) for row in results])


def result_row(row: dict[str, Any]) -> list[Cell]:
    namespace = row.get("namespace") or ""
    name = f"{namespace}/{row.get('name')}" if namespace else str(row.get("name"))
    health = str(row.get("health") or "-")
    action = str(row.get("action") or "")
    took = row.get("duration_ms")
    return [
        str(row.get("phase") or "-"),
        str(row.get("wave", 0)),
        str(row.get("kind")),
        name,
        (action, "red" if action == "failed" else None),
        (health, STATUS_STYLES.get(health)),
        duration(took / 1000) if isinstance(took, int | float) else "-",
        str(row.get("message") or ""),
    ]


def _when(value: str | None) -> str:
    if not value:
        return "-"
    return f"{local_time(value)} ({ago(value)})"
