"""What the engine asks the runtime to do, and what the runtime reports back.

Every action has an ``id``, stable for the same sync, that its result quotes. Actions in
one batch are independent: run them concurrently, then report every result. An action
result is built from the action itself (``action.succeeded(...)`` / ``action.failed(...)``)
so that the runtime never has to know how the engine reads it. Bodies in actions are
shared with the engine's memo of the sync: send them, never modify them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fleet.engine.annotations import Phase
from fleet.engine.diff import compare, in_sync
from fleet.engine.retry import ApiError
from fleet.model.ignore_differences import IgnoreDifference
from fleet.model.refs import ObjectRef

Body = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class ActionResult:
    """The outcome of one action. Holds no object body, so it can go to history as is."""

    action_id: str
    ok: bool
    error: ApiError | None = None
    #: Dry-run only: whether the object already matches (None: not compared).
    in_sync: bool | None = None
    #: Dry-run only: JSON pointers of the fields that differ (no values).
    changed: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class _Action:
    id: str
    ref: ObjectRef

    def succeeded(self) -> ActionResult:
        return ActionResult(self.id, True)

    def failed(self, error: ApiError) -> ActionResult:
        return ActionResult(self.id, False, error)


@dataclass(frozen=True, slots=True)
class DryRun(_Action):
    """Server-side dry-run of ``body``: an apply (SSA as field manager ``fleet``, forcing
    conflicts), a ``create`` (hooks) or a ``replace`` (PUT, or create when absent)."""

    body: Body
    mode: str = "apply"
    #: SkipDryRunOnMissingResource: a kind the cluster does not serve yet is not an error.
    allow_missing_kind: bool = False
    live: Body | None = field(default=None, repr=False, compare=False)
    ignore: tuple[IgnoreDifference, ...] = field(default=(), repr=False, compare=False)
    secret_key: bytes = field(default=b"", repr=False, compare=False)

    def succeeded_with(self, result: Body, *, paths: bool = True) -> ActionResult:
        """Report the object the server returned; the engine compares it with live.

        ``paths=False`` leaves out which paths changed (``changed``): a sync decides on
        ``in_sync`` alone, and only a preview shows the paths, so a sync spares the
        JSON Patch it would take to find them.
        """
        if self.mode == "create":
            return ActionResult(self.id, True)
        if not paths:
            same = in_sync(self.ref, result, self.live, self.ignore, self.secret_key)
            return ActionResult(self.id, True, in_sync=same)
        diff = compare(self.ref, result, self.live, self.ignore, self.secret_key, with_text=False)
        return ActionResult(self.id, True, in_sync=diff.in_sync, changed=diff.changed_paths)

    def kind_missing(self) -> ActionResult:
        """Report that the cluster does not serve the object's kind (per discovery)."""
        error = ApiError(404, "NotFound", f"the cluster does not serve {self.ref.group_kind}")
        if self.allow_missing_kind:
            return ActionResult(self.id, True, error=error, in_sync=False)
        return ActionResult(self.id, False, error)


@dataclass(frozen=True, slots=True)
class Apply(_Action):
    """Write ``body``: server-side apply as ``fleet`` forcing conflicts; with ``replace``,
    a PUT (create when absent); with ``replace`` and ``force``, delete and create; with
    ``create``, a POST (an existing object is an error: 409 AlreadyExists)."""

    body: Body
    phase: Phase = Phase.SYNC
    wave: int = 0
    replace: bool = False
    force: bool = False
    create: bool = False


@dataclass(frozen=True, slots=True)
class Prune(_Action):
    """Delete a stale object with a UID precondition (never a look-alike recreated since).
    A 404 answer means it is already gone: report success."""

    uid: str
    propagation: str = "Background"
    wave: int = 0


@dataclass(frozen=True, slots=True)
class CreateHook(_Action):
    """Create (POST) a hook object. An existing object is an error (409 AlreadyExists)."""

    body: Body
    phase: Phase = Phase.SYNC
    wave: int = 0


@dataclass(frozen=True, slots=True)
class DeleteHook(_Action):
    """Remove fleet's hook finalizer from the object, then delete it (UID precondition).
    A 404 answer means it is already gone: report success. Also removes the namespace a
    failed dry-run had created (fleet.engine.namespaces)."""

    uid: str
    reason: str = ""


@dataclass(frozen=True, slots=True)
class ReleaseHook(_Action):
    """Remove fleet's hook finalizer (``fleet.dev/hook-finalizer``) and keep the object."""


@dataclass(frozen=True, slots=True)
class Wait:
    """Call the engine again when one of ``refs`` changes or at ``deadline`` (epoch
    seconds), whichever comes first. Past the deadline the engine fails the sync (for a
    retry back-off, the deadline is simply when to try again)."""

    id: str
    refs: tuple[ObjectRef, ...]
    reason: str
    deadline: float


Action = DryRun | Apply | Prune | CreateHook | DeleteHook | ReleaseHook | Wait
