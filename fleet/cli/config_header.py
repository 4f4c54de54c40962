"""The lines above ``fleet status``'s table that say which fleet config is in force.

Shown when the config comes from Git (``config_source``: the URL, ref, path and the
commit in force) and whenever the newest config was refused (a bad commit, an unsigned
one, or a file sent with SIGHUP), with each problem as ``file:line:col: message`` so the
fix is one look away; and a line for each app generator its prune guard holds
(``GET /api/v1/generators``). A daemon running a local file with nothing refused shows none, so
the common case reads as before. Daemons older than ``GET /api/v1/config`` show none.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fleet.cli.output import short_sha

if TYPE_CHECKING:
    from fleet.adapters.http.client import DaemonClient

#: Problems shown under a refusal; the rest are counted.
SHOWN_ISSUES = 10


async def fetch_config_state(client: DaemonClient) -> dict[str, Any] | None:
    from fleet.adapters.http.client import DaemonError

    try:
        state = await client.request("GET", "/api/v1/config")
    except DaemonError:
        return None  # an older daemon, or a token without read scope for it
    return state if isinstance(state, dict) else None


async def fetch_generators(client: DaemonClient) -> list[dict[str, Any]]:
    """``GET /api/v1/generators``; empty from a daemon older than it."""
    from fleet.adapters.http.client import DaemonError

    try:
        rows = await client.request("GET", "/api/v1/generators")
    except DaemonError:
        return []
    return [row for row in rows if isinstance(row, dict)] if isinstance(rows, list) else []


def generator_lines(rows: list[dict[str, Any]]) -> list[tuple[str, str | None]]:
    """A line for each generator its prune guard holds (nothing while none is)."""
    lines: list[tuple[str, str | None]] = []
    for row in rows:
        held = row.get("held")
        if not isinstance(held, dict):
            continue
        name = row.get("name")
        removing = held.get("removing") or []
        at = f" at {short_sha(row['revision'])}" if row.get("revision") else ""
        lines.append(
            (
                f"generator {name} held{at}: it would remove {len(removing)} of "
                f"{held.get('of', '?')} apps ({', '.join(map(str, removing[:5]))}"
                f"{', ...' if len(removing) > 5 else ''}); "
                f"confirm with: fleet sync {name} --confirm-prune",
                "red",
            )
        )
    return lines


def header_lines(state: dict[str, Any] | None) -> list[tuple[str, str | None]]:
    """(text, style) lines for the header; empty when there is nothing to say."""
    if not state:
        return []
    lines: list[tuple[str, str | None]] = []
    source = state.get("source")
    revision = state.get("revision")
    if isinstance(source, dict):
        where = f"{source.get('url')} {source.get('ref_kind')} {source.get('ref')}, " + str(
            source.get("path")
        )
        if revision:
            summary = state.get("summary") or ""
            lines.append((f"config: {where} at {short_sha(revision)} {summary}".rstrip(), None))
        else:
            lines.append((f"config: {where}: no config in force yet", "red"))
        if state.get("fetch_error"):
            lines.append((f"config source not fetched: {state['fetch_error']}", "yellow"))
    rejected = state.get("rejected")
    if isinstance(rejected, dict):
        refused = rejected.get("revision")
        what = f"commit {short_sha(refused)}" if refused else str(state.get("file") or "")
        if revision:
            keeping = f"running {short_sha(revision)}"
        elif isinstance(source, dict):
            keeping = "no config in force"
        else:
            keeping = "running the previous config"
        reason = rejected.get("reason") or "invalid"
        lines.append((f"config rejected: {what} ({reason}), {keeping}", "red"))
        issues = rejected.get("issues") or []
        for issue in issues[:SHOWN_ISSUES]:
            lines.append((f"  {_issue_text(issue)}", "red"))
        if len(issues) > SHOWN_ISSUES:
            lines.append((f"  ... and {len(issues) - SHOWN_ISSUES} more", "red"))
        if not issues and rejected.get("message"):
            lines.append((f"  {rejected['message']}", "red"))
    return lines


def _issue_text(issue: Any) -> str:
    if not isinstance(issue, dict):
        return str(issue)
    where = str(issue.get("file") or "")
    if issue.get("line"):
        where += f":{issue['line']}:{issue.get('column') or 0}"
    path = f"{issue['path']}: " if issue.get("path") else ""
    return f"{where}: {path}{issue.get('message', '')}"
