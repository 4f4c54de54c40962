"""Why a sync waits: suspension, sync windows and dependencies, decided in one place.

Given what the runtime knows of one app on one cluster (is it or its cluster suspended,
which windows apply, how the apps it depends on are doing on that cluster) and the time,
``decide`` says whether a sync of a given sort may run, and if not, why and until when.

The sorts differ in who asked:

- ``automated``: a new revision, or a retry, the app's own policy would sync;
- ``self_heal``: undoing drift;
- ``manual``: ``fleet sync``. Suspension and dependencies refuse it unless forced
  (``--force``); windows refuse it unless the window allows manual syncs, and force does
  not change that (a change freeze is the config owner's decision, not the caller's).

Order of the reasons, first that applies wins: suspended, then a closed window, then a
dependency not ready. A dependency is ready on a cluster when it is Synced and Healthy at
its current target there with no sync running; a dependency that does not run on the
cluster holds nothing there. Nothing here fails the app: a hold only makes it wait.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from fleet.engine.windows import SyncWindow, evaluate


class SyncKind(StrEnum):
    AUTOMATED = "automated"
    SELF_HEAL = "self_heal"
    MANUAL = "manual"


class HoldKind(StrEnum):
    SUSPENDED = "suspended"
    WINDOW = "window"
    DEPENDENCY = "dependency"
    #: The app's generator is held by its prune guard, and its removal would delete the
    #: app: it waits for ``fleet sync GENERATOR --confirm-prune`` (fleet.runtime.holds).
    GENERATOR = "generator"


@dataclass(frozen=True, slots=True)
class DependencyState:
    """How an app this one depends on is doing on the same cluster."""

    app: str
    #: False when the dependency does not run on this cluster (it then holds nothing).
    present: bool = True
    sync: str = "Unknown"
    health: str = "Unknown"
    #: The revision it last synced, and the one it should be at.
    revision: str | None = None
    target_revision: str | None = None
    #: Non-empty while a sync of it runs.
    operation: str = ""
    last_result: str | None = None

    @property
    def ready(self) -> bool:
        if not self.present:
            return True
        return (
            self.sync == "Synced"
            and self.health == "Healthy"
            and self.target_revision is not None
            and self.revision == self.target_revision
            and not self.operation
        )

    def describe(self) -> str:
        """What it is waiting on, in a few words (``OutOfSync``, ``Degraded``...)."""
        if self.operation:
            return "syncing"
        if self.target_revision is None:
            return "no revision released yet"
        failed = "last sync failed, " if self.last_result == "Failed" else ""
        if self.sync != "Synced":
            return f"{failed}{self.sync}"
        if self.health != "Healthy":
            return f"{failed}{self.health}"
        if self.revision != self.target_revision:
            return f"{failed}not yet at {(self.target_revision or '')[:7]}"
        return "ready"


@dataclass(frozen=True, slots=True)
class Suspension:
    """Who suspended what: the app on this cluster, the app everywhere, the cluster."""

    scope: str
    reason: str = ""

    def describe(self) -> str:
        why = f" ({self.reason})" if self.reason else ""
        return f"suspended: {self.scope}{why}"


@dataclass(frozen=True, slots=True)
class HoldInputs:
    app: str
    cluster: str
    now: datetime
    suspensions: Sequence[Suspension] = ()
    windows: Sequence[SyncWindow] = ()
    dependencies: Sequence[DependencyState] = ()


@dataclass(frozen=True, slots=True)
class Hold:
    """A sync that must wait (or, for a manual one, is refused)."""

    kind: HoldKind
    reason: str
    #: When to look again (a window opening); None: when something changes.
    until: datetime | None = None
    #: The window, or the dependency's name, or the suspension's scope.
    subject: str = ""

    def as_json(self) -> dict[str, str | None]:
        return {
            "kind": str(self.kind),
            "reason": self.reason,
            "until": self.until.isoformat() if self.until else None,
            "subject": self.subject,
        }


def decide(inputs: HoldInputs, sync: SyncKind, *, force: bool = False) -> Hold | None:
    """None when a sync of sort ``sync`` may run now; else the first hold that applies."""
    manual = sync is SyncKind.MANUAL
    if inputs.suspensions and not (manual and force):
        first = inputs.suspensions[0]
        return Hold(HoldKind.SUSPENDED, first.describe(), subject=first.scope)
    verdict = evaluate(inputs.windows, inputs.now, manual=manual)
    if not verdict.allowed:
        return Hold(HoldKind.WINDOW, verdict.reason, verdict.until, verdict.window)
    if manual and force:
        return None
    for dependency in inputs.dependencies:
        if not dependency.ready:
            return Hold(
                HoldKind.DEPENDENCY,
                f"waiting for app {dependency.app} on this cluster: {dependency.describe()}",
                subject=dependency.app,
            )
    return None
