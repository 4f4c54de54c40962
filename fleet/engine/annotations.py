"""What a desired (or live) object's annotations ask of a sync.

fleet reads its own annotations and, as equivalents, Argo CD's and Helm's (see
fleet.model.annotations for the names and their precedence). Argo CD silently ignores a
value it cannot read (a typo in ``PreSynk`` drops the object from the sync); fleet refuses
it with an error naming the object, its file and line, because a quiet misreading of a sync
annotation changes what is applied and when.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from typing import NoReturn

from fleet.model import annotations as names
from fleet.model.manifests import Origin
from fleet.model.refs import ObjectRef


class Phase(StrEnum):
    """When a task runs. Deletion phases run only when an app is deleted."""

    PRE_SYNC = "PreSync"
    SYNC = "Sync"
    POST_SYNC = "PostSync"
    SYNC_FAIL = "SyncFail"
    PRE_DELETE = "PreDelete"
    POST_DELETE = "PostDelete"

    @property
    def rank(self) -> int:
        return _PHASE_RANK[self]


_PHASE_RANK = {phase: rank for rank, phase in enumerate(Phase)}


class DeletePolicy(StrEnum):
    """When fleet deletes a hook object it created."""

    BEFORE_HOOK_CREATION = "BeforeHookCreation"
    HOOK_SUCCEEDED = "HookSucceeded"
    HOOK_FAILED = "HookFailed"


class AnnotationError(ValueError):
    """An annotation value fleet cannot read; the message names the object and its source."""

    def __init__(self, ref: ObjectRef, origin: Origin | None, key: str, problem: str) -> None:
        where = f"{origin}: " if origin is not None else ""
        super().__init__(f"{where}{ref}: annotation {key}: {problem}")
        self.ref = ref
        self.origin = origin
        self.key = key


_HOOK_TYPES = {phase.value: phase for phase in Phase}
_SKIP = "Skip"

_HELM_HOOKS: dict[str, Phase | None] = {
    "pre-install": Phase.PRE_SYNC,
    "pre-upgrade": Phase.PRE_SYNC,
    "post-install": Phase.POST_SYNC,
    "post-upgrade": Phase.POST_SYNC,
    # Read, but not run during a sync (Argo CD does the same).
    "pre-delete": None,
    "post-delete": None,
    "pre-rollback": None,
    "post-rollback": None,
    "test": None,
    "test-success": None,
    "test-failure": None,
}
_HELM_CRD_INSTALL = "crd-install"

_DELETE_POLICIES = {policy.value: policy for policy in DeletePolicy}
_HELM_DELETE_POLICIES = {
    "before-hook-creation": DeletePolicy.BEFORE_HOOK_CREATION,
    "hook-succeeded": DeletePolicy.HOOK_SUCCEEDED,
    "hook-failed": DeletePolicy.HOOK_FAILED,
}

_BOOL = ("true", "false")
#: Every sync option Argo CD documents, with the values it accepts. Those fleet has no use
#: for (ServerSideApply: fleet always applies server side) are accepted and ignored.
_SYNC_OPTION_VALUES: dict[str, tuple[str, ...]] = {
    "Prune": (*_BOOL, "confirm"),
    "Delete": (*_BOOL, "confirm"),
    "Replace": _BOOL,
    "Force": _BOOL,
    "ServerSideApply": _BOOL,
    "ClientSideApplyMigration": _BOOL,
    "Validate": _BOOL,
    "SkipDryRunOnMissingResource": _BOOL,
    "ApplyOutOfSyncOnly": _BOOL,
    "PruneLast": _BOOL,
    "CreateNamespace": _BOOL,
    "RespectIgnoreDifferences": _BOOL,
    "FailOnSharedResource": _BOOL,
    "PrunePropagationPolicy": ("foreground", "background", "orphan"),
}
_COMPARE_OPTION_VALUES: dict[str, tuple[str, ...]] = {
    "IgnoreExtraneous": ("",),
    "ServerSideDiff": _BOOL,
    "IncludeMutationWebhook": _BOOL,
}


@dataclass(frozen=True, slots=True)
class ObjectSettings:
    """Everything the annotations of one object ask for, already validated."""

    wave: int = 0
    #: Phases the object runs in as a hook; empty for an ordinary resource.
    hook_phases: tuple[Phase, ...] = ()
    #: Not synced at all: ``hook: Skip``, or a Helm hook whose phases fleet does not run.
    ignored: bool = False
    #: Empty for an ordinary resource; a hook without the annotation gets BeforeHookCreation.
    delete_policies: frozenset[DeletePolicy] = frozenset()
    #: ``yes`` prunes, ``no`` never (Prune=false, fleet.dev/prune or Flux's prune disabled),
    #: ``confirm`` only when the sync is explicitly confirmed (Prune=confirm).
    prune: str = "yes"
    #: Same values, for deletion of the whole app (Delete=false / Delete=confirm).
    delete: str = "yes"
    replace: bool = False
    force: bool = False
    skip_dry_run_on_missing_resource: bool = False
    #: None when the object does not say; the app's option applies.
    apply_out_of_sync_only: bool | None = None
    respect_ignore_differences: bool | None = None
    prune_last: bool = False
    prune_propagation: str | None = None
    ignore_extraneous: bool = False

    @property
    def is_hook(self) -> bool:
        return bool(self.hook_phases)


DEFAULT_SETTINGS = ObjectSettings()


def _csv(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def _first(annotations: Mapping[str, str], keys: tuple[str, ...]) -> tuple[str, str] | None:
    for key in keys:
        if key in annotations:
            return key, str(annotations[key])
    return None


def _key_values(
    text: str, allowed: dict[str, tuple[str, ...]], fail: _Fail, key: str
) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in _csv(text):
        option, _, value = item.partition("=")
        option, value = option.strip(), value.strip().lower()
        if option not in allowed:
            fail(key, f"unknown option {option!r} (known: {', '.join(sorted(allowed))})")
        if value not in allowed[option]:
            shown = " or ".join(repr(v) for v in allowed[option] if v) or "no value"
            fail(key, f"{option} takes {shown}, not {value!r}")
        out[option] = value
    return out


class _Problem(Exception):
    def __init__(self, key: str, problem: str) -> None:
        self.key, self.problem = key, problem


class _Fail:
    def __call__(self, key: str, problem: str) -> NoReturn:
        raise _Problem(key, problem)


def _wave(annotations: Mapping[str, str], fail: _Fail) -> int:
    found = _first(annotations, names.SYNC_WAVE_NAMES)
    if found is None:
        return 0
    key, text = found
    try:
        return int(text.strip())
    except ValueError:
        fail(key, f"expected an integer, got {text!r}")


def _hooks(annotations: Mapping[str, str], fail: _Fail) -> tuple[tuple[Phase, ...], bool]:
    """The hook phases and whether the object is left out of the sync."""
    found = _first(annotations, names.HOOK_NAMES)
    if found is not None:
        key, text = found
        values = _csv(text)
        if not values:
            fail(key, "empty hook annotation")
        phases: list[Phase] = []
        for value in values:
            if value == _SKIP:
                continue
            if value not in _HOOK_TYPES:
                fail(key, f"unknown hook {value!r} (known: {', '.join([*_HOOK_TYPES, _SKIP])})")
            if _HOOK_TYPES[value] not in phases:
                phases.append(_HOOK_TYPES[value])
        return tuple(phases), not phases
    if names.HELM_HOOK not in annotations:
        return (), False
    helm_values = _csv(str(annotations[names.HELM_HOOK]))
    helm_phases: list[Phase] = []
    for value in helm_values:
        if value == _HELM_CRD_INSTALL:
            continue
        if value not in _HELM_HOOKS:
            fail(names.HELM_HOOK, f"unknown Helm hook {value!r}")
        phase = _HELM_HOOKS[value]
        if phase is not None and phase not in helm_phases:
            helm_phases.append(phase)
    if not helm_phases and all(v == _HELM_CRD_INSTALL for v in helm_values):
        return (), False  # crd-install is an ordinary resource
    return tuple(helm_phases), not helm_phases


def _delete_policies(annotations: Mapping[str, str], fail: _Fail) -> frozenset[DeletePolicy]:
    policies: set[DeletePolicy] = set()
    own = names.HOOK_DELETE_POLICY
    sources: list[tuple[str, dict[str, DeletePolicy]]] = (
        [(own, _DELETE_POLICIES)]
        if own in annotations
        else [
            (names.ARGO_HOOK_DELETE_POLICY, _DELETE_POLICIES),
            (names.HELM_HOOK_DELETE_POLICY, _HELM_DELETE_POLICIES),
        ]
    )
    for key, known in sources:
        for value in _csv(str(annotations.get(key, ""))):
            if value not in known:
                fail(key, f"unknown delete policy {value!r} (known: {', '.join(known)})")
            policies.add(known[value])
    return frozenset(policies) or frozenset({DeletePolicy.BEFORE_HOOK_CREATION})


def _tri(value: str | None) -> str:
    return {"false": "no", "confirm": "confirm"}.get(value or "", "yes")


def _flag(options: Mapping[str, str], key: str) -> bool | None:
    return None if key not in options else options[key] == "true"


_RELEVANT = frozenset(
    (
        *names.SYNC_WAVE_NAMES,
        *names.HOOK_NAMES,
        names.HELM_HOOK,
        *names.HOOK_DELETE_POLICY_NAMES,
        names.HELM_HOOK_DELETE_POLICY,
        *names.SYNC_OPTIONS_NAMES,
        *names.COMPARE_OPTIONS_NAMES,
        names.PRUNE,
        names.FLUX_PRUNE,
    )
)


def read_settings(
    annotations: Mapping[str, str], ref: ObjectRef, origin: Origin | None = None
) -> ObjectSettings:
    """Parse an object's sync annotations; raises AnnotationError naming the object.

    Parsing is memoised on the relevant annotations, since a large app repeats the same
    few combinations (a wave number, a hook) across thousands of objects.
    """
    if not annotations:
        return DEFAULT_SETTINGS
    relevant = _RELEVANT.intersection(annotations)
    if not relevant:
        return DEFAULT_SETTINGS
    if len(relevant) == 1:
        (only,) = relevant
        items: tuple[tuple[str, str], ...] = ((only, str(annotations[only])),)
    else:
        items = tuple(sorted((key, str(annotations[key])) for key in relevant))
    try:
        return _parse(items)
    except _Problem as problem:
        raise AnnotationError(ref, origin, problem.key, problem.problem) from None


@lru_cache(maxsize=4096)
def _parse(items: tuple[tuple[str, str], ...]) -> ObjectSettings:
    annotations = dict(items)
    fail = _Fail()
    phases, ignored = _hooks(annotations, fail)
    options: dict[str, str] = {}
    for key in names.SYNC_OPTIONS_NAMES:
        if key in annotations:
            options.update(_key_values(annotations[key], _SYNC_OPTION_VALUES, fail, key))
    compare: dict[str, str] = {}
    for key in names.COMPARE_OPTIONS_NAMES:
        if key in annotations:
            compare.update(_key_values(annotations[key], _COMPARE_OPTION_VALUES, fail, key))
    prune = _tri(options.get("Prune"))
    for key in (names.PRUNE, names.FLUX_PRUNE):
        if key in annotations:
            value = annotations[key].strip().lower()
            if value not in ("disabled", "enabled"):
                fail(key, f"expected 'disabled' or 'enabled', got {value!r}")
            if value == "disabled":
                prune = "no"
    return ObjectSettings(
        wave=_wave(annotations, fail),
        hook_phases=phases,
        ignored=ignored,
        delete_policies=_delete_policies(annotations, fail) if phases else frozenset(),
        prune=prune,
        delete=_tri(options.get("Delete")),
        replace=options.get("Replace") == "true",
        force=options.get("Force") == "true",
        skip_dry_run_on_missing_resource=options.get("SkipDryRunOnMissingResource") == "true",
        apply_out_of_sync_only=_flag(options, "ApplyOutOfSyncOnly"),
        respect_ignore_differences=_flag(options, "RespectIgnoreDifferences"),
        prune_last=options.get("PruneLast") == "true",
        prune_propagation=options.get("PrunePropagationPolicy"),
        ignore_extraneous="IgnoreExtraneous" in compare,
    )
