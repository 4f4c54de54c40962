"""Templates and the small formatting helpers they use.

Autoescaping is on for every template (``autoescape=True``, not by file extension), so
every value a page shows - names, messages, annotations, commit subjects - is text,
whatever it contains. Nothing is marked safe.
"""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime
from typing import Any

import jinja2
from aiohttp import web
from markupsafe import Markup

from fleet.adapters.http.browser import secure
from fleet.adapters.http.dashboard.matrix import Cell, Row
from fleet.model.revisions import short_revision

#: A text symbol beside each status, so status is never told by colour alone.
ICONS = {
    "Synced": "\u2713",  # check mark
    "OutOfSync": "\u2260",  # not equal
    "Unknown": "?",
    "Healthy": "\u2665",  # heart
    "Progressing": "\u25d4",  # circle with a quarter
    "Degraded": "\u2717",  # ballot x
    "Missing": "\u2205",  # empty set
    "Suspended": "\u2016",  # double bar (pause)
    "Succeeded": "\u2713",
    "Failed": "\u2717",
    "Running": "\u25d4",
    "Interrupted": "\u2298",
}

ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("fleet.adapters.http.dashboard", "templates"),
    autoescape=True,
    trim_blocks=True,
    lstrip_blocks=True,
)


def icon(status: str | None) -> str:
    return ICONS.get(status or "", "\u00b7")


def short(revision: str | None) -> str:
    """A commit's first 7 digits, a chart's ``name@version`` (fleet.model.revisions)."""
    return short_revision(revision)


def when(value: str | None) -> str:
    """An ISO time as ``2026-05-01 12:00:03`` (UTC), or a dash."""
    if not value:
        return "\u2014"
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def duration(start: str | None, end: str | None) -> str:
    """``8.4 s`` or ``3 min 2 s`` between two ISO times; a dash when either is missing."""
    if not start or not end:
        return "\u2014"
    try:
        seconds = (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()
    except ValueError:
        return "\u2014"
    return seconds_text(seconds)


def seconds_text(seconds: float | None) -> str:
    if seconds is None:
        return "\u2014"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest} s"
    return f"{minutes // 60} h {minutes % 60} min"


ENV.filters.update(icon=icon, short=short, when=when, seconds=seconds_text)
ENV.globals.update(duration=duration)


def page(template: str, status: int = 200, **context: Any) -> web.Response:
    """A rendered page with the dashboard's security headers."""
    text = ENV.get_template(template).render(**context)
    response = web.Response(text=text, status=status, content_type="text/html", charset="utf-8")
    response.headers["Cache-Control"] = "no-store"
    secure(response)
    return response


#: Attribute values written without quotes: HTML allows it for these characters (any
#: but whitespace and "'=<>`), and a 6000-cell page saves 70 KiB. Anything else is
#: quoted and escaped.
_BARE = re.compile(r"[A-Za-z0-9._@~+:/-]+\Z")


def matrix_row(cells: list[Cell | None]) -> Markup:
    """One row's cells of the Fleet matrix, written here rather than in the template: a
    200 x 30 page has 6000 of them (docs/benchmarks.md). Every value is escaped (or
    is plain enough to need no quotes), each distinct string once; ``</td>`` is left
    out, as HTML allows before the next cell and the end of the row. The sync and
    health symbols come from the style sheet (``td.cell[data-sync]::before``). A cell
    names neither its app nor its cluster: its column's header (``th[data-app]``) and
    its row (``tr[data-cluster]``) do, which keeps a 200 x 30 page well under 1 MB."""
    known: dict[str, str] = {}

    def attr(value: str) -> str:
        found = known.get(value)
        if found is None:
            bare = _BARE.match(value) is not None
            found = known[value] = value if bare else f'"{html.escape(value, quote=True)}"'
        return found

    parts = []
    for cell in cells:
        if cell is None:
            parts.append("<td>")
            continue
        marks = (
            ("\u2691" if cell.pinned else "")
            + ("\u2016" if cell.suspended else "")
            + ("\u21bb" if cell.operation else "")
        )
        # No subject (a chart revision's cell, matrix._title): no title at all.
        title = f' title="{html.escape(cell.title, quote=True)}"' if cell.title else ""
        parts.append(
            f"<td class=cell data-sync={attr(cell.sync)} data-health={attr(cell.health)}"
            f" data-revision={attr(cell.revision)}{title}>"
            f"{html.escape(cell.revision)}{marks}"
        )
    return Markup("".join(parts))


def matrix_tr(row: Row) -> Markup:
    """A whole row of the matrix: the cluster's header cell, then its cells (``</th>``
    and ``</tr>`` left out, as HTML allows)."""
    name = html.escape(row.cluster, quote=True)
    tr = f'<tr data-cluster="{name}">'
    if row.reachable is False:
        why = html.escape(row.message, quote=True)
        head = (
            f'{tr}<th scope=row class=unreachable title="{why}">{name}'
            " <span class=mark>\u26a0 unreachable</span>"
        )
    else:
        head = f"{tr}<th scope=row>{name}"
    return Markup(head) + matrix_row(row.cells)


ENV.globals.update(matrix_tr=matrix_tr)
