"""What history records of each resource action a sync makes.

The executor (fleet.runtime.executor) does the writes; this module says how each one is
filed: its verb, the phase and wave it belongs to (history needs a phase, so an action
without one is filed under Sync or Cleanup), how long it took, and for a hook how it
ended (history shows Succeeded or Failed, not the Progressing it had while running).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from fleet.engine import Apply, CreateHook, DeleteHook, Prune, ReleaseHook
from fleet.model import annotations as names
from fleet.model.refs import ObjectRef

Obj = Mapping[str, Any]
#: The actions that write, and so get a row (dry-runs and waits do not).
Write = Apply | Prune | CreateHook | DeleteHook | ReleaseHook


@dataclass(frozen=True, slots=True)
class ResourceRow:
    """One resource action of a sync, as history keeps it."""

    ref: ObjectRef
    action: str
    phase: str = ""
    wave: int | None = None
    ok: bool = True
    message: str = ""
    duration_ms: float = 0.0
    #: A hook's outcome when it is known (Running, Succeeded, Failed); else from live.
    health: str | None = None


def with_duration(row: ResourceRow, elapsed_ms: float) -> ResourceRow:
    return replace(row, duration_ms=round(elapsed_ms, 1))


def failed_row(action: Write, message: str) -> ResourceRow:
    """The row of an action the cluster refused."""
    phase, wave = _step(action)
    return ResourceRow(action.ref, _verb(action), phase, wave, ok=False, message=message)


def finished_hook_row(
    ref: ObjectRef, live: Obj | None, what: str, outcome: str | None
) -> ResourceRow | None:
    """The row that says how a hook ended; None while it has not (the sync ended first)."""
    if live is None or outcome not in ("Succeeded", "Failed"):
        return None
    return ResourceRow(
        ref, what, hook_phase(live), None, message=f"hook {outcome.lower()}", health=outcome
    )


def hook_phase(live: Obj | None) -> str:
    """The phase a hook object was created for (its hook-source annotation), or Cleanup."""
    annotations = ((live or {}).get("metadata") or {}).get("annotations") or {}
    _, _, phase = str(annotations.get(names.HOOK_SOURCE) or "").rpartition("@")
    return phase or "Cleanup"


def _verb(action: Write) -> str:
    return {
        Apply: "apply",
        Prune: "prune",
        CreateHook: "hook",
        DeleteHook: "delete",
        ReleaseHook: "release",
    }.get(type(action), "action")


def _step(action: Write) -> tuple[str, int | None]:
    """The phase and wave history files an action under (history needs a phase)."""
    phase = getattr(action, "phase", "")
    wave = getattr(action, "wave", None)
    if not phase:
        phase = "Sync" if isinstance(action, Prune) else "Cleanup"
    return str(phase), wave
