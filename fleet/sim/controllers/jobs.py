"""Job: run pods to completion and finish with Complete or Failed, as Kubernetes 1.31+.

Success: once ``completions`` pods Succeeded (or, without ``completions``, any pod did
and none is left running) the Job gets ``SuccessCriteriaMet``, its remaining pods are
deleted, then it gets ``Complete`` and ``completionTime``. Failure: once failed pods (plus
container restarts under restartPolicy OnFailure) exceed ``backoffLimit``, or the Job
ran longer than ``activeDeadlineSeconds``, it gets ``FailureTarget``, its pods are
deleted, then ``Failed``. Failed pods are replaced at once (no exponential back-off).
Indexed Jobs give each pod its completion index; ``successPolicy`` and
``podFailurePolicy`` are not evaluated.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from fleet.sim.controllers.actions import Create, Delete, Plan, ReplaceStatus
from fleet.sim.controllers.objects import (
    Obj,
    annotations_of,
    condition,
    condition_true,
    is_deleting,
    json_copy,
    name_of,
    namespace_of,
    parse_time,
    rfc3339,
    set_condition,
    uid_of,
    with_status,
    without_zeros,
)
from fleet.sim.controllers.pods import (
    container_restarts,
    is_active,
    is_ready,
    is_terminal,
    phase_of,
    pod_from_template,
    pods_to_delete,
)

INDEX_KEY = "batch.kubernetes.io/job-completion-index"
DEFAULT_BACKOFF_LIMIT = 6
COMPLETED = ("CompletionsReached", "Reached expected number of succeeded pods")
BACKOFF = ("BackoffLimitExceeded", "Job has reached the specified backoff limit")
DEADLINE = ("DeadlineExceeded", "Job was active longer than specified deadline")


def job_finished(job: Mapping[str, Any]) -> bool:
    conds = (job.get("status") or {}).get("conditions")
    return condition_true(conds, "Complete") or condition_true(conds, "Failed")


def _index_of(pod: Mapping[str, Any]) -> int | None:
    raw = annotations_of(pod).get(INDEX_KEY)
    return int(raw) if raw is not None and raw.isdigit() else None


def compress_indexes(indexes: Iterable[int]) -> str:
    """``{0, 1, 2, 4}`` -> ``"0-2,4"``, the form of ``status.completedIndexes``."""
    parts: list[str] = []
    run: list[int] = []
    for index in sorted(set(indexes)):
        if run and index != run[-1] + 1:
            parts.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
            run = []
        run.append(index)
    if run:
        parts.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
    return ",".join(parts)


def parse_indexes(text: str) -> set[int]:
    found: set[int] = set()
    for part in filter(None, (text or "").split(",")):
        low, _, high = part.partition("-")
        found.update(range(int(low), int(high or low) + 1))
    return found


def _job_pod(job: Mapping[str, Any], index: int | None) -> Obj:
    template = json_copy(dict((job.get("spec") or {}).get("template") or {}))
    labels = {
        "batch.kubernetes.io/controller-uid": uid_of(job),
        "batch.kubernetes.io/job-name": name_of(job),
        "controller-uid": uid_of(job),
        "job-name": name_of(job),
    }
    annotations: dict[str, str] = {}
    generate = f"{name_of(job)}-"
    if index is not None:
        labels[INDEX_KEY] = str(index)
        annotations[INDEX_KEY] = str(index)
        generate = f"{name_of(job)}-{index}-"
        template.setdefault("spec", {}).setdefault("hostname", f"{name_of(job)}-{index}")
    return pod_from_template(
        job, template, generate_name=generate, extra_labels=labels, extra_annotations=annotations
    )


@dataclass(slots=True)
class Tally:
    """What a Job's pods add up to at one sync."""

    active: list[Mapping[str, Any]]
    terminating: list[Mapping[str, Any]]
    succeeded: int
    failed: int
    done_indexes: set[int]

    @property
    def settled(self) -> bool:
        return not self.active and not self.terminating


def tally(job: Mapping[str, Any], pods: Sequence[Mapping[str, Any]]) -> Tally:
    """Count pods; finished counts never go down, even when finished pods are deleted."""
    old = job.get("status") or {}
    succeeded_pods = [p for p in pods if phase_of(p) == "Succeeded"]
    done = parse_indexes(str(old.get("completedIndexes") or "")) | {
        i for p in succeeded_pods if (i := _index_of(p)) is not None
    }
    succeeded = max(int(old.get("succeeded") or 0), len(succeeded_pods))
    if (job.get("spec") or {}).get("completionMode") == "Indexed":
        succeeded = max(succeeded, len(done))
    return Tally(
        active=[p for p in pods if is_active(p)],
        terminating=[p for p in pods if is_deleting(p) and not is_terminal(p)],
        succeeded=succeeded,
        failed=max(int(old.get("failed") or 0), sum(1 for p in pods if phase_of(p) == "Failed")),
        done_indexes=done,
    )


