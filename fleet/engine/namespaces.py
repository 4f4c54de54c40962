"""CreateNamespace without giving up the all-or-nothing dry-run.

An API server checks that an object's namespace exists before it validates the object
(its NamespaceLifecycle admission answers 404 NotFound first, dry-run or not), so the
objects of a namespace that does not exist yet cannot be dry-run. Skipping them would let
a sync write half an app and then fail on a bad object. So when the app's namespace
(``syncPolicy.createNamespace``) is missing, a sync goes:

1. dry-run of every object outside that namespace, and of the namespace itself;
2. when all of those passed: the namespace is created (POST, so a namespace someone else
   made in the meantime is never mistaken for one this sync made: the sync then goes on
   as if it had existed from the start, and never removes it);
3. dry-run of the objects in it;
4. if one of those fails: the namespace is deleted again (with its UID as precondition,
   so only the one this sync created) and the sync fails, leaving the cluster as it was.

The namespace stays untracked (never pruned). Once this sync created it, its task stays in
the plan (fleet.engine.prepare), so a resumed sync waits for it and can still remove it.
"""

from __future__ import annotations

from fleet.engine.actions import Apply, DeleteHook
from fleet.engine.decisions import Batch, Failed
from fleet.engine.planner_state import PlannerState
from fleet.engine.prepare import Reason, namespace_created
from fleet.engine.progress import Failure

#: Why the namespace a sync created is deleted again (history shows it).
ROLLBACK_REASON = "created for this sync's dry-run, which failed: removed again"


def rollback_id(key: str) -> str:
    return f"remove-namespace {key}"


class NamespaceFirst(PlannerState):
    """The CreateNamespace part of the dry-run stage (see the module docstring)."""

    def _create_namespace_first(self) -> Batch | Failed | None:
        """Create the app's namespace once everything outside it passed the dry-run."""
        task = self.prepared.namespace_task
        if task is None or task.manifest is None:
            return None
        action_id = f"apply {task.key}"
        state, record, due = self._state(action_id)
        if state == "done":
            return None
        if state == "todo":
            create = Apply(
                action_id, task.ref, task.manifest.body, task.phase, task.wave, create=True
            )
            what = f"creating namespace {task.ref.name} to dry-run the objects in it"
            return self._batch([create], "DryRun", None, what)
        if state == "backoff":
            return self._retry_wait([(due, task.ref)], None)
        assert record is not None
        failure = Failure(Reason.APPLY_FAILED, self._error(record), task.ref, error=record.error)
        return Failed((failure,), self.inp.inventory, self.prepared.candidates)

    def _dry_run_failed(self, failures: list[Failure]) -> Batch | Failed:
        """The verdict of a failed dry-run, once the namespace it created is removed."""
        verdict = Failed(tuple(failures), self.inp.inventory, self.prepared.candidates)
        task = self.prepared.namespace_task
        if task is None or not namespace_created(self.inp.progress, task):
            return verdict
        action_id = rollback_id(task.key)
        live = self.inp.live.get(task.ref)
        uid = str(((live or {}).get("metadata") or {}).get("uid") or "")
        state, record, due = self._state(action_id)
        if state == "todo" and uid:
            remove = DeleteHook(action_id, task.ref, uid, ROLLBACK_REASON)
            what = f"removing namespace {task.ref.name} again"
            return self._batch([remove], "DryRun", None, what)
        if state == "backoff":
            return self._retry_wait([(due, task.ref)], None)
        if state == "failed" or (state == "todo" and not uid):
            why = self._error(record) if record is not None else "not seen since it was made"
            warning = f"namespace {task.ref.name} was created for the dry-run and kept: {why}"
            return Failed(verdict.failures, verdict.inventory, verdict.kept, (warning,))
        return verdict
