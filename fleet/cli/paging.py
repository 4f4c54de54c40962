"""What the paged listings (``fleet history``, ``fleet audit``) share: newest first, at
most ``--limit`` rows, and ``--before ID`` for the page after the one shown."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from fleet.cli.connect import EXIT_OK, limit_argument, positive_id
from fleet.cli.output import Cell, Output

if TYPE_CHECKING:
    from fleet.adapters.http.client import DaemonClient

Row = dict[str, Any]


def add_page_arguments(parser: argparse.ArgumentParser, *, default: int, noun: str) -> None:
    parser.add_argument(
        "--limit",
        type=limit_argument,
        default=default,
        metavar="N",
        help=f"at most N {noun} (default {default})",
    )
    parser.add_argument(
        "--before", type=positive_id, metavar="ID", help=f"only {noun} older than ID (paging)"
    )


async def print_page(
    client: DaemonClient,
    args: argparse.Namespace,
    path: str,
    filters: Sequence[str],
    headers: Sequence[str],
    cells: Callable[[Row], list[Cell]],
    nothing: str,
) -> int:
    """GET one page of ``path`` (``args``' ``filters`` that are set, ``--limit`` and
    ``--before``) and print it as a table, or as JSON with ``--json``."""
    params: dict[str, str | int] = {"limit": args.limit}
    for key in (*filters, "before"):
        if getattr(args, key) is not None:
            params[key] = getattr(args, key)
    rows: list[Row] = await client.request("GET", path, params=params)
    out = Output.to(color_mode=args.color)
    if args.json:
        out.json(rows)
    elif not rows:
        out.line(nothing + (" for this selection" if len(params) > 1 else ""))
    else:
        out.table(headers, [cells(row) for row in rows])
    return EXIT_OK