def reconcile_job(job: Mapping[str, Any], pods: Sequence[Mapping[str, Any]], now: datetime) -> Plan:
    """One sync of a Job, given the pods it controls."""
    plan = Plan()
    if is_deleting(job):
        return plan
    spec = job.get("spec") or {}
    old: Mapping[str, Any] = job.get("status") or {}
    conds: list[Obj] = json_copy(list(old.get("conditions") or []))
    counts = tally(job, pods)
    status: Obj = {k: v for k, v in old.items() if k in ("startTime", "completionTime")}

    if job_finished(job) or spec.get("suspend"):
        _stop(plan, counts.active)
        if spec.get("suspend") and not job_finished(job):
            set_condition(conds, "Suspended", "True", "JobSuspended", "Job suspended", now)
    else:
        if condition_true(conds, "Suspended"):
            set_condition(conds, "Suspended", "False", "JobResumed", "Job resumed", now)
            status.pop("startTime", None)
        start = parse_time(status.get("startTime"))
        if start is None:
            start = now
            status["startTime"] = rfc3339(now)
        if not _finish(job, plan, conds, status, counts, start, now):
            _scale(job, plan, counts)

    status.update(
        {
            "active": len(counts.active),
            "ready": sum(1 for p in counts.active if is_ready(p)),
            "succeeded": counts.succeeded,
            "failed": counts.failed,
            "terminating": len(counts.terminating),
            "uncountedTerminatedPods": {},
            "conditions": conds,
        }
    )
    if spec.get("completionMode") == "Indexed":
        status["completedIndexes"] = compress_indexes(counts.done_indexes)
    status = without_zeros(status, keep=("ready", "terminating", "uncountedTerminatedPods"))
    if status != old:
        plan.add(ReplaceStatus("Job", with_status(job, status)))
    return plan


def _stop(plan: Plan, pods: Iterable[Mapping[str, Any]]) -> None:
    for pod in pods:
        plan.add(Delete("Pod", namespace_of(pod), name_of(pod)))


def _failure(
    job: Mapping[str, Any], counts: Tally, start: datetime, now: datetime, plan: Plan
) -> tuple[str, str] | None:
    spec = job.get("spec") or {}
    limit = spec.get("backoffLimit")
    limit = DEFAULT_BACKOFF_LIMIT if limit is None else int(limit)
    policy = ((spec.get("template") or {}).get("spec") or {}).get("restartPolicy")
    restarts = sum(container_restarts(p) for p in counts.active) if policy == "OnFailure" else 0
    if counts.failed + restarts > limit:
        return BACKOFF
    deadline = spec.get("activeDeadlineSeconds")
    if deadline is not None:
        ends = start + timedelta(seconds=int(deadline))
        if now >= ends:
            return DEADLINE
        plan.recheck((ends - now).total_seconds() + 0.5)
    return None


def _finish(
    job: Mapping[str, Any],
    plan: Plan,
    conds: list[Obj],
    status: Obj,
    counts: Tally,
    start: datetime,
    now: datetime,
) -> bool:
    """Move toward Failed or Complete; True when the Job is past running pods."""
    target = condition(conds, "FailureTarget")
    failure = _failure(job, counts, start, now, plan)
    if failure is None and target is not None and target.get("status") == "True":
        failure = (str(target.get("reason", "")), str(target.get("message", "")))
    if failure is not None:
        set_condition(conds, "FailureTarget", "True", *failure, now)
        _stop(plan, counts.active)
        if counts.settled:
            set_condition(conds, "Failed", "True", *failure, now)
        return True
    completions = (job.get("spec") or {}).get("completions")
    if completions is None:
        # Work-queue Job: done once one pod succeeded and the others have finished.
        met = counts.succeeded >= 1 and counts.settled
        if counts.succeeded >= 1 and not met:
            return True
    else:
        met = counts.succeeded >= int(completions)
    if not (met or condition_true(conds, "SuccessCriteriaMet")):
        return False
    set_condition(conds, "SuccessCriteriaMet", "True", *COMPLETED, now)
    _stop(plan, counts.active)
    if counts.settled:
        set_condition(conds, "Complete", "True", *COMPLETED, now)
        status["completionTime"] = rfc3339(now)
    return True


def _scale(job: Mapping[str, Any], plan: Plan, counts: Tally) -> None:
    """Keep ``parallelism`` pods running while completions are outstanding."""
    spec = job.get("spec") or {}
    completions = spec.get("completions")
    parallelism = spec.get("parallelism")
    parallelism = 1 if parallelism is None else int(parallelism)
    active = counts.active
    if spec.get("completionMode") == "Indexed" and completions is not None:
        running = {i for p in active if (i := _index_of(p)) is not None}
        missing = [
            i for i in range(int(completions)) if i not in counts.done_indexes and i not in running
        ]
        for index in missing[: max(parallelism - len(active), 0)]:
            plan.add(Create("Pod", _job_pod(job, index)))
        return
    if completions is None:
        want = parallelism if counts.succeeded == 0 else 0
    else:
        want = min(parallelism, int(completions) - counts.succeeded)
    if len(active) < want:
        for _ in range(want - len(active)):
            plan.add(Create("Pod", _job_pod(job, None)))
    elif len(active) > want:
        _stop(plan, pods_to_delete(active, len(active) - want))
