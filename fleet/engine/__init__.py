"""The pure sync engine: ordering, hooks, health, diff, prune and plans. No I/O, no clock.

The runtime calls one function, ``decide``, in a loop (see fleet.engine.plan for the
protocol and the sequence of a sync)::

    from fleet.engine import Batch, Progress, SyncInput, SyncOptions, decide

    progress = Progress.start(now)
    while isinstance(decision := decide(SyncInput(..., progress=progress, now=now)), Batch):
        results = [await execute(action) for action in decision.actions]  # concurrently
        progress = decision.record(results, now)
    # decision is Succeeded (save decision.inventory) or Failed (decision.failures)

Actions (fleet.engine.actions): DryRun, Apply, Prune, CreateHook, DeleteHook,
ReleaseHook, Wait. Results come from the action: ``action.succeeded()``,
``action.failed(ApiError(...))``, ``dry_run.succeeded_with(server_object)``,
``dry_run.kind_missing()``.

``SyncInput(deleting=True)`` plans the deletion of a whole app instead (PreDelete hooks,
owned objects in reverse wave order, PostDelete hooks). docs/engine.md has the rules.

Helpers the other layers use on their own: ``apply_order`` (objects in sync order),
``assess`` / ``app_health`` (health), ``compare`` (diffs), ``rebuild_inventory``
(ownership read back from the cluster), ``extraneous`` (tracked objects no longer in Git),
``decide_retry`` / ``backoff_delay`` (retries).
"""

from fleet.engine.actions import (
    Action,
    ActionResult,
    Apply,
    CreateHook,
    DeleteHook,
    DryRun,
    Prune,
    ReleaseHook,
    Wait,
)
from fleet.engine.annotations import AnnotationError, DeletePolicy, Phase, read_settings
from fleet.engine.decisions import Batch, Decision, Failed, Running, Succeeded, Verdict
from fleet.engine.diff import ObjectDiff, compare
from fleet.engine.health import app_health, assess
from fleet.engine.options import SyncOptions, Timeouts
from fleet.engine.ordering import apply_order
from fleet.engine.plan import decide
from fleet.engine.prepare import PlanMemo, Reason, SyncInput
from fleet.engine.progress import ActionRecord, Failure, Progress
from fleet.engine.prune import extraneous, rebuild_inventory
from fleet.engine.retry import ApiError, RetryPolicy, backoff_delay, decide_retry, is_retryable

__all__ = [
    "Action",
    "ActionRecord",
    "ActionResult",
    "AnnotationError",
    "ApiError",
    "Apply",
    "Batch",
    "CreateHook",
    "Decision",
    "DeleteHook",
    "DeletePolicy",
    "DryRun",
    "Failed",
    "Failure",
    "ObjectDiff",
    "Phase",
    "PlanMemo",
    "Progress",
    "Prune",
    "Reason",
    "ReleaseHook",
    "RetryPolicy",
    "Running",
    "Succeeded",
    "SyncInput",
    "SyncOptions",
    "Timeouts",
    "Verdict",
    "Wait",
    "app_health",
    "apply_order",
    "assess",
    "backoff_delay",
    "compare",
    "decide",
    "decide_retry",
    "extraneous",
    "is_retryable",
    "read_settings",
    "rebuild_inventory",
]
