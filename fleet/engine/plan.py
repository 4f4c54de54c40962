"""The sync planner: from what is desired, what is live and what happened so far, the next
thing to do.

It is sans-I/O, like httpx's auth flow: the engine never calls the cluster, reads a file
or a clock. The runtime drives it::

    progress = Progress.start(now)                      # once per sync; save it
    while True:
        decision = decide(SyncInput(app, revision, desired, live, inventory, options,
                                    progress, now=clock()))
        if not isinstance(decision, Batch):
            break                                       # Succeeded or Failed: the verdict
        results = await run_concurrently(decision.actions)   # [] for a batch of waits
        progress = decision.record(results, now=clock())     # save it (SQLite): resumable

``decide`` is a pure function: the same input gives the same decision. A sync goes:

1. Refusals, before anything is touched: render failed, render empty (unless allowed),
   unreadable annotation, duplicate object, prune guard (fleet.engine.prepare).
2. Dry-run of every object (server side). If any fails, nothing is applied.
3. Steps in order (phase, wave: fleet.engine.ordering). Within a step: prunes, then the
   deletions BeforeHookCreation needs (and waiting until those are gone), then applies and
   hook creations in runs of one kind (a run starts when the previous one has answered).
   Objects the dry-run showed in sync are not applied (unless ApplyOutOfSyncOnly=false).
   Then the step waits until its resources are healthy, its hooks complete and its prunes
   gone, each wait with a deadline from the options. A failed write, a Degraded resource,
   a failed hook or a passed deadline fails the sync; the rest of the step's writes are
   still attempted, later steps never run.
4. After a failure, the SyncFail hooks run.
5. Cleanup: hooks whose delete policy matches their outcome are deleted, the others
   released (fleet's finalizer removed); so are hooks a killed sync left holding the
   finalizer (fleet.engine.leftover_hooks). Then the verdict.

Failed writes that may succeed later (fleet.engine.retry) are retried with exponential
back-off and jitter; the back-off is a Wait whose deadline is the time to try again.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fleet.engine.actions import (
    Action,
    DeleteHook,
    DryRun,
    ReleaseHook,
)
from fleet.engine.adoption import claim_problem
from fleet.engine.annotations import DeletePolicy
from fleet.engine.decisions import Batch, Decision, Failed, Succeeded
from fleet.engine.deletion import prepare_deletion
from fleet.engine.hooks import HookOutcome, hook_state, instance_body
from fleet.engine.leftover_hooks import LEFTOVER_PREFIX, leftover_hooks
from fleet.engine.namespaces import NamespaceFirst
from fleet.engine.ordering import SyncTask, TaskType
from fleet.engine.planner_state import Outcome, key
from fleet.engine.prepare import Reason, SyncInput, dry_run_tasks, prepare
from fleet.engine.progress import Failure
from fleet.engine.steps import StepPlanner
from fleet.model import annotations as names
from fleet.model.refs import ObjectRef

__all__ = ["SyncInput", "decide"]

Obj = Mapping[str, Any]

#: Marks the dry-run as complete in Progress.done_steps: which objects can be dry-run
#: depends on what is live, so the stage must not reopen once the first apply is made.
DRY_RUN_STEP = "DryRun"


def decide(inp: SyncInput) -> Decision:
    """The next batch of actions, or the verdict. Pure: same input, same answer."""
    prepared = prepare_deletion(inp) if inp.deleting else prepare(inp)
    if isinstance(prepared, list):
        return Failed(tuple(prepared), inp.inventory)
    return _Planner(inp, prepared).decide()


class _Planner(NamespaceFirst, StepPlanner):
    """The sequence of a sync: dry-run, steps, SyncFail, cleanup, verdict."""

    # -- the sequence ----------------------------------------------------------------

    def decide(self) -> Decision:
        progress = self.inp.progress
        failed_before = bool(progress.failures)
        if not failed_before:
            if DRY_RUN_STEP not in progress.done_steps:
                dry_run = self._dry_run()
                if dry_run is not None:
                    return dry_run
                self.done.append(DRY_RUN_STEP)
            for step in self.prepared.steps:
                if step.key in progress.done_steps:
                    continue
                outcome = self._step(step)
                if isinstance(outcome, Batch):
                    return outcome
                if outcome == Outcome.FAILED:
                    break
                self.done.append(step.key)
        if failed_before or self.failures:
            for step in self.prepared.fail_steps:
                if step.key in progress.done_steps:
                    continue
                outcome = self._step(step)
                if isinstance(outcome, Batch):
                    return outcome
                self.done.append(step.key)
        cleanup = self._cleanup()
        if cleanup is not None:
            return cleanup
        return self._verdict()

    # -- dry-run ---------------------------------------------------------------------

    def _shared(self) -> list[Failure]:
        """Objects in the way that are not this app's: writing them would take them over
        behind someone's back (fleet.engine.adoption)."""
        failures = []
        adopt = self.options.adopt
        for task in self.prepared.writes:
            live = self.inp.live.get(task.ref)
            if live is None or task.ref in self.prepared.untracked:
                continue  # CreateNamespace's namespace is untracked, never claimed
            wanted = task.manifest.annotations if task.manifest is not None else {}
            problem = claim_problem(self.inp.app, task.ref, live, wanted, adopt)
            if problem is not None:
                failures.append(Failure(problem.reason, problem.message, task.ref))
        return failures

    def _dry_run(self) -> Batch | Failed | None:
        shared = self._shared()
        if shared:
            return Failed(tuple(shared), self.inp.inventory, self.prepared.candidates)
        todo: list[Action] = []
        backoff: list[tuple[float, ObjectRef]] = []
        failures: list[Failure] = []
        for task in dry_run_tasks(self.inp, self.prepared):
            action_id = f"dry-run {task.key}"
            state, record, due = self._state(action_id)
            if state == "todo":
                todo.append(self._dry_run_action(action_id, task))
            elif state == "backoff":
                backoff.append((due, task.ref))
            elif state == "failed":
                error = record.error if record is not None else None
                failures.append(
                    Failure(Reason.DRY_RUN_FAILED, self._error(record), task.ref, error=error)
                )
        if todo:
            return self._batch(todo, "DryRun", None, f"dry-run of {len(todo)} objects")
        if backoff:
            return self._retry_wait(backoff, None)
        if failures:
            return self._dry_run_failed(failures)
        return self._create_namespace_first()

    def _dry_run_action(self, action_id: str, task: SyncTask) -> DryRun:
        ref = task.ref
        live = self.inp.live.get(ref)
        if task.type is TaskType.HOOK:
            assert task.manifest is not None
            body: Obj = instance_body(task.manifest, self.inp.app, ref, task.phase)
            mode = "create"
        else:
            body = self._apply_body(task, live)
            mode = "replace" if task.settings.replace else "apply"
        return DryRun(
            action_id,
            ref,
            body,
            mode=mode,
            allow_missing_kind=task.settings.skip_dry_run_on_missing_resource,
            live=live,
            ignore=self.options.ignore_differences,
            secret_key=self.options.secret_digest_key,
        )

    # -- the end ---------------------------------------------------------------------

    def _created_hooks(self) -> dict[ObjectRef, SyncTask]:
        """Hook objects this sync created, each with its last phase's task."""
        created: dict[ObjectRef, SyncTask] = {}
        for step in (*self.prepared.steps, *self.prepared.fail_steps):
            for task in step.tasks:
                if task.type is TaskType.HOOK and self._hook_created(task):
                    created[task.ref] = task
        return created

    def _cleanup(self) -> Batch | None:
        actions: list[Action] = []
        for ref, task in sorted(self._created_hooks().items()):
            obj = self.inp.live.get(ref)
            action_id = f"cleanup {key(ref)}"
            if obj is None or action_id in self.records:
                continue
            outcome = hook_state(obj, self.options.health_rules, self.options.custom_health).outcome
            policies = task.settings.delete_policies
            delete = (
                outcome is HookOutcome.SUCCEEDED and DeletePolicy.HOOK_SUCCEEDED in policies
            ) or (outcome is HookOutcome.FAILED and DeletePolicy.HOOK_FAILED in policies)
            meta = obj.get("metadata") or {}
            if delete:
                uid = str(meta.get("uid") or "")
                actions.append(DeleteHook(action_id, ref, uid, f"hook {outcome.lower()}"))
            elif names.HOOK_FINALIZER in (meta.get("finalizers") or ()):
                actions.append(ReleaseHook(action_id, ref))
        actions += self._leftovers()
        if not actions:
            return None
        return self._batch(actions, "Cleanup", None, f"cleaning up {len(actions)} hooks")

    def _leftovers(self) -> list[Action]:
        """Hooks an earlier, killed sync left holding fleet's finalizer
        (fleet.engine.leftover_hooks): cleaned up once, as their delete policy says."""
        found = leftover_hooks(
            self.inp.app,
            self.inp.live.items(),
            self._created_hooks(),
            self.options.health_rules,
            self.options.custom_health,
        )
        todo: list[Action] = []
        for leftover in found:
            action = leftover.action()
            if action.id not in self.records:
                todo.append(action)
        return todo

    def _verdict(self) -> Succeeded | Failed:
        candidates = self.prepared.candidates
        inventory = self.prepared.desired_refs | {c.ref for c in candidates if c.owned}
        kept = tuple(c for c in candidates if not c.prune)
        warnings = tuple(
            f"hook {ref} was not cleaned up: {self._error(record)}"
            for ref in sorted(self._created_hooks())
            if (record := self.records.get(f"cleanup {key(ref)}")) is not None and not record.ok
        ) + tuple(
            f"hook {action_id.removeprefix(LEFTOVER_PREFIX)} left over by an earlier sync was "
            f"not cleaned up: {self._error(record)}"
            for action_id, record in sorted(
                (i, r) for i, r in self.records.items() if i.startswith(LEFTOVER_PREFIX)
            )
            if not record.ok
        )
        failures = (*self.inp.progress.failures, *self.failures)
        if failures:
            return Failed(tuple(failures), inventory, kept, warnings)
        writes = [
            r.at
            for action_id, r in self.records.items()
            if r.ok and action_id.startswith(("apply ", "hook ", "prune ", "delete-hook "))
        ]
        applied_at = max(writes, default=self.inp.progress.started_at)
        healthy_at = max(
            [*self.inp.progress.done_steps.values(), *([self.now] if self.done else [])],
            default=self.now,
        )
        return Succeeded(inventory, applied_at, healthy_at, kept, warnings)
