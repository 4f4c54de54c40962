"""What a reconcile decides: writes to make, and when to look again.

Every controller is a pure function from an object, its children and the time to a
:class:`Plan`. The runner performs the plan against the API server. Keeping the
decisions free of I/O is what lets them be tested from tables, with no server.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from fleet.sim.controllers.objects import Obj


@dataclass(frozen=True, slots=True)
class Create:
    """POST ``obj``; then, if given, PUT ``status`` through the status subresource."""

    kind: str
    obj: Obj
    status: Obj | None = None


@dataclass(frozen=True, slots=True)
class Replace:
    """PUT ``obj`` (spec or metadata change); its resourceVersion guards against races."""

    kind: str
    obj: Obj


@dataclass(frozen=True, slots=True)
class ReplaceStatus:
    """PUT ``obj`` to the status subresource: only its status is taken."""

    kind: str
    obj: Obj


@dataclass(frozen=True, slots=True)
class Delete:
    kind: str
    namespace: str
    name: str
    grace_period_seconds: int | None = None


@dataclass(frozen=True, slots=True)
class Bind:
    """Assign a pod to a node through ``pods/binding``, as the scheduler does."""

    namespace: str
    name: str
    node: str


Action = Create | Replace | ReplaceStatus | Delete | Bind


@dataclass(slots=True)
class Plan:
    actions: list[Action] = field(default_factory=list)
    requeue_after: float | None = None

    def add(self, action: Action) -> None:
        self.actions.append(action)

    def recheck(self, seconds: float) -> None:
        """Ask to run again within ``seconds`` (the soonest request wins)."""
        if not math.isfinite(seconds):
            return  # "never": nothing to come back for
        seconds = max(seconds, 0.0)
        if self.requeue_after is None or seconds < self.requeue_after:
            self.requeue_after = seconds
