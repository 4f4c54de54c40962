"""``fleet rollout status|resume|abort|promote APP``: see and steer an app's rollout.

``status`` shows each wave of the app's current rollout (a commit, a pin, an unpin or a
rollback): the clusters done, in progress, pending and failed, the soak left, the
failure budget used, and why a halted rollout halted. ``resume`` carries a halted or
aborted rollout on (failed clusters try again; a rollback's hold is lifted), ``abort``
stops it where it is (nothing more is released until a new commit or ``resume``),
``promote`` skips the soak of the wave that is soaking. Reads need the ``read`` scope,
the others ``sync``.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from fleet.cli.connect import EXIT_OK, add_daemon_arguments, run_against_daemon
from fleet.cli.output import Output, add_output_arguments, duration, short_sha

if TYPE_CHECKING:
    from fleet.adapters.http.client import DaemonClient

JSON = dict[str, Any]

HEADERS = ("WAVE", "DONE", "IN PROGRESS", "PENDING", "FAILED", "SOAK LEFT", "BUDGET")
ROLLOUT_STYLES = {
    "Complete": "green",
    "Progressing": "cyan",
    "Soaking": "cyan",
    "Halted": "red",
    "Aborted": "yellow",
    "Idle": "dim",
}
ACTIONS = {
    "status": "show each wave: clusters done, in progress, pending; soak left; budget used",
    "resume": "carry a halted or aborted rollout on (failed clusters try again)",
    "abort": "stop the rollout where it is: no more clusters get the revision",
    "promote": "skip the soak of the wave that is soaking now",
}


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "rollout",
        help="see an app's rollout wave by wave; resume, abort or promote it",
        description="See or steer the rollout of APP across its waves.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    for action, text in ACTIONS.items():
        sub = actions.add_parser(action, help=text, description=text)
        sub.add_argument("app", metavar="APP", help="the app")
        add_output_arguments(sub, json_help="print the rollout as JSON (the daemon's keys)")
        add_daemon_arguments(sub)
        sub.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    return run_against_daemon(args, steer, loop=False)


async def steer(client: DaemonClient, args: argparse.Namespace) -> int:
    path = f"/api/v1/apps/{quote(args.app, safe='')}/rollout"
    if args.action == "status":
        answer: JSON = await client.request("GET", path)
    else:
        answer = await client.request("POST", f"{path}/{args.action}", body={})
    out = Output.to(color_mode=args.color)
    if args.json:
        out.json(answer)
        return EXIT_OK
    if args.action != "status":
        done = {"resume": "resumed", "abort": "aborted", "promote": "promoted"}[args.action]
        out.line(f"rollout of {args.app} {done}")
    print_status(answer, out)
    return EXIT_OK


def print_status(state: JSON, out: Output) -> None:
    status = str(state.get("status") or "Idle")
    revision = short_sha(state.get("revision"))
    out.line(
        f"{state.get('app')}: {out.paint(status, ROLLOUT_STYLES.get(status))} "
        f"at {revision} (trigger {state.get('trigger')})"
    )
    message = str(state.get("halt_reason") or state.get("message") or "")
    if message:
        out.line(("halted: " if status == "Halted" else "") + message)
    out.line()
    out.table(HEADERS, [wave_row(wave) for wave in state.get("waves") or []])
    holds = state.get("holds") or []
    if holds:
        out.line()
        for hold in holds:
            out.line(
                f"held: {hold['cluster']} at {short_sha(hold['revision'])} ({hold['reason']}) "
                f"until a new commit or `fleet sync {state.get('app')} --unpin`"
            )
    pins = state.get("pins") or {}
    for cluster, sha in sorted(pins.items()):
        out.line(f"pinned: {cluster} at {short_sha(sha)}")
    for cluster, why in sorted((state.get("blocked") or {}).items()):
        out.line(f"waiting: {cluster}: {why}")


def wave_row(wave: JSON) -> list[str | tuple[str, str | None]]:
    failed = ", ".join(
        f"{f['cluster']} ({f['reason']})" if f.get("reason") else str(f["cluster"])
        for f in wave.get("failed") or []
    )
    left = wave.get("soak_left")
    soak = duration(float(left)) if left is not None else "-"
    if wave.get("promoted"):
        soak = "promoted"
    return [
        str(wave.get("name")),
        ", ".join(wave.get("done") or []) or "-",
        ", ".join(wave.get("in_progress") or []) or "-",
        ", ".join(wave.get("pending") or []) or "-",
        (failed, "red") if failed else "-",
        soak,
        f"{wave.get('budget_used', 0)}/{wave.get('failure_budget', 0)}",
    ]
