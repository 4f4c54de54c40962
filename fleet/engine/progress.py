"""What has happened so far in one sync: the engine's only memory between calls.

Progress is immutable and JSON-serialisable (``to_json`` / ``from_json``), so the daemon
can store it after every batch and resume after a crash. It holds no object bodies and no
Secret values: action outcomes, the deadlines of waits, the steps found complete, and the
failures the engine has established (a failure stays a failure even if the object heals
later, so that the same progress always leads to the same decisions).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import cache

from pydantic import TypeAdapter

from fleet.engine.actions import ActionResult
from fleet.engine.retry import ApiError
from fleet.model.refs import ObjectRef


@dataclass(frozen=True, slots=True)
class ActionRecord:
    """The latest outcome of one action id, and how many times it was tried."""

    ok: bool
    at: float
    attempts: int = 1
    error: ApiError | None = None
    in_sync: bool | None = None
    changed: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Failure:
    """Why a sync failed, for one object (``ref`` None: the app as a whole)."""

    reason: str
    message: str
    ref: ObjectRef | None = None
    phase: str = ""
    wave: int | None = None
    #: The API's answer when a request failed (None for failures the engine found):
    #: whether the sync may pass when tried again (fleet.engine.failures) reads it.
    error: ApiError | None = None

    def __str__(self) -> str:
        subject = f"{self.ref}: " if self.ref is not None else ""
        return f"{self.reason}: {subject}{self.message}"


@dataclass(frozen=True, slots=True)
class PlannedPrune:
    """A prune fixed at the start of a sync, with its (mirrored) wave."""

    ref: ObjectRef
    wave: int


@dataclass(frozen=True, slots=True)
class Progress:
    """Never mutate the mappings; every change makes a new Progress."""

    started_at: float
    records: Mapping[str, ActionRecord] = field(default_factory=dict)
    #: Wait id -> deadline fixed when the wait was first returned.
    waits: Mapping[str, float] = field(default_factory=dict)
    #: ``phase/wave`` -> when the step was found complete (all healthy, hooks done).
    done_steps: Mapping[str, float] = field(default_factory=dict)
    failures: tuple[Failure, ...] = ()
    failed_at: float | None = None
    #: The prunes of this sync, fixed by the first decision (None: not fixed yet).
    prune_plan: tuple[PlannedPrune, ...] | None = None

    @classmethod
    def start(cls, now: float) -> Progress:
        """The progress of a sync that starts at ``now`` (epoch seconds)."""
        return cls(started_at=now)

    def record(self, results: Iterable[ActionResult], now: float) -> Progress:
        """This progress with action results folded in."""
        results = list(results)
        if not results:
            return self
        records = dict(self.records)
        for result in results:
            previous = records.get(result.action_id)
            attempts = previous.attempts + 1 if previous is not None else 1
            records[result.action_id] = ActionRecord(
                ok=result.ok,
                at=now,
                attempts=attempts,
                error=result.error,
                in_sync=result.in_sync,
                changed=result.changed,
            )
        return replace(self, records=records)

    def noting(
        self,
        now: float,
        waits: Mapping[str, float] | None = None,
        done_steps: Iterable[str] = (),
        failures: Iterable[Failure] = (),
        prune_plan: tuple[PlannedPrune, ...] | None = None,
    ) -> Progress:
        """This progress with facts the engine established (kept on first sight)."""
        new_waits = {k: v for k, v in (waits or {}).items() if k not in self.waits}
        new_done = [step for step in done_steps if step not in self.done_steps]
        new_failures = tuple(failures)
        new_plan = prune_plan if self.prune_plan is None else None
        if not (new_waits or new_done or new_failures or new_plan is not None):
            return self
        return replace(
            self,
            prune_plan=self.prune_plan if new_plan is None else new_plan,
            waits={**self.waits, **new_waits},
            done_steps={**self.done_steps, **dict.fromkeys(new_done, now)},
            failures=self.failures + new_failures,
            failed_at=self.failed_at if self.failed_at is not None or not new_failures else now,
        )

    def to_json(self) -> str:
        return _adapter().dump_json(self).decode()

    @classmethod
    def from_json(cls, text: str | bytes) -> Progress:
        """Raises pydantic.ValidationError when ``text`` is not a saved progress."""
        return _adapter().validate_json(text)


@cache
def _adapter() -> TypeAdapter[Progress]:
    return TypeAdapter(Progress)
