"""What ``decide`` returns: a batch of actions to run, or the verdict of the sync."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from fleet.engine.actions import Action, ActionResult, Wait
from fleet.engine.progress import Failure, PlannedPrune, Progress
from fleet.engine.prune import PruneCandidate
from fleet.model.refs import ObjectRef


@dataclass(frozen=True, slots=True)
class Running:
    """Where a running sync stands, for status views and history."""

    phase: str
    wave: int | None
    message: str


@dataclass(frozen=True, slots=True)
class Batch:
    """Actions to run concurrently; then feed every result back with ``record``.

    A batch holds either actions that change the cluster or only ``Wait``s. It also
    carries the facts the engine established while deciding (wait deadlines, completed
    steps, failures); ``record`` stores them with the results in the next progress.
    """

    actions: tuple[Action, ...]
    status: Running
    decided_at: float
    base: Progress = field(repr=False)
    waits: Mapping[str, float] = field(default_factory=dict)
    done_steps: tuple[str, ...] = ()
    failures: tuple[Failure, ...] = ()
    prune_plan: tuple[PlannedPrune, ...] | None = None

    @property
    def is_wait(self) -> bool:
        return all(isinstance(action, Wait) for action in self.actions)

    @property
    def wake_at(self) -> float | None:
        """The earliest deadline among the batch's waits."""
        deadlines = [a.deadline for a in self.actions if isinstance(a, Wait)]
        return min(deadlines) if deadlines else None

    def record(self, results: Iterable[ActionResult], now: float) -> Progress:
        """The progress after this batch: its facts plus the actions' results.

        For a batch of waits, call it with no results once the wait is over.
        """
        noted = self.base.noting(
            self.decided_at, self.waits, self.done_steps, self.failures, self.prune_plan
        )
        return noted.record(results, now)


@dataclass(frozen=True, slots=True)
class Succeeded:
    """Every step's resources healthy and every hook succeeded."""

    #: What the app owns now: save it for the next sync's prune.
    inventory: frozenset[ObjectRef]
    #: When the last write of the sync was done, and when everything was found healthy.
    applied_at: float
    healthy_at: float
    #: Stale objects left in place, and why (protection, another owner, prune off).
    kept: tuple[PruneCandidate, ...] = ()
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Failed:
    """The sync stopped; ``failures`` name the objects and the reasons."""

    failures: tuple[Failure, ...]
    inventory: frozenset[ObjectRef]
    kept: tuple[PruneCandidate, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def message(self) -> str:
        return "; ".join(map(str, self.failures))


Verdict = Succeeded | Failed
Decision = Batch | Succeeded | Failed
