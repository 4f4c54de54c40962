"""``fleet audit``: who changed what through the API, newest first.

Every write request (manual syncs, pins, webhook deliveries, refused attempts too) is
recorded by the daemon with the token's name, the route, the target app, the caller's
address and the answer; this reads them from ``GET /api/v1/audit``, which needs a token
with the ``admin`` scope.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from fleet.cli.connect import add_daemon_arguments, run_against_daemon
from fleet.cli.output import Cell, add_output_arguments, ago
from fleet.cli.paging import add_page_arguments, print_page

if TYPE_CHECKING:
    from fleet.adapters.http.client import DaemonClient

HEADERS = ("ID", "WHEN", "TOKEN", "FROM", "REQUEST", "APP", "STATUS", "MESSAGE")
RESULT_STYLES = {"ok": "green", "denied": "red", "failed": "yellow"}


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "audit",
        help="list write requests made through the API: who, what, when, from where",
        description="`fleet audit` lists the API's audit log newest first: each write "
        "request with the token that made it, its address, route, app and answer.",
    )
    parser.add_argument("--app", metavar="APP", help="only requests about this app")
    parser.add_argument("--token", metavar="NAME", help="only requests made with this token")
    add_page_arguments(parser, default=50, noun="rows")
    add_output_arguments(parser, json_help="print JSON (a list of audit rows)")
    add_daemon_arguments(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    return run_against_daemon(args, list_audit, loop=False)


async def list_audit(client: DaemonClient, args: argparse.Namespace) -> int:
    return await print_page(
        client,
        args,
        "/api/v1/audit",
        ("app", "token"),
        HEADERS,
        audit_row,
        "no API writes recorded",
    )


def audit_row(row: dict[str, Any]) -> list[Cell]:
    result = str(row.get("result") or "")
    return [
        str(row.get("id")),
        ago(row.get("at")),
        str(row.get("principal") or ""),
        str(row.get("remote") or ""),
        f"{row.get('method')} {row.get('path')}",
        str(row.get("app") or "-"),
        (f"{row.get('status')} {result}", RESULT_STYLES.get(result)),
        str(row.get("message") or ""),
    ]
