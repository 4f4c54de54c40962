"""How the daemon-facing commands print: tables, colours, times, JSON, a progress line.

Output written for people and output read by scripts pull in opposite directions, so the
rule is simple: ``--json`` is the contract for scripts (the daemon's keys, unchanged);
the human form adapts to where it goes. On a terminal it is coloured, the last column of
a table is cut to the screen's width and a progress line redraws itself in place. Piped
anywhere else it is plain, uncut and never redrawn, so ``grep`` and ``awk`` see exactly
the rows they would see on screen. ``--color always|never`` and ``NO_COLOR``
(https://no-color.org) override the colour choice.

Hand-written rather than built on a terminal library: the needs are small (aligned
columns, a few SGR codes, one redrawn line) and the plain form must be byte-stable.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TextIO

from fleet.model.revisions import short_revision

#: SGR parameters of the few styles the CLI uses.
STYLES: dict[str, str] = {
    "bold": "1",
    "dim": "2",
    "red": "31",
    "green": "32",
    "yellow": "33",
    "blue": "34",
    "cyan": "36",
}

#: The style of each status word fleet prints (sync status, health, sync result).
STATUS_STYLES: dict[str, str] = {
    "Synced": "green",
    "OutOfSync": "yellow",
    "Healthy": "green",
    "Progressing": "cyan",
    "Degraded": "red",
    "Missing": "yellow",
    "Suspended": "yellow",
    "Succeeded": "green",
    "Failed": "red",
    "Interrupted": "yellow",
    "Running": "cyan",
    "Syncing": "cyan",
    "Skipped": "dim",
    "Unknown": "dim",
}

#: A table cell: its text, or its text and a style name.
Cell = str | tuple[str, str | None]

SPINNER = "|/-\\"
_MIN_LAST_COLUMN = 16


def add_output_arguments(parser: argparse.ArgumentParser, *, json_help: str) -> None:
    """``--json`` and ``--color``, the same on every command that prints data."""
    parser.add_argument("--json", action="store_true", help=json_help)
    parser.add_argument(
        "--color",
        choices=("auto", "always", "never"),
        default="auto",
        help="colour the output: auto (default) only on a terminal and without NO_COLOR",
    )


def wants_color(mode: str, stream: TextIO) -> bool:
    if mode == "always":
        return True
    if mode == "never" or os.environ.get("NO_COLOR"):
        return False
    return is_terminal(stream)


def is_terminal(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


@dataclass
class Output:
    """Where a command writes its data, and what that place can show."""

    stream: TextIO
    color: bool
    terminal: bool
    width: int

    @classmethod
    def to(cls, stream: TextIO | None = None, color_mode: str = "auto") -> Output:
        stream = stream or sys.stdout
        terminal = is_terminal(stream)
        width = shutil.get_terminal_size((100, 24)).columns if terminal else 0
        return cls(stream, wants_color(color_mode, stream), terminal, width)

    def paint(self, text: str, style: str | None) -> str:
        if not self.color or not style or not text:
            return text
        codes = ";".join(STYLES[name] for name in style.split("+"))
        return f"\x1b[{codes}m{text}\x1b[0m"

    def status(self, word: str) -> str:
        """A status word in its colour (Synced green, Degraded red...)."""
        return self.paint(word, STATUS_STYLES.get(word))

    def line(self, text: str = "", style: str | None = None) -> None:
        self.stream.write(self.paint(text, style) + "\n")

    def json(self, data: Any) -> None:
        self.stream.write(json.dumps(data, indent=2, default=str) + "\n")

    def table(self, headers: Sequence[str], rows: Iterable[Sequence[Cell]]) -> None:
        for line in render_table(headers, rows, self):
            self.stream.write(line + "\n")

    def flush(self) -> None:
        self.stream.flush()


def render_table(headers: Sequence[str], rows: Iterable[Sequence[Cell]], out: Output) -> list[str]:
    """Left-aligned columns two spaces apart; the last column is cut to fit a terminal."""
    cells = [[_split(cell) for cell in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        for index, (text, _) in enumerate(row[:-1]):
            widths[index] = max(widths[index], len(text))
    last_room = 0
    if out.terminal and out.width:
        last_room = max(_MIN_LAST_COLUMN, out.width - sum(w + 2 for w in widths[:-1]) - 1)
    lines = [_join([(h, "bold") for h in headers], widths, out, last_room)]
    lines += [_join(row, widths, out, last_room) for row in cells]
    return lines


def _split(cell: Cell) -> tuple[str, str | None]:
    return cell if isinstance(cell, tuple) else (cell, None)


def _join(
    row: Sequence[tuple[str, str | None]], widths: Sequence[int], out: Output, last_room: int
) -> str:
    parts = []
    for index, (text, style) in enumerate(row):
        if index == len(row) - 1:
            shown = truncate(text, last_room) if last_room else text
            parts.append(out.paint(shown, style))
        else:
            parts.append(out.paint(text, style) + " " * (widths[index] - len(text)))
    return "  ".join(parts).rstrip()


def truncate(text: str, width: int) -> str:
    """``text`` on one line, cut to ``width`` characters (ASCII ``...`` marks the cut)."""
    flat = " ".join(text.split())
    if width <= 0 or len(flat) <= width:
        return flat
    return flat[: max(width - 3, 0)] + "..."


def short_sha(revision: str | None) -> str:
    """A revision's short form (fleet.model.revisions), or a dash."""
    return short_revision(revision) or "-"


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def ago(value: str | None, now: datetime | None = None) -> str:
    """``"12s ago"``, ``"5m ago"``, ``"3h ago"``, ``"2d ago"`` (``"-"`` when unknown)."""
    moment = parse_time(value)
    if moment is None:
        return "-"
    seconds = ((now or datetime.now(UTC)) - moment).total_seconds()
    if seconds < 1:
        # Clocks of two hosts disagree a little; a time slightly ahead is "just now" too.
        return "just now" if seconds > -5 else "in the future"
    return f"{duration(seconds)} ago"


def duration(seconds: float) -> str:
    """A short human duration: ``"850ms"``, ``"8s"``, ``"2m05s"``, ``"1h02m"``, ``"3d"``."""
    if seconds < 1:
        return f"{int(seconds * 1000)}ms"
    whole = int(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    if whole < 86400:
        return f"{whole // 3600}h{whole % 3600 // 60:02d}m"
    return f"{whole // 86400}d"


def between(start: str | None, end: str | None) -> str:
    """How long from ``start`` to ``end`` (ISO 8601 times), ``"-"`` when either is missing."""
    first, last = parse_time(start), parse_time(end)
    if first is None or last is None:
        return "-"
    return duration(max((last - first).total_seconds(), 0.0))


def local_time(value: str | None) -> str:
    """An ISO 8601 time as ``YYYY-MM-DD HH:MM:SS`` in the local time zone."""
    moment = parse_time(value)
    if moment is None:
        return value or "-"
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S")


class LiveLine:
    """One line redrawn in place on a terminal (a spinner and a message); silent elsewhere."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = is_terminal(self.stream)
        self._frame = 0
        self._drawn = False

    def update(self, text: str) -> None:
        if not self.enabled:
            return
        width = shutil.get_terminal_size((100, 24)).columns
        spinner = SPINNER[self._frame % len(SPINNER)]
        self._frame += 1
        self.stream.write(f"\r\x1b[2K{spinner} {truncate(text, width - 3)}")
        self.stream.flush()
        self._drawn = True

    def clear(self) -> None:
        if self.enabled and self._drawn:
            self.stream.write("\r\x1b[2K")
            self.stream.flush()
            self._drawn = False
