"""The Fleet page's matrix: clusters (rows) by apps (columns), grouped and filtered.

Pure: it takes what ``/api/v1/status`` and ``/api/v1/fleet`` answer and arranges it, so
the page and the JSON API never disagree and the arranging is table-tested on its own.

- Grouping: by rollout wave (default) - a cluster's wave is the one it is in for the
  first app (in config order) that deploys to it, or for the app filtered on - or by the
  value of a cluster label (``?group=region``).
- Filters: ``app`` (exact name), ``label`` (``key=value``), ``state`` (a sync or health
  value, or ``Suspended``/``Pinned``/``Unreachable``). The counts at the top are over the
  cells the app and label filters keep, so the state filter does not zero them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from fleet.model.revisions import is_chart_revision, short_revision

JSON = Mapping[str, Any]

SYNC_STATES = ("Synced", "OutOfSync", "Unknown")
HEALTH_STATES = ("Healthy", "Progressing", "Degraded", "Missing", "Suspended")
#: What ``?state=`` accepts.
STATES = (*SYNC_STATES, *HEALTH_STATES, "Pinned", "Unreachable")
#: The group of clusters no app deploys to (or the filtered app does not).
NOT_TARGETED = "(not targeted)"


class FilterError(ValueError):
    """A filter the page cannot apply; the message says why (shown, the filter ignored)."""


@dataclass(frozen=True, slots=True)
class Filters:
    app: str = ""
    label: tuple[str, str] | None = None
    state: str = ""
    group: str = ""

    @classmethod
    def parse(cls, query: Mapping[str, str]) -> tuple[Filters, list[str]]:
        """Filters from a query string, and the problems of those it had to drop."""
        problems = []
        label: tuple[str, str] | None = None
        raw_label = query.get("label", "").strip()
        if raw_label:
            key, sep, value = raw_label.partition("=")
            if not sep or not key.strip():
                problems.append(f"label filter {raw_label[:80]!r}: write key=value")
            else:
                label = (key.strip(), value.strip())
        state = query.get("state", "").strip()
        if state and state not in STATES:
            problems.append(f"state {state[:40]!r} is not one of {', '.join(STATES)}")
            state = ""
        app = query.get("app", "").strip()[:253]
        group = query.get("group", "").strip()[:253]
        return cls(app, label, state, group), problems


@dataclass(slots=True)
class Cell:
    app: str
    cluster: str
    sync: str
    health: str
    revision: str
    #: The commit subject, for the title (the short sha is the cell's text).
    title: str
    pinned: bool
    suspended: bool
    reachable: bool
    operation: str
    message: str


@dataclass
class Row:
    cluster: str
    labels: Mapping[str, str]
    reachable: bool | None
    message: str
    #: One per column of the matrix; None where the app does not run (or is filtered out).
    cells: list[Cell | None]


@dataclass
class Group:
    title: str
    rows: list[Row] = field(default_factory=list)


@dataclass
class Matrix:
    apps: list[str]
    groups: list[Group]
    counts: dict[str, int]
    #: What the grouping was: "wave" or the label key.
    grouped_by: str
    #: Every label key the clusters carry (the page offers them for grouping).
    label_keys: list[str]
    cluster_count: int


def cell_of(row: JSON, subjects: Mapping[str, str]) -> Cell:
    """A status row as a cell; ``subjects``: commit subject by sha."""
    get = row.get
    revision = get("revision") or get("target_revision") or ""
    return Cell(
        str(row["app"]),
        str(row["cluster"]),
        get("sync") or "Unknown",
        get("health") or "Unknown",
        short_revision(revision),
        _title(revision, subjects),
        bool(get("pinned_revision")),
        bool(get("suspended")),
        get("reachable") is not False,
        get("operation") or "",
        get("message") or "",
    )


def _title(revision: str, subjects: Mapping[str, str]) -> str:
    """The cell's hover text: the commit subject. A chart revision has no commit (its
    "subject" repeats the digest), and its short form already says chart and version:
    none, which keeps a 6000-cell page of charts under 1 MB (docs/benchmarks.md)."""
    if not revision:
        return "never synced"
    return "" if is_chart_revision(revision) else subjects.get(revision, "")


def matches(cell: Cell, state: str) -> bool:
    if not state:
        return True
    if state == "Pinned":
        return cell.pinned
    if state == "Unreachable":
        return not cell.reachable
    if state == "Suspended":
        return cell.suspended or cell.health == "Suspended"
    return state in (cell.sync, cell.health)


def count(cells: Iterable[Cell]) -> dict[str, int]:
    counts = dict.fromkeys((*SYNC_STATES, *HEALTH_STATES), 0)
    for cell in cells:
        if cell.sync in counts:
            counts[cell.sync] += 1
        if cell.health in HEALTH_STATES:
            counts[cell.health] += 1
    counts["Total"] = sum(counts[s] for s in SYNC_STATES)
    return counts


def _wave_of(overview: JSON, app_filter: str) -> dict[str, tuple[int, str]]:
    """cluster -> (wave index, wave name): from the filtered app, else from the app with
    the most waves among those that deploy to the cluster (ties: the first in order)."""
    apps = [a for a in overview.get("apps") or [] if not app_filter or a["name"] == app_filter]
    apps.sort(key=lambda a: -len(a.get("waves") or []))  # stable: config order on ties
    found: dict[str, tuple[int, str]] = {}
    for app in apps:
        for index, wave in enumerate(app.get("waves") or []):
            for cluster in wave.get("clusters") or []:
                found.setdefault(cluster, (index, str(wave["name"])))
    return found


def build_matrix(statuses: Sequence[JSON], overview: JSON, filters: Filters) -> Matrix:
    """The matrix the Fleet page shows (see the module docstring)."""
    subjects = {
        sha: str(commit.get("summary") or "")[:50]
        for sha, commit in (overview.get("commits") or {}).items()
    }
    clusters: list[JSON] = list(overview.get("clusters") or [])
    app_names = [str(a["name"]) for a in overview.get("apps") or []]
    by_key: dict[tuple[str, str], Cell] = {}
    for row in statuses:
        by_key[(str(row["app"]), str(row["cluster"]))] = cell_of(row, subjects)
        if row["app"] not in app_names:
            app_names.append(str(row["app"]))
    known = {str(c["name"]) for c in clusters}
    clusters += [
        {"name": name, "labels": {}, "reachable": None}
        for name in sorted({c for _, c in by_key} - known)
    ]
    if filters.app:
        app_names = [a for a in app_names if a == filters.app]
    if filters.label is not None:
        key, value = filters.label
        clusters = [c for c in clusters if (c.get("labels") or {}).get(key) == value]
    kept = [
        cell
        for cluster in clusters
        for app in app_names
        if (cell := by_key.get((app, str(cluster["name"])))) is not None
    ]
    counts = count(kept)
    shown_apps = app_names
    if filters.state:
        matching = {c.app for c in kept if matches(c, filters.state)}
        shown_apps = [app for app in app_names if app in matching]
    rows: list[Row] = []
    for cluster in clusters:
        name = str(cluster["name"])
        cells: list[Cell | None] = []
        for app in shown_apps:
            cell = by_key.get((app, name))
            cells.append(cell if cell is not None and matches(cell, filters.state) else None)
        if filters.state and not any(cells):
            continue
        rows.append(
            Row(
                name,
                cluster.get("labels") or {},
                cluster.get("reachable"),
                str(cluster.get("message") or ""),
                cells,
            )
        )
    label_keys = sorted({k for c in overview.get("clusters") or [] for k in c.get("labels") or {}})
    groups = _group(rows, overview, filters)
    return Matrix(shown_apps, groups, counts, filters.group or "wave", label_keys, len(rows))


def _group(rows: list[Row], overview: JSON, filters: Filters) -> list[Group]:
    groups: dict[tuple[int, str], Group] = {}
    if filters.group:
        label = filters.group
        for row in rows:
            value = row.labels.get(label)
            key = (0, str(value)) if value is not None else (1, f"(no {label} label)")
            title = f"{label}={value}" if value is not None else key[1]
            groups.setdefault(key, Group(title)).rows.append(row)
    else:
        waves = _wave_of(overview, filters.app)
        for row in rows:
            index, name = waves.get(row.cluster, (1_000_000, NOT_TARGETED))
            title = f"wave {name}" if name != NOT_TARGETED else name
            groups.setdefault((index, name), Group(title)).rows.append(row)
    return [groups[key] for key in sorted(groups)]
