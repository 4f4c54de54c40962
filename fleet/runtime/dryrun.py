"""``fleet sync --dry-run``: what a sync would change on one cluster, changing nothing.

A dry run used to be an ordinary sync with a flag on its history record: it applied.
Now a manual trigger with ``dry_run`` never reaches the executor. The worker asks the
plan machinery (fleet.runtime.plan, the same dry-runs ``fleet plan`` makes, so the two
always agree) what a sync of its target revision would do on its cluster, and records
that as the dry-run sync's resource results, in history's own words: ``created``,
``configured``, ``pruned``, ``hook`` (in a sync flagged dry run, each means "would").
Objects the dry-run shows unchanged are counted in the message, not listed; refusals
(prune guard, render error) fail the dry run with their reason.

It writes nothing to the cluster, and nothing to the worker's state: the status, the
revision tried, the rollout and the notifications never hear of a dry run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fleet.adapters.store import ResourceResult
from fleet.model.refs import ObjectRef

if TYPE_CHECKING:
    from fleet.adapters.git import Revision
    from fleet.runtime.worker import Worker

#: The history action each planned action is recorded as.
RECORDED_AS = {
    "create": "created",
    "change": "configured",
    "reapply": "configured",
    "prune": "pruned",
    "hook": "hook",
    "keep": "skipped",
}


@dataclass(frozen=True, slots=True)
class DryRunOutcome:
    result: str
    message: str
    rows: list[ResourceResult]


async def dry_run(worker: Worker, revision: Revision) -> DryRunOutcome:
    """What a sync of ``revision`` would do on the worker's cluster (dry-runs only)."""
    # fleet.runtime.plan imports the worker module: imported here, not at the top.
    from fleet.runtime.plan import FleetPlanner, PlanScope

    scope = PlanScope(
        config=worker.config,
        workers={worker.key: worker},
        fetched={},
        builder=worker.ctx.builder,
    )
    report = await FleetPlanner(clock=worker.ctx.clock).plan(
        scope, worker.app.name, revision.sha, with_diff=False
    )
    app: dict[str, Any] = report["apps"][0]
    if app.get("error"):
        return DryRunOutcome("Failed", f"dry run: {app['error']}", [])
    mine = next(c for c in app["clusters"] if c["cluster"] == worker.cluster.name)
    if mine.get("error"):
        return DryRunOutcome("Failed", f"dry run: {mine['error']}", [])
    rows = [_row(planned) for planned in mine["objects"]]
    refusals = [
        r["message"] if not r.get("object") else f"{r['object']}: {r['message']}"
        for r in mine["refusals"]
    ]
    if refusals:
        return DryRunOutcome(
            "Failed", "dry run: the sync would refuse: " + "; ".join(refusals), rows
        )
    return DryRunOutcome("Succeeded", summary(mine["objects"], int(mine["unchanged"])), rows)


def summary(objects: list[dict[str, Any]], unchanged: int) -> str:
    """``dry run, nothing changed: would create 1, change 2, prune 1; 7 unchanged``."""
    counts: dict[str, int] = {}
    for planned in objects:
        counts[str(planned["action"])] = counts.get(str(planned["action"]), 0) + 1
    parts = [
        f"{verb} {counts[action]}"
        for action, verb in (
            ("create", "create"),
            ("change", "change"),
            ("reapply", "re-apply"),
            ("prune", "prune"),
            ("hook", "run hooks"),
            ("keep", "keep"),
        )
        if counts.get(action)
    ]
    would = f"would {', '.join(parts)}" if parts else "would change nothing"
    return f"dry run, nothing changed: {would}; {unchanged} unchanged"


def _row(planned: dict[str, Any]) -> ResourceResult:
    ref = ObjectRef(
        str(planned["group"]), str(planned["kind"]), str(planned["namespace"]), str(planned["name"])
    )
    action = str(planned["action"])
    detail = str(planned.get("detail") or "")
    return ResourceResult(
        phase=str(planned.get("phase") or "Sync"),
        wave=int(planned.get("wave") or 0),
        group=ref.group,
        kind=ref.kind,
        namespace=ref.namespace,
        name=ref.name,
        action=RECORDED_AS.get(action, "skipped"),
        health=None,
        message=f"would {action}" + (f": {detail}" if detail else ""),
    )
