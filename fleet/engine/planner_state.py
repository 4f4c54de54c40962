"""What one call of the planner keeps while it decides: action outcomes, retries,
deadlines, and the facts it establishes for the next progress.

fleet.engine.plan drives the sequence of a sync, fleet.engine.steps one step; both build
on this state, which lives for a single ``decide`` call.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

import jsonpointer

from fleet.engine.actions import (
    Action,
    Wait,
)
from fleet.engine.decisions import Batch, Running
from fleet.engine.diff.ignore import remove_pointer, rules_for
from fleet.engine.hooks import stamp
from fleet.engine.ordering import SyncTask
from fleet.engine.prepare import Prepared, Reason, Step, SyncInput
from fleet.engine.progress import ActionRecord, Failure
from fleet.engine.retry import decide_retry, stable_random
from fleet.model.pointers import pointer_parts, resolve
from fleet.model.refs import ObjectRef

Obj = Mapping[str, Any]


_ABSENT = object()


def key(ref: ObjectRef) -> str:
    """The part of an action id that names an object."""
    return f"{ref.group}/{ref.kind}/{ref.namespace}/{ref.name}"


class Outcome:
    """How a step ended when it returned no batch."""

    DONE = "done"
    FAILED = "failed"


class PlannerState:
    """One call's worth of reasoning; discarded after ``decide``."""

    def __init__(self, inp: SyncInput, prepared: Prepared) -> None:
        self.inp = inp
        self.prepared = prepared
        self.options = inp.options
        self.records = inp.progress.records
        self.now = inp.now
        self.waits: dict[str, float] = {}
        self.done: list[str] = []
        self.failures: list[Failure] = []
        self._hook_index: dict[str, list[tuple[ObjectRef, Obj]]] | None = None
        #: Hooks not to create: their old instances are still in the way.
        self._blocked: set[str] = set()

    def _batch(self, actions: Iterable[Action], phase: str, wave: int | None, what: str) -> Batch:
        """A batch carrying the facts established so far, for ``Batch.record``."""
        return Batch(
            actions=tuple(actions),
            status=Running(phase, wave, what),
            decided_at=self.now,
            base=self.inp.progress,
            waits=dict(self.waits),
            done_steps=tuple(self.done),
            failures=tuple(self.failures),
            prune_plan=self.prepared.new_prune_plan,
        )

    def _state(self, action_id: str) -> tuple[str, ActionRecord | None, float]:
        """("todo" | "done" | "failed" | "backoff", record, retry time)."""
        record = self.records.get(action_id)
        if record is None:
            return "todo", None, 0.0
        if record.ok:
            return "done", record, 0.0
        assert record.error is not None
        random = stable_random(self.inp.progress.started_at, action_id, record.attempts)
        retry = decide_retry(record.error, record.attempts, self.options.retry, random)
        if not retry.retry:
            return "failed", record, 0.0
        due = record.at + retry.delay
        return ("todo", record, 0.0) if self.now >= due else ("backoff", record, due)

    def _error(self, record: ActionRecord | None) -> str:
        assert record is not None
        assert record.error is not None
        attempts = f" (after {record.attempts} attempts)" if record.attempts > 1 else ""
        return f"{record.error}{attempts}"

    def _retry_wait(self, backoff: list[tuple[float, ObjectRef]], step: Step | None) -> Batch:
        due = min(when for when, _ in backoff)
        refs = tuple(sorted({ref for _, ref in backoff}))
        wait = Wait(f"retry {due:.3f}", refs, "retrying after an error", due)
        phase, wave = (str(step.phase), step.wave) if step else ("DryRun", None)
        return self._batch([wait], phase, wave, f"waiting to retry {len(refs)} objects")

    def _deadline(self, wait_id: str, timeout: float) -> float:
        """A wait's deadline: fixed the first time the wait is returned, then kept."""
        known = self.inp.progress.waits.get(wait_id)
        deadline = known if known is not None else self.now + timeout
        self.waits[wait_id] = deadline
        return deadline

    def _apply_body(self, task: SyncTask, live: Obj | None) -> Obj:
        """What to apply: the manifest with fleet's tracking, made once per sync."""
        assert task.manifest is not None
        if self.prepared.untracked and task.ref in self.prepared.untracked:
            return task.manifest.body
        stamped = self.prepared.stamped.get(task.key)
        if stamped is None:
            stamped = self.prepared.stamped[task.key] = stamp(
                task.manifest.body, self.inp.app, task.ref
            )
        respect = task.settings.respect_ignore_differences
        if respect is None:
            respect = self.options.respect_ignore_differences
        if not (respect and live is not None):
            return stamped
        rules = rules_for(task.ref, self.options.ignore_differences)
        return _keep_live_values(dict(stamped), live, rules)

    def _hook_created(self, task: SyncTask) -> bool:
        """Whether this sync created the hook object of ``task`` (in its phase).

        A generated name is unique to one sync and phase, so an object of that name is
        this sync's even when its creation was not recorded (a crash in between): it is
        not created, and not run, a second time.
        """
        record = self.records.get(f"hook {task.phase} {task.key}")
        if record is not None and record.ok:
            return True
        generated = task.manifest is not None and not task.manifest.ref.name
        return generated and task.ref in self.inp.live

    def _failure(
        self, reason: Reason, record: ActionRecord | None, task: SyncTask, step: Step
    ) -> Failure:
        error = record.error if record is not None else None
        return Failure(reason, self._error(record), task.ref, str(step.phase), step.wave, error)


def _keep_live_values(body: dict[str, Any], live: Obj, rules: Iterable[Any]) -> dict[str, Any]:
    """RespectIgnoreDifferences: ignored fields take their live values in what is applied.

    With server-side apply, leaving a field out would remove it (fleet owns it), so the
    live value is sent instead; a field absent from live is left out. Rare, so the body is
    simply copied.
    """
    out = copy.deepcopy(body)
    for rule in rules:
        for pointer in rule.json_pointers:
            value = resolve(live, pointer_parts(pointer), _ABSENT)
            if value is _ABSENT:
                remove_pointer(out, pointer_parts(pointer))
                continue
            try:
                jsonpointer.set_pointer(out, pointer, copy.deepcopy(value))
            except jsonpointer.JsonPointerException:
                continue  # its parent is not in the manifest: nothing to keep
    return out
