"""One step of a sync (a phase and a wave): prunes, the deletions BeforeHookCreation
needs, applies and hook creations in runs of one kind, then the waits for health, hook
completion and deletions, each with its deadline.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from itertools import groupby
from typing import Any

from fleet.engine.actions import (
    Action,
    Apply,
    CreateHook,
    DeleteHook,
    Prune,
    Wait,
)
from fleet.engine.annotations import DeletePolicy, Phase
from fleet.engine.decisions import Batch
from fleet.engine.health import Health, HealthStatus, assess
from fleet.engine.hooks import HookOutcome, hook_state, instance_body
from fleet.engine.ordering import SyncTask, TaskType
from fleet.engine.planner_state import Outcome, PlannerState, key
from fleet.engine.prepare import Reason, Step
from fleet.engine.progress import Failure
from fleet.model import annotations as names
from fleet.model.refs import ObjectRef

Obj = Mapping[str, Any]


class StepPlanner(PlannerState):
    """Decides within one step: the next batch, or Outcome.DONE / Outcome.FAILED."""

    def _step(self, step: Step) -> Batch | str:
        prunes = [t for t in step.tasks if t.type is TaskType.PRUNE]
        writes = [t for t in step.tasks if t.type is not TaskType.PRUNE]
        step_failures: list[Failure] = []

        # 1. prunes, all at once
        todo: list[Action] = []
        backoff: list[tuple[float, ObjectRef]] = []
        for task in prunes:
            action_id = f"prune {task.key}"
            state, record, due = self._state(action_id)
            if state == "todo":
                uid = str((self.inp.live[task.ref].get("metadata") or {}).get("uid") or "")
                propagation = _propagation(task.settings.prune_propagation)
                todo.append(
                    Prune(
                        action_id,
                        task.ref,
                        uid,
                        propagation or self.options.prune_propagation,
                        task.wave,
                    )
                )
            elif state == "backoff":
                backoff.append((due, task.ref))
            elif state == "failed":
                step_failures.append(self._failure(Reason.PRUNE_FAILED, record, task, step))
        if todo:
            return self._batch(todo, step.phase, step.wave, f"pruning {len(todo)} objects")
        if backoff:
            return self._retry_wait(backoff, step)

        # 2. deletions BeforeHookCreation needs, and waiting until they are gone
        hooks = [t for t in writes if t.type is TaskType.HOOK]
        gone_wait = self._before_hook_creation(step, hooks, step_failures)
        if gone_wait is not None:
            return gone_wait

        # 3. applies and hook creations, in runs of one kind
        for (group, kind), run in groupby(writes, key=lambda t: (t.ref.group, t.ref.kind)):
            crd = self.prepared.crd_kinds.get(f"{group}/{kind}")
            if crd is not None:
                pending = self._crd_not_established(step, crd, step_failures)
                if isinstance(pending, Batch):
                    return pending
                if pending == Outcome.FAILED:
                    continue  # its custom resources cannot be written
            batch = self._run(step, list(run), step_failures)
            if batch is not None:
                return batch
        if step_failures:
            self.failures.extend(step_failures)
            return Outcome.FAILED

        # 4. waiting: resources healthy, hooks complete, prunes gone
        return self._wait(step, writes, prunes)

    def _before_hook_creation(
        self, step: Step, hooks: list[SyncTask], step_failures: list[Failure]
    ) -> Batch | None:
        """Delete what BeforeHookCreation (or a hook's earlier phase) leaves in the way.

        A hook whose old instances could not be deleted, or are not gone before the
        deadline, is not created (its key goes to ``_blocked``); the step then fails.
        """
        todo: list[Action] = []
        backoff: list[tuple[float, ObjectRef]] = []
        pending: dict[ObjectRef, str] = {}
        for task in hooks:
            for victim, obj in self._victims(task):
                action_id = f"delete-hook {task.phase} {key(victim)}"
                state, record, due = self._state(action_id)
                self._blocked.add(task.key)
                if state == "todo":
                    uid = str((obj.get("metadata") or {}).get("uid") or "")
                    todo.append(DeleteHook(action_id, victim, uid, "BeforeHookCreation"))
                elif state == "backoff":
                    backoff.append((due, victim))
                elif state == "failed":
                    failure = self._failure(Reason.HOOK_DELETE_FAILED, record, task, step)
                    step_failures.append(failure)
                else:
                    pending[victim] = task.key
        if todo:
            return self._batch(todo, step.phase, step.wave, f"deleting {len(todo)} old hooks")
        if backoff:
            return self._retry_wait(backoff, step)
        if not pending:
            return None
        wait_id = f"wait-hooks-gone {step.key}"
        deadline = self._deadline(wait_id, self.options.timeouts.deletion)
        if self.now >= deadline:
            message = f"old hook still present after {self.options.timeouts.deletion:g}s"
            for ref in pending:
                step_failures.append(
                    Failure(Reason.TIMEOUT, message, ref, str(step.phase), step.wave)
                )
            return None
        wait = Wait(wait_id, tuple(sorted(pending)), "old hooks being deleted", deadline)
        return self._batch([wait], step.phase, step.wave, "waiting for old hooks to go")

    def _victims(self, task: SyncTask) -> list[tuple[ObjectRef, Obj]]:
        """Live objects to delete before creating this hook (none once it is created)."""
        before_creation = DeletePolicy.BEFORE_HOOK_CREATION in task.settings.delete_policies
        victims: list[tuple[ObjectRef, Obj]] = []
        current = self.inp.live.get(task.ref)
        if (
            current is not None
            and not self._hook_created(task)
            and (before_creation or self._created_this_sync(task.ref))
        ):
            victims.append((task.ref, current))
        if before_creation:
            source = self.prepared.hook_sources[task.ref, task.phase]
            victims += [(r, o) for r, o in self._hook_instances(source) if r != task.ref]
        return victims

    def _created_this_sync(self, ref: ObjectRef) -> bool:
        return any(
            (record := self.records.get(f"hook {phase} {key(ref)}")) is not None and record.ok
            for phase in Phase
        )

    def _hook_instances(self, source: str) -> list[tuple[ObjectRef, Obj]]:
        if self._hook_index is None:
            index: dict[str, list[tuple[ObjectRef, Obj]]] = defaultdict(list)
            for ref, obj in self.inp.live.items():
                annotations = (obj.get("metadata") or {}).get("annotations") or {}
                found = annotations.get(names.HOOK_SOURCE)
                if found is not None:
                    index[str(found)].append((ref, obj))
            self._hook_index = index
        return sorted(self._hook_index.get(source, ()), key=lambda pair: pair[0])

    def _assess(self, obj: Obj) -> Health:
        return assess(obj, self.options.health_rules, self.options.custom_health)

    def _crd_not_established(
        self, step: Step, crd: ObjectRef, step_failures: list[Failure]
    ) -> Batch | str | None:
        """A wait while the CRD applied by this sync is not yet established: its custom
        resources cannot be written before the API server serves their kind."""
        live = self.inp.live.get(crd)
        health = self._assess(live) if live is not None else None
        if health is not None and health.status is HealthStatus.HEALTHY:
            return None
        wait_id = f"wait-crd {step.key} {crd.name}"
        deadline = self._deadline(wait_id, self.options.timeouts.health)
        last = str(health) if health is not None else "Missing: not seen yet"
        if self.now >= deadline:
            message = f"not established after {self.options.timeouts.health:g}s; last: {last}"
            step_failures.append(Failure(Reason.TIMEOUT, message, crd, str(step.phase), step.wave))
            return Outcome.FAILED
        wait = Wait(wait_id, (crd,), "waiting for the CRD to be established", deadline)
        return self._batch([wait], step.phase, step.wave, f"waiting for {crd.name}")

    def _run(self, step: Step, run: list[SyncTask], step_failures: list[Failure]) -> Batch | None:
        """Actions still to send for one run; None when every write of it has answered."""
        todo: list[Action] = []
        backoff: list[tuple[float, ObjectRef]] = []
        for task in run:
            is_hook = task.type is TaskType.HOOK
            action_id = f"hook {task.phase} {task.key}" if is_hook else f"apply {task.key}"
            state, record, due = self._state(action_id)
            if is_hook and (task.key in self._blocked or self._hook_created(task)):
                continue
            if state == "todo":
                if is_hook:
                    assert task.manifest is not None
                    body = instance_body(task.manifest, self.inp.app, task.ref, task.phase)
                    todo.append(CreateHook(action_id, task.ref, body, task.phase, task.wave))
                elif not self._in_sync(task):
                    todo.append(
                        Apply(
                            action_id,
                            task.ref,
                            self._apply_body(task, self.inp.live.get(task.ref)),
                            task.phase,
                            task.wave,
                            replace=task.settings.replace,
                            force=task.settings.force,
                        )
                    )
            elif state == "backoff":
                backoff.append((due, task.ref))
            elif state == "failed":
                reason = Reason.HOOK_CREATE_FAILED if is_hook else Reason.APPLY_FAILED
                step_failures.append(self._failure(reason, record, task, step))
        if todo:
            kind = run[0].ref.kind
            verb = "creating" if run[0].type is TaskType.HOOK else "applying"
            return self._batch(todo, step.phase, step.wave, f"{verb} {len(todo)} {kind}")
        if backoff:
            return self._retry_wait(backoff, step)
        return None

    def _in_sync(self, task: SyncTask) -> bool:
        """Whether the apply can be skipped: the dry-run found nothing to change."""
        if task.ref not in self.inp.live:
            return False
        only_out_of_sync = task.settings.apply_out_of_sync_only
        if only_out_of_sync is None:
            only_out_of_sync = self.options.apply_out_of_sync_only
        record = self.records.get(f"dry-run {task.key}")
        return bool(only_out_of_sync and record is not None and record.in_sync)

    def _wait(self, step: Step, writes: list[SyncTask], prunes: list[SyncTask]) -> Batch | str:
        timeouts = self.options.timeouts
        waiting: dict[str, list[tuple[ObjectRef, str]]] = defaultdict(list)
        failures: list[Failure] = []
        phase, wave = str(step.phase), step.wave
        for task in writes:
            obj = self.inp.live.get(task.ref)
            if task.type is TaskType.HOOK:
                if obj is None:
                    waiting["hooks"].append((task.ref, "not seen yet"))
                    continue
                hook = hook_state(obj, self.options.health_rules, self.options.custom_health)
                if hook.outcome is HookOutcome.FAILED:
                    failures.append(
                        Failure(Reason.HOOK_FAILED, hook.message, task.ref, phase, wave)
                    )
                elif hook.outcome is HookOutcome.RUNNING:
                    waiting["hooks"].append((task.ref, hook.message))
                continue
            if obj is None:
                waiting["health"].append((task.ref, "Missing: not seen yet"))
                continue
            health = self._assess(obj)
            if health.status is HealthStatus.DEGRADED:
                failures.append(Failure(Reason.DEGRADED, health.message, task.ref, phase, wave))
            elif health.status not in (HealthStatus.HEALTHY, HealthStatus.SUSPENDED):
                waiting["health"].append((task.ref, str(health)))
        for task in prunes:
            waiting["gone"].append((task.ref, "still present"))
        if failures:
            self.failures.extend(failures)
            return Outcome.FAILED
        if not waiting:
            return Outcome.DONE
        limits = {"health": timeouts.health, "hooks": timeouts.hook, "gone": timeouts.deletion}
        goals = {"health": "healthy", "hooks": "complete", "gone": "gone"}
        waits: list[Action] = []
        for what in sorted(waiting):
            wait_id = f"wait-{what} {step.key}"
            deadline = self._deadline(wait_id, limits[what])
            refs = waiting[what]
            if self.now >= deadline:
                for ref, last in refs:
                    message = f"not {goals[what]} after {limits[what]:g}s; last: {last}"
                    failures.append(Failure(Reason.TIMEOUT, message, ref, phase, wave))
            else:
                reason = f"waiting for {len(refs)} objects to be {goals[what]}"
                waits.append(Wait(wait_id, tuple(r for r, _ in refs), reason, deadline))
        if failures:
            self.failures.extend(failures)
            return Outcome.FAILED
        total = sum(len(refs) for refs in waiting.values())
        return self._batch(waits, step.phase, step.wave, f"waiting for {total} objects")


def _propagation(policy: str | None) -> str | None:
    return None if policy is None else policy.capitalize()
