"""``fleet plan [APP]``: what a revision would do to the fleet, before it rolls out.

The daemon computes the plan (GET /api/v1/plan): per app, the waves and soaks its rollout
would follow; per cluster, the objects a sync would create (+), change (~) and prune (-),
the hooks it would run, and the refusals it would hit. It makes server-side dry-runs
only: nothing is written to any cluster, nor to history. Like ``terraform plan
-detailed-exitcode`` and diff(1), the exit code is the answer: 0 nothing would change,
1 something would, 2 a plan could not be made or a sync would be refused.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from fleet.cli.connect import (
    EXIT_ERROR,
    EXIT_FAILED,
    EXIT_OK,
    add_daemon_arguments,
    run_against_daemon,
)
from fleet.cli.output import Output, add_output_arguments

if TYPE_CHECKING:
    from fleet.adapters.http.client import DaemonClient

JSON = dict[str, Any]

#: How each planned action is marked, and its colour.
MARKS: dict[str, tuple[str, str | None]] = {
    "create": ("+", "green"),
    "change": ("~", "yellow"),
    "reapply": ("~", "dim"),
    "prune": ("-", "red"),
    "hook": (">", "cyan"),
    "keep": ("=", "dim"),
}

#: A plan dry-runs every object of every app on every cluster: allow it time.
PLAN_TIMEOUT = 600.0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "plan",
        help="show what a revision would do to every cluster before it rolls out",
        description="Show, per app and cluster, the objects a sync of the revision would "
        "create (+), change (~) and prune (-), the hooks it would run (>), the waves and "
        "soaks its rollout would follow, and the refusals it would hit. Server-side "
        "dry-runs only: nothing is written to any cluster or to history. Exit code: 0 "
        "nothing would change, 1 something would, 2 errors or refusals.",
    )
    parser.add_argument("app", metavar="APP", nargs="?", help="only this app (default: all)")
    parser.add_argument(
        "--revision",
        metavar="REV",
        help="the branch, tag or commit to plan (default: the latest commit fleet fetched "
        "for the app's source)",
    )
    parser.add_argument(
        "--diff", action="store_true", help="show each change as a diff (Secret values masked)"
    )
    add_output_arguments(
        parser, json_help="print the daemon's plan as JSON (apps, clusters, objects, summary)"
    )
    add_daemon_arguments(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    return run_against_daemon(args, show_plan, timeout=PLAN_TIMEOUT, loop=False)


async def show_plan(client: DaemonClient, args: argparse.Namespace) -> int:
    params: dict[str, str | int] = {}
    if args.app:
        params["app"] = args.app
    if args.revision:
        params["revision"] = args.revision
    if args.diff:
        params["diff"] = "1"
    answer: JSON = await client.request("GET", "/api/v1/plan", params=params)
    out = Output.to(color_mode=args.color)
    if args.json:
        out.json(answer)
    else:
        for app in answer.get("apps") or []:
            print_app(app, out, with_diff=args.diff)
        out.line(summary_line(answer.get("summary") or {}), "bold")
    return exit_code(answer.get("summary") or {})


def exit_code(summary: JSON) -> int:
    if summary.get("failed"):
        return EXIT_ERROR
    return EXIT_FAILED if summary.get("changes") else EXIT_OK


def print_app(app: JSON, out: Output, *, with_diff: bool) -> None:
    revision = str(app.get("revision") or "")
    message = str(app.get("commit_message") or "")
    title = f"{app.get('app')}: {revision[:12] or '?'}"
    if message:
        title += f' "{message}"'
    out.line(f"{title} (source {app.get('source')})", "bold")
    if app.get("error"):
        out.line(f"  ! cannot plan: {app['error']}", "red+bold")
        out.line()
        return
    out.line(f"  rollout: {rollout_line(app.get('rollout') or {})}")
    for cluster in app.get("clusters") or []:
        print_cluster(cluster, out, with_diff=with_diff)
    out.line()


def rollout_line(rollout: JSON) -> str:
    if not rollout.get("automated"):
        return (
            "automated sync is off: each cluster moves only when synced by hand "
            "(fleet sync APP), no waves"
        )
    waves = []
    for wave in rollout.get("waves") or []:
        limits = []
        if wave.get("max_parallel"):
            limits.append(f"{wave['max_parallel']} at a time")
        if wave.get("soak_seconds"):
            limits.append(f"soak {_seconds(float(wave['soak_seconds']))}")
        if wave.get("failure_budget"):
            limits.append(f"{wave['failure_budget']} may fail")
        clusters = ", ".join(wave.get("clusters") or [])
        extra = f" ({', '.join(limits)})" if limits else ""
        waves.append(f"{wave.get('name')} [{clusters}]{extra}")
    text = " -> ".join(waves) or "no clusters"
    if rollout.get("rollback_on_halt"):
        text += "; rolls back on halt"
    return text


def _seconds(value: float) -> str:
    whole = int(value)
    if whole % 3600 == 0:
        return f"{whole // 3600}h"
    if whole % 60 == 0:
        return f"{whole // 60}m"
    return f"{whole}s"


def print_cluster(cluster: JSON, out: Output, *, with_diff: bool) -> None:
    where = f"  # {cluster.get('cluster')}"
    if cluster.get("wave"):
        where += f" (wave {cluster['wave']})"
    current = str(cluster.get("current_revision") or "")
    if current:
        where += f", now at {current[:12]}"
    note = cluster.get("note")
    if cluster.get("error"):
        out.line(f"{where}: cannot plan: {cluster['error']}", "red+bold")
        return
    objects = cluster.get("objects") or []
    refusals = cluster.get("refusals") or []
    unchanged = int(cluster.get("unchanged") or 0)
    if not objects and not refusals:
        out.line(f"{where}: no changes ({unchanged} unchanged)" + (f"; {note}" if note else ""))
        return
    out.line(where + (f"; {note}" if note else ""), "bold")
    for obj in objects:
        mark, style = MARKS.get(str(obj.get("action")), ("?", None))
        out.line(f"    {mark} {object_line(obj)}", style)
        if with_diff and obj.get("diff"):
            print_diff(str(obj["diff"]), out)
    if unchanged:
        out.line(f"      {unchanged} unchanged", "dim")
    for refusal in refusals:
        subject = f"{refusal['object']}: " if refusal.get("object") else ""
        out.line(
            f"    ! refused: {refusal.get('reason')}: {subject}{refusal.get('message')}",
            "red+bold",
        )


def object_line(obj: JSON) -> str:
    phase, wave = str(obj.get("phase") or "Sync"), int(obj.get("wave") or 0)
    action = str(obj.get("action"))
    where = ""
    if action == "hook":
        where = phase + (f" wave {wave}" if wave else "") + ": "
    elif phase != "Sync" or wave:
        where = f"{phase} wave {wave}: "
    detail = f"  ({obj['detail']})" if obj.get("detail") else ""
    verb = "kept" if action == "keep" else action
    return f"{verb} {where}{obj.get('object')}{detail}"


def print_diff(text: str, out: Output) -> None:
    from fleet.cli.diff import diff_style

    for line in text.splitlines():
        out.line(f"        {line}", diff_style(line))


def summary_line(summary: JSON) -> str:
    parts = [
        f"{summary.get('create', 0)} to create",
        f"{summary.get('change', 0)} to change",
        f"{summary.get('prune', 0)} to prune",
        f"{summary.get('hook', 0)} hooks to run",
    ]
    if summary.get("reapply"):
        parts.append(f"{summary['reapply']} to re-apply unchanged")
    line = f"Plan: {', '.join(parts)}"
    line += f", on {summary.get('clusters_changing', 0)} of {summary.get('clusters', 0)} clusters"
    problems = []
    if summary.get("clusters_refused"):
        problems.append(f"{summary['clusters_refused']} cluster(s) would refuse the sync")
    if summary.get("errors"):
        problems.append(f"{summary['errors']} could not be planned")
    if problems:
        line += "; " + "; ".join(problems)
    return line + "."
