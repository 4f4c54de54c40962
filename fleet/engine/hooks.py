"""Hooks: the objects a sync creates (not applies) in a phase and waits to complete.

A hook with ``generateName`` and no name gets a name that is stable within one sync and new
for each sync and phase: ``<generateName><revision[:7]>-<phase>-<sync start, unix>``, as
Argo CD builds it, shortened with a digest when longer than a label value may be (a Job's
name becomes a label of its Pods). Every hook fleet creates carries the tracking label and
annotation, a ``fleet.dev/hook-source`` annotation naming the manifest and phase (to find
earlier instances for BeforeHookCreation), and a finalizer that keeps it until its result
is read.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from fleet.engine.annotations import Phase
from fleet.engine.health import CustomHealth, HealthStatus, assess
from fleet.engine.health.fields import condition_is, section
from fleet.model import annotations as names
from fleet.model.health_rules import HealthRuleSet
from fleet.model.manifests import Manifest
from fleet.model.refs import ObjectRef
from fleet.model.tracking import APP_LABEL, TRACKING_ANNOTATION, tracking_id

MAX_NAME = 63


class HookOutcome(StrEnum):
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"


@dataclass(frozen=True, slots=True)
class HookState:
    outcome: HookOutcome
    message: str = ""


def hook_state(
    obj: Mapping[str, Any],
    rule_sets: tuple[HealthRuleSet, ...] = (),
    custom: CustomHealth | None = None,
) -> HookState:
    """Whether a hook has completed. Job conditions count only with status True."""
    ref = ObjectRef.of(dict(obj))
    if (ref.group, ref.kind) == ("batch", "Job"):
        failed = condition_is(obj, "Failed", "True")
        if failed is not None:
            return HookState(HookOutcome.FAILED, str(failed.get("message") or "Job failed"))
        complete = condition_is(obj, "Complete", "True")
        if complete is not None:
            return HookState(HookOutcome.SUCCEEDED, str(complete.get("message") or ""))
        return HookState(HookOutcome.RUNNING, "Job is running")
    if (ref.group, ref.kind) == ("", "Pod"):
        status = section(obj, "status")
        phase, message = status.get("phase"), str(status.get("message") or "")
        if phase == "Succeeded":
            return HookState(HookOutcome.SUCCEEDED, message)
        if phase == "Failed":
            return HookState(HookOutcome.FAILED, message or "Pod failed")
        return HookState(HookOutcome.RUNNING, message or f"Pod is {phase or 'pending'}")
    health = assess(obj, rule_sets, custom)
    if health.status is HealthStatus.HEALTHY:
        return HookState(HookOutcome.SUCCEEDED, health.message)
    if health.status is HealthStatus.DEGRADED:
        return HookState(HookOutcome.FAILED, health.message)
    return HookState(HookOutcome.RUNNING, health.message)


_UNSAFE = re.compile(r"[^a-z0-9-]+")


def generated_name(generate_name: str, revision: str, phase: Phase, started_at: float) -> str:
    """The name of a ``generateName`` hook for one sync and phase."""
    revision = _UNSAFE.sub("", revision.lower())[:7] or "norev"
    postfix = f"{revision}-{phase.value.lower()}-{int(started_at)}"
    name = f"{generate_name}{postfix}"
    if len(name) <= MAX_NAME:
        return name
    digest = hashlib.sha256(generate_name.encode()).hexdigest()[:8]
    keep = MAX_NAME - len(postfix) - len(digest) - 1
    return f"{generate_name[:keep]}{digest}-{postfix}"


def generate_name_of(manifest: Manifest) -> str:
    return str((manifest.body.get("metadata") or {}).get("generateName") or "")


def instance_ref(manifest: Manifest, revision: str, phase: Phase, started_at: float) -> ObjectRef:
    """The reference of the hook object a sync creates for a manifest in a phase."""
    if manifest.ref.name:
        return manifest.ref
    name = generated_name(generate_name_of(manifest), revision, phase, started_at)
    ref = manifest.ref
    return ObjectRef(ref.group, ref.kind, ref.namespace, name)


def hook_source(app: str, manifest: Manifest, phase: Phase) -> str:
    """Names the manifest and phase a hook object was made from."""
    ref = manifest.ref
    name = ref.name or generate_name_of(manifest)
    return f"{tracking_id(app, ObjectRef(ref.group, ref.kind, ref.namespace, name))}@{phase}"


def stamp(body: Mapping[str, Any], app: str, ref: ObjectRef) -> dict[str, Any]:
    """``body`` with fleet's tracking label and annotation.

    Only the containers on the way are copied (the object, its metadata, labels and
    annotations); the rest is shared with the manifest, which nobody mutates. That keeps
    a step over 10,000 objects cheap.
    """
    out = dict(body)
    meta = dict(out.get("metadata") or {})
    meta["labels"] = {**(meta.get("labels") or {}), APP_LABEL: app}
    meta["annotations"] = {
        **(meta.get("annotations") or {}),
        TRACKING_ANNOTATION: tracking_id(app, ref),
    }
    out["metadata"] = meta
    return out


def instance_body(manifest: Manifest, app: str, ref: ObjectRef, phase: Phase) -> dict[str, Any]:
    """The body fleet creates for a hook: named, tracked, marked and held by a finalizer."""
    out = stamp(manifest.body, app, ref)
    meta = out["metadata"]
    meta["name"] = ref.name
    meta.pop("generateName", None)
    meta["annotations"][names.HOOK_SOURCE] = hook_source(app, manifest, phase)
    finalizers = list(meta.get("finalizers") or [])
    if names.HOOK_FINALIZER not in finalizers:
        finalizers.append(names.HOOK_FINALIZER)
    meta["finalizers"] = finalizers
    return out
