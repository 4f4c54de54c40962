"""``fleet sync APP``: ask the daemon to sync an app now, and (by default) watch it.

The request needs the API's bearer token, read from the settings' ``api_token_file``
(or ``FLEET_API_TOKEN_FILE``). ``--revision`` pins the app to a revision until
``--unpin`` clears the pin (both go wave by wave like a commit, unless ``--now``);
``--dry-run`` runs every step as a server-side dry run and changes nothing;
``--confirm-prune`` gives the explicit confirmation the prune guard asks for when a sync
would delete more than it allows on its own. A sync the daemon
holds back (app or cluster suspended, an app it depends on not ready, a sync window
closed to manual syncs) is refused with the reason; ``--force`` overrides the first two.

With ``--wait`` (the default on a terminal) it follows each cluster's sync to its end,
redrawing one progress line on a terminal, then prints a result per cluster; the exit
code is 0 only when every sync succeeded, 1 when one did not, 4 when ``--timeout``
ran out first (the syncs keep running in the daemon).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from fleet.cli.connect import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_TIMEOUT,
    CommandError,
    add_daemon_arguments,
    report,
    run_against_daemon,
)
from fleet.cli.output import (
    STATUS_STYLES,
    Cell,
    LiveLine,
    Output,
    add_output_arguments,
    between,
    is_terminal,
    short_sha,
)
from fleet.cli.syncwatch import SyncWatcher, newest_sync_id

if TYPE_CHECKING:
    from fleet.adapters.http.client import DaemonClient

JSON = dict[str, Any]

#: How often the daemon is asked how the syncs are doing.
POLL_INTERVAL = 0.5
#: The order actions are summed up in; the rest follow alphabetically.
ACTION_ORDER = ("created", "configured", "pruned", "deleted", "hook", "failed", "skipped")
HEADERS = ("CLUSTER", "RESULT", "SYNC", "REVISION", "TOOK", "CHANGES", "MESSAGE")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "sync",
        help="sync an app now (optionally pinned to a revision, or as a dry run)",
        description="Ask the daemon to sync APP on every cluster it targets (or one), and "
        "wait for the result. Exit code: 0 every sync succeeded, 1 one did not, "
        "4 --timeout ran out.",
    )
    parser.add_argument("app", metavar="APP", help="the app to sync")
    parser.add_argument("--cluster", metavar="NAME", help="only this cluster")
    parser.add_argument(
        "--revision",
        metavar="REV",
        help="pin the app to this revision (commit, tag or branch) until --unpin",
    )
    parser.add_argument(
        "--unpin", action="store_true", help="clear a pinned revision: follow Git again"
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="run every step as a dry run; change nothing"
    )
    parser.add_argument(
        "--confirm-prune",
        action="store_true",
        help="confirm a prune the guard refused (deleting more than it allows unasked)",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="sync even though the app or cluster is suspended, or an app it depends on "
        "is not ready (a sync window is not overridden)",
    )
    parser.add_argument(
        "--now",
        action="store_true",
        help="with --revision or --unpin: every cluster at once instead of wave by wave",
    )
    parser.add_argument(
        "--wait",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="wait for the syncs to finish (default: only when output is a terminal)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=600.0,
        metavar="S",
        help="with --wait: give up after S seconds (exit 4; default 600)",
    )
    add_output_arguments(
        parser, json_help="print JSON: the request's answer and, with --wait, every sync"
    )
    add_daemon_arguments(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if args.timeout <= 0:
        return report(args, CommandError(f"--timeout must be positive, got {args.timeout}"))
    if args.dry_run and args.revision:
        # The daemon dry-runs the app's current target; a dry run of another revision
        # would silently show the wrong thing, so it is refused here.
        return report(args, CommandError("--dry-run cannot be combined with --revision"))
    return run_against_daemon(args, sync_app)


def request_body(args: argparse.Namespace) -> JSON:
    body: JSON = {}
    if args.cluster:
        body["cluster"] = args.cluster
    if args.revision:
        body["revision"] = args.revision
    if args.unpin:
        body["clearPin"] = True
    if args.dry_run:
        body["dryRun"] = True
    if args.confirm_prune:
        body["confirmPrune"] = True
    if args.now:
        body["now"] = True
    if args.force:
        body["force"] = True
    return body


async def sync_app(client: DaemonClient, args: argparse.Namespace) -> int:
    out = Output.to(color_mode=args.color)
    # A dry run is asked for its answer: it waits for it unless told not to.
    wait = args.wait if args.wait is not None else (args.dry_run or is_terminal(sys.stdout))
    baseline = await newest_sync_id(client, args.app) if wait else 0
    answer: JSON = await client.request(
        "POST", f"/api/v1/apps/{quote(args.app, safe='')}/sync", body=request_body(args)
    )
    if "generator" in answer:  # `fleet sync GENERATOR --confirm-prune` (docs/config.md)
        if args.json:
            out.json(answer)
        else:
            out.line(f"generator {answer['generator']}: removal confirmed, it goes ahead now")
        return EXIT_OK
    queued: list[JSON] = list(answer.get("queued") or [])
    waiting = [str(c) for c in answer.get("waiting") or []]
    if "rollout" in answer and not args.json:
        # A pin or unpin goes wave by wave (fleet rollout status APP follows the rest).
        if waiting:
            out.line(
                f"waiting for their wave: {', '.join(waiting)} (fleet rollout status {args.app})"
            )
        elif not queued:
            out.line(f"no cluster of {args.app} has to move: each is at its revision already")
            return EXIT_OK
    if not wait or not queued:
        if args.json:
            out.json(answer)
        else:
            out.line(queued_line(args.app, queued, args.dry_run))
        return EXIT_OK
    watcher = SyncWatcher(client, args.app, queued, baseline, args.cluster)
    finished = await follow(watcher, args.timeout)
    syncs = await watcher.details()
    if args.json:
        out.json({**answer, "syncs": syncs})
    else:
        print_results(args.app, syncs, args.dry_run, out)
    if not finished:
        pending = "\n  ".join(w.pending_reason() for w in watcher.watched if not w.done)
        print(
            f"fleet sync: gave up waiting after {args.timeout:g}s; still going:\n  {pending}",
            file=sys.stderr,
        )
        return EXIT_TIMEOUT
    return EXIT_OK if all(w.succeeded for w in watcher.watched) else EXIT_FAILED


async def follow(watcher: SyncWatcher, patience: float) -> bool:
    """Poll until every sync has a result (True) or ``patience`` runs out (False)."""
    import anyio

    live = LiveLine()
    started = time.monotonic()
    try:
        with anyio.move_on_after(patience):
            while True:
                await watcher.poll()
                if watcher.done:
                    return True
                live.update(watcher.progress(time.monotonic() - started))
                await anyio.sleep(POLL_INTERVAL)
    finally:
        live.clear()
    return False


def queued_line(app: str, queued: list[JSON], dry_run: bool) -> str:
    what = "dry run" if dry_run else "sync"
    if not queued:
        return f"no {what} of {app} was queued (it targets no cluster)"
    clusters = ", ".join(
        f"{q['cluster']} (sync {q['sync_id']})" if q.get("sync_id") else str(q["cluster"])
        for q in queued
    )
    return f"{what} of {app} queued on {clusters}"


def print_results(app: str, syncs: list[JSON], dry_run: bool, out: Output) -> None:
    if dry_run:
        out.line(f"dry run of {app}: nothing was changed", "bold")
    rows = [result_row(sync) for sync in syncs]
    out.table(HEADERS, rows)
    if dry_run:
        print_would_change(syncs, out)
    failed = [s for s in syncs if s.get("id") and s.get("result") != "Succeeded"]
    for sync in failed:
        out.line(f"details: fleet history show {sync['id']}")


def print_would_change(syncs: list[JSON], out: Output) -> None:
    """Every object a dry run found it would touch, per cluster, in sync order."""
    for sync in syncs:
        results = [r for r in sync.get("results") or [] if r.get("action") != "unchanged"]
        if not results:
            continue
        out.line()
        out.line(f"{sync.get('cluster')} would:", "bold")
        for row in results:
            namespace = row.get("namespace") or ""
            name = f"{namespace}/{row.get('name')}" if namespace else str(row.get("name"))
            group = f"{row['group']}/" if row.get("group") else ""
            what = str(row.get("message") or row.get("action") or "")
            verb, _, detail = what.removeprefix("would ").partition(": ")
            said = f"  ({detail})" if detail else ""
            out.line(f"  {verb:<8} {group}{row.get('kind')} {name}{said}")


def result_row(sync: JSON) -> list[Cell]:
    result = str(sync.get("result") or "not started")
    return [
        str(sync.get("cluster")),
        (result, STATUS_STYLES.get(result)),
        str(sync.get("id") or "-"),
        short_sha(sync.get("revision")),
        between(sync.get("started_at"), sync.get("finished_at")),
        changes(sync.get("results") or []),
        str(sync.get("message") or ""),
    ]


def changes(results: list[JSON]) -> str:
    """``"2 configured, 1 pruned, 5 unchanged"`` from a sync's resource results."""
    counts = Counter(str(r.get("action")) for r in results)
    order = [a for a in ACTION_ORDER if a in counts]
    order += sorted(a for a in counts if a not in ACTION_ORDER and a != "unchanged")
    order += ["unchanged"] if "unchanged" in counts else []
    return ", ".join(f"{counts[a]} {a}" for a in order) or "-"
