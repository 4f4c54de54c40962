"""The spans of one sync: the sync itself, its steps, waits, hooks and writes.

A sync span is a child of its rollout's root (or a root of its own, linked to the
rollout, when drift or a person started it). Under it the executor's decisions become:

- a span per step (phase and wave, ``step PreSync wave 0``), opened when the engine's
  first batch of that step comes and closed when a batch of another step does;
- a span per wait (health, hooks complete, objects gone), kept open across the engine's
  repeated waits of the same id, so one health gate is one span however often it woke;
- a span per hook, from its creation until it left the hooks wait (it completed) or the
  step ended; Error when the engine failed it;
- a span per action (dry-run, apply, prune, hook create or delete), with the object's
  kind, namespace and name, the action and its result.

Spans the executor left open (a cancelled sync) are ended when the sync's span is, so an
interrupted sync still exports a well-formed tree.
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from opentelemetry import trace
from opentelemetry.trace import Span, Tracer

from fleet.adapters.telemetry.attributes import (
    APP,
    CLUSTER,
    object_attributes,
    record_error,
    safe_text,
)
from fleet.adapters.telemetry.metrics import FleetMetrics
from fleet.engine import (
    Action,
    ActionResult,
    Apply,
    Batch,
    CreateHook,
    DeleteHook,
    DryRun,
    Failed,
    Failure,
    Prune,
    ReleaseHook,
    Verdict,
    Wait,
)
from fleet.model.refs import ObjectRef

T = TypeVar("T")

_active_sync: contextvars.ContextVar[SyncTrace | None] = contextvars.ContextVar(
    "fleet_active_sync", default=None
)

#: Results that mark a sync span Error.
_ERROR_RESULTS = ("Failed",)


class SyncTrace:
    """One sync's span; :meth:`finish` ends it (once) and counts the sync in metrics."""

    def __init__(
        self,
        tracer: Tracer,
        metrics: FleetMetrics,
        span: Span,
        app: str,
        cluster: str,
        *,
        dry_run: bool,
    ) -> None:
        self.tracer = tracer
        self.metrics = metrics
        self.span = span
        self.app = app
        self.cluster = cluster
        self.dry_run = dry_run
        self._started = time.monotonic()
        self._steps: list[StepSpans] = []
        self._done = False

    @property
    def trace_id(self) -> str | None:
        """The W3C trace id (32 hex digits), or None when tracing is off."""
        context = self.span.get_span_context()
        return trace.format_trace_id(context.trace_id) if context.is_valid else None

    @property
    def finished(self) -> bool:
        return self._done

    def recorded(self, sync_id: int) -> None:
        """History gave the sync its id."""
        self.span.set_attribute("fleet.sync.id", sync_id)

    @contextmanager
    def active(self) -> Iterator[None]:
        """Make the sync span current: its steps, requests and log lines hang under it."""
        token = _active_sync.set(self)
        try:
            with trace.use_span(
                self.span, end_on_exit=False, record_exception=False, set_status_on_exception=False
            ):
                yield
        finally:
            _active_sync.reset(token)

    def finish(self, result: str, message: str = "") -> None:
        if self._done:
            return
        self._done = True
        for steps in self._steps:
            steps.close()
        self.span.set_attribute("fleet.sync.result", result)
        if message:
            self.span.set_attribute("fleet.sync.message", safe_text(message))
        if result in _ERROR_RESULTS:
            record_error(self.span, message or result)
        self.span.end()
        self.metrics.observe_sync(
            self.app,
            self.cluster,
            result,
            time.monotonic() - self._started,
            dry_run=self.dry_run,
        )

    def _adopt(self, steps: StepSpans) -> None:
        self._steps.append(steps)


class _Step:
    def __init__(self, span: Span, phase: str, wave: int | None) -> None:
        self.span = span
        self.phase = phase
        self.wave = wave
        self.started = time.monotonic()
        self.failed = False


class StepSpans:
    """Turns the executor's batches into step, wait, hook and write spans.

    Create one per sync (``Telemetry.steps``); call :meth:`begin` with every batch the
    engine returns, :meth:`write` around every action, and :meth:`end` with the verdict.
    """

    def __init__(self, tracer: Tracer, metrics: FleetMetrics, app: str, cluster: str) -> None:
        self.tracer = tracer
        self.metrics = metrics
        self.app = app
        self.cluster = cluster
        self._parent: trace.Span | None = None
        self._step: _Step | None = None
        self._waits: dict[str, tuple[Span, frozenset[ObjectRef]]] = {}
        self._hooks: dict[ObjectRef, Span] = {}
        self._noted: set[Failure] = set()
        self._closed = False
        #: Tracing off (or this sync not sampled): writes skip their spans entirely.
        self._quiet = False

    def _bind(self) -> None:
        if self._parent is not None:
            return
        self._parent = trace.get_current_span()
        self._quiet = not self._parent.is_recording()
        sync = _active_sync.get()
        if sync is not None:
            sync._adopt(self)

    # -- steps -------------------------------------------------------------------------

    def begin(self, batch: Batch) -> None:
        """The engine returned ``batch``: open or close step, wait and hook spans."""
        self._bind()
        phase, wave = batch.status.phase, batch.status.wave
        step = self._step
        if step is None or (step.phase, step.wave) != (phase, wave):
            self._end_step(batch.failures)
            step = self._open_step(phase, wave)
        self._note_failures(batch.failures)
        waits = {a.id: a for a in batch.actions if isinstance(a, Wait)}
        for wait_id in [w for w in self._waits if w not in waits]:
            self._waits.pop(wait_id)[0].end()
        hooks_waiting: set[ObjectRef] = set()
        for wait_id, wait in waits.items():
            if wait_id.startswith("wait-hooks"):
                hooks_waiting |= set(wait.refs)
            open_wait = self._waits.get(wait_id)
            if open_wait is None:
                span = self._child(
                    f"wait {_wait_kind(wait_id)}",
                    step.span,
                    {"fleet.wait.reason": wait.reason, "fleet.wait.objects": len(wait.refs)},
                )
            else:
                span = open_wait[0]
                span.set_attribute("fleet.wait.objects", len(wait.refs))
            self._waits[wait_id] = (span, frozenset(wait.refs))
        if batch.is_wait:
            for ref in [r for r in self._hooks if r not in hooks_waiting]:
                self._hooks.pop(ref).end()
        for action in batch.actions:
            if isinstance(action, CreateHook) and action.ref not in self._hooks:
                self._hooks[action.ref] = self._child(
                    f"hook {action.ref.kind}",
                    step.span,
                    {**object_attributes(action.ref), "fleet.hook.phase": str(action.phase)},
                )

    def _open_step(self, phase: str, wave: int | None) -> _Step:
        name = f"step {phase}" if wave is None else f"step {phase} wave {wave}"
        attributes: dict[str, Any] = {"fleet.step.phase": phase}
        if wave is not None:
            attributes["fleet.step.wave"] = wave
        span = self._child(name, self._parent, attributes)
        self._step = _Step(span, phase, wave)
        return self._step

    def _end_step(self, failures: tuple[Failure, ...] = ()) -> None:
        self._note_failures(failures)
        for span, _ in self._waits.values():
            span.end()
        self._waits.clear()
        for span in self._hooks.values():
            span.end()
        self._hooks.clear()
        step = self._step
        if step is None:
            return
        self._step = None
        step.span.end()
        self.metrics.observe_step(self.app, step.phase, time.monotonic() - step.started)

    def _note_failures(self, failures: tuple[Failure, ...]) -> None:
        step = self._step
        for failure in failures:
            if failure in self._noted:
                continue
            self._noted.add(failure)
            hook = self._hooks.get(failure.ref) if failure.ref is not None else None
            if hook is not None:
                record_error(hook, str(failure))
            if (
                step is not None
                and not step.failed
                and failure.phase == step.phase
                and failure.wave == step.wave
            ):
                step.failed = True
                record_error(step.span, str(failure))
            if failure.reason == "Timeout":
                for span, refs in self._waits.values():
                    if failure.ref in refs:
                        record_error(span, str(failure))

    def end(self, verdict: Verdict) -> None:
        """The sync reached its verdict."""
        failures = verdict.failures if isinstance(verdict, Failed) else ()
        self._end_step(tuple(failures))

    def close(self) -> None:
        """End whatever is still open (the sync was interrupted)."""
        if not self._closed:
            self._closed = True
            self._end_step()

    # -- writes ------------------------------------------------------------------------

    async def write(self, action: Action, execute: Callable[[Action], Awaitable[T]]) -> T:
        """Run ``execute(action)`` inside a span naming the object, action and result.

        ``execute`` returns ``(ActionResult | None, row | None)`` as the executor's does;
        the row (if any) names what was done (created, configured, pruned ...).
        """
        if self._quiet or isinstance(action, Wait):
            return await execute(action)
        parent = self._hooks.get(action.ref) if isinstance(action, CreateHook) else None
        if parent is None:
            parent = self._step.span if self._step is not None else self._parent
        verb = _ACTION_NAMES.get(type(action), "action")
        attributes: dict[str, Any] = {
            CLUSTER: self.cluster,
            "fleet.action": verb,
            **object_attributes(action.ref),
        }
        span = self._child(f"{verb} {action.ref.kind}", parent, attributes)
        try:
            with trace.use_span(
                span, end_on_exit=False, record_exception=False, set_status_on_exception=False
            ):
                outcome = await execute(action)
        except BaseException as error:
            record_error(span, f"{verb} {action.ref} raised {type(error).__name__}", error)
            span.end()
            raise
        _describe(span, outcome)
        span.end()
        return outcome

    def _child(self, name: str, parent: Span | None, attributes: dict[str, Any]) -> Span:
        context = trace.set_span_in_context(parent) if parent is not None else None
        return self.tracer.start_span(
            name, context=context, attributes={APP: self.app, CLUSTER: self.cluster, **attributes}
        )


_ACTION_NAMES: dict[type, str] = {
    DryRun: "dry-run",
    Apply: "apply",
    Prune: "prune",
    CreateHook: "create",
    DeleteHook: "delete",
    ReleaseHook: "release",
}


def _wait_kind(wait_id: str) -> str:
    head = wait_id.split(" ", 1)[0]
    return head.removeprefix("wait-") or head


def _describe(span: Span, outcome: object) -> None:
    """Result attributes from the executor's ``(ActionResult, row)`` answer."""
    if not isinstance(outcome, tuple) or len(outcome) != 2:
        return
    result, row = outcome
    if row is not None:
        done = getattr(row, "action", None)
        if isinstance(done, str):
            span.set_attribute("fleet.action.result", done)
    if isinstance(result, ActionResult):
        if result.ok:
            if row is None:
                span.set_attribute("fleet.action.result", "ok")
            if result.in_sync is not None:
                span.set_attribute("fleet.object.in_sync", result.in_sync)
        else:
            span.set_attribute("fleet.action.result", "failed")
            error = result.error
            if error is not None:
                span.set_attribute("http.response.status_code", error.status)
                record_error(span, f"{error.reason}: {error.message}")
            else:
                record_error(span, "failed")
