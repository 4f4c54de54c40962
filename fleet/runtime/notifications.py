"""The notification dispatcher: events in, alerts out, without ever holding up a sync.

``submit()`` is called for every event the daemon records. It is synchronous and does
no I/O: it matches the event against the rules, applies grouping, and puts one
notification per destination on that destination's bounded queue. Each destination
has its own lane (a queue and a few delivery tasks), so a destination that hangs fills
only its own queue; every attempt is cut by the configured timeout and retried with
exponential back-off and jitter.

Nothing is dropped silently: a full queue, a final failure, or a notification still
queued when the daemon stops is logged and counted in :attr:`stats` (per destination:
sent, failed, dropped, grouped, retried), which the metrics code reads.

Grouping: within a rule's window, identical alerts (same rule, kind, app, cluster and
message) are sent once; repeats are counted, and when the window closes one summary
("N more like this in 5m") is sent and a new window starts. A window that closes with
no repeats ends the group, so the next identical alert is sent at once again.
"""

from __future__ import annotations

import logging
import math
import random
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import anyio
from anyio.abc import TaskGroup, TaskStatus
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from fleet.adapters.notify import DeliveryError, Notification, Sender, build_sender
from fleet.config import FleetConfig
from fleet.config.notifications import Destination, Notifications, Rule, matches_any, render_link
from fleet.engine.retry import RetryPolicy, backoff_delay

log = logging.getLogger(__name__)

#: Deliveries in flight at once per destination.
LANE_CONCURRENCY = 4

SenderFactory = Callable[[Destination, float], Sender]
GroupKey = tuple[str, str, str | None, str | None, str]


@dataclass(slots=True)
class DeliveryStats:
    """Counters of one destination since the daemon started."""

    sent: int = 0
    #: Gave up: a final error, or the last retry failed.
    failed: int = 0
    #: Never attempted to the end: the queue was full, or the daemon stopped first.
    dropped: int = 0
    #: Identical alerts held back by grouping (each is in a later summary).
    grouped: int = 0
    #: Attempts that failed and were tried again.
    retried: int = 0


@dataclass(slots=True)
class _Group:
    rule: str
    window: float
    closes_at: float
    latest: Notification
    repeats: int = 0


@dataclass(eq=False)
class _Lane:
    destination: Destination
    sender: Sender
    send: MemoryObjectSendStream[Notification]
    receive: MemoryObjectReceiveStream[Notification]
    timeout: float
    #: Accepted and not yet delivered, given up or dropped. Counted here rather than read
    #: off the stream: a notification handed straight to the waiting lane task is in
    #: neither the stream's buffer nor a delivery for a moment.
    unfinished: int = 0
    slots: anyio.Semaphore = field(default_factory=lambda: anyio.Semaphore(LANE_CONCURRENCY))

    @property
    def queued(self) -> int:
        return self.send.statistics().current_buffer_used


class NotificationDispatcher:
    """Sends the events picked by the config's notification rules to their destinations."""

    def __init__(
        self,
        config: FleetConfig | None = None,
        *,
        sender_factory: SenderFactory = build_sender,
        random_source: Callable[[], float] = random.random,
    ) -> None:
        self.stats: dict[str, DeliveryStats] = {}
        self._fleet: FleetConfig | None = None
        self._settings = Notifications()
        self._sender_factory = sender_factory
        self._random = random_source
        self._lanes: dict[str, _Lane] = {}
        self._groups: dict[GroupKey, _Group] = {}
        self._tasks: TaskGroup | None = None
        self._wake: anyio.Event | None = None
        #: Set whenever a delivery ends, for drain().
        self._settled: anyio.Event | None = None
        if config is not None:
            self.configure(config)

    # -- configuration ----------------------------------------------------------------

    def configure(self, config: FleetConfig) -> None:
        """Use ``config``'s notifications from now on (at startup and on every reload).

        A destination whose definition is unchanged keeps its queue; a changed or removed
        one finishes what it has queued with its old settings.
        """
        self._fleet = config
        self._settings = config.notifications or Notifications()
        for destination in self._settings.destinations:
            self.stats.setdefault(destination.name, DeliveryStats())
        rules = {rule.name for rule in self._settings.rules}
        for key, group in list(self._groups.items()):
            if group.rule not in rules:
                del self._groups[key]
                if group.repeats:
                    log.warning(
                        "%d grouped alert(s) of rule %s are not summarised: the rule was removed",
                        group.repeats,
                        group.rule,
                    )
        if self._tasks is not None:
            self._open_lanes(self._tasks)

    def _open_lanes(self, tasks: TaskGroup) -> None:
        timeout = self._settings.timeout.total_seconds()
        size = self._settings.queue_size
        wanted = {d.name: d for d in self._settings.destinations}
        for name, lane in list(self._lanes.items()):
            same = (
                wanted.get(name) == lane.destination
                and lane.timeout == timeout
                and lane.send.statistics().max_buffer_size == size
            )
            if not same:
                del self._lanes[name]
                lane.send.close()  # the lane delivers what it holds, then ends
        for name, destination in wanted.items():
            if name not in self._lanes:
                send, receive = anyio.create_memory_object_stream[Notification](size)
                sender = self._sender_factory(destination, timeout)
                lane = _Lane(destination, sender, send, receive, timeout)
                self._lanes[name] = lane
                tasks.start_soon(self._run_lane, lane, name=f"notifications to {name}")

    # -- running ----------------------------------------------------------------------

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Deliver until cancelled; ready (for ``TaskGroup.start``) once lanes are open."""
        try:
            async with anyio.create_task_group() as tasks:
                self._tasks = tasks
                self._wake = anyio.Event()
                self._open_lanes(tasks)
                tasks.start_soon(self._close_windows)
                task_status.started()
                await anyio.sleep_forever()
        finally:
            self._tasks = None
            held = sum(group.repeats for group in self._groups.values())
            if held:
                log.warning("stopping: %d grouped alert(s) were not summarised", held)
            self._groups.clear()
            for lane in self._lanes.values():
                lane.send.close()
            self._lanes.clear()

    async def drain(self) -> None:
        """Send the pending summaries now and wait until every queue is empty and idle.

        What is already queued or in flight goes first: a lane delivers several at once,
        so a summary sent alongside the notification it summarises could overtake it.
        """
        await self._settle()
        for key in list(self._groups):
            self._close_window(key, time.monotonic(), force=True)
        await self._settle()

    async def _settle(self) -> None:
        while any(lane.unfinished for lane in self._lanes.values()):
            self._settled = anyio.Event()
            await self._settled.wait()

    def queued(self, destination: str) -> int:
        """Notifications waiting for ``destination`` (not counting those in flight)."""
        lane = self._lanes.get(destination)
        return lane.queued if lane is not None else 0

    async def _run_lane(self, lane: _Lane) -> None:
        name = lane.destination.name
        left = 0
        try:
            async with anyio.create_task_group() as deliveries:
                async for notification in lane.receive:
                    try:
                        await lane.slots.acquire()
                    except anyio.get_cancelled_exc_class():
                        left += 1
                        raise
                    deliveries.start_soon(self._deliver, lane, notification)
        finally:
            while True:
                try:
                    lane.receive.receive_nowait()
                except (anyio.WouldBlock, anyio.EndOfStream, anyio.ClosedResourceError):
                    break
                left += 1
            lane.receive.close()
            lane.unfinished -= left
            if left:
                self.stats[name].dropped += left
                log.error("stopping: %d notification(s) to %s were not sent", left, name)
            lane.send.close()
            with anyio.CancelScope(shield=True):
                await lane.sender.aclose()

    async def _deliver(self, lane: _Lane, notification: Notification) -> None:
        name = lane.destination.name
        stats = self.stats[name]
        attempt = 0
        try:
            while True:
                attempt += 1
                error = await self._attempt(lane, notification)
                if error is None:
                    stats.sent += 1
                    log.info("notification sent to %s: %s", name, notification.headline)
                    return
                retry = self._settings.retry
                if not error.retryable or attempt > retry.limit:
                    stats.failed += 1
                    log.error(
                        "notification to %s failed after %d attempt(s), giving up: %s (%s)",
                        name,
                        attempt,
                        error,
                        notification.headline,
                    )
                    return
                delay = backoff_delay(attempt, self._policy(), self._random)
                stats.retried += 1
                log.warning(
                    "notification to %s failed (attempt %d): %s; retrying in %.1fs",
                    name,
                    attempt,
                    error,
                    delay,
                )
                await anyio.sleep(delay)
        except anyio.get_cancelled_exc_class():
            stats.dropped += 1
            log.error("stopping: notification to %s not sent: %s", name, notification.headline)
            raise
        finally:
            lane.unfinished -= 1
            lane.slots.release()
            if self._settled is not None:
                self._settled.set()

    async def _attempt(self, lane: _Lane, notification: Notification) -> DeliveryError | None:
        try:
            with anyio.fail_after(lane.timeout):
                await lane.sender.send(notification)
        except DeliveryError as error:
            return error
        except TimeoutError:
            return DeliveryError(f"no answer within {lane.timeout:g}s", retryable=True)
        except Exception as error:  # a sender's bug must not stop the lane
            log.exception("notification sender %s failed unexpectedly", lane.destination.name)
            return DeliveryError(f"internal error ({type(error).__name__})", retryable=False)
        return None

    def _policy(self) -> RetryPolicy:
        backoff = self._settings.retry.backoff
        return RetryPolicy(
            max_attempts=self._settings.retry.limit + 1,
            base_delay=backoff.duration.total_seconds(),
            factor=backoff.factor,
            max_delay=backoff.max_duration.total_seconds(),
        )

    # -- submitting -------------------------------------------------------------------

    def submit(
        self,
        kind: str,
        message: str,
        app: str | None = None,
        cluster: str | None = None,
        details: Mapping[str, Any] | None = None,
        *,
        event_id: int | None = None,
    ) -> None:
        """Queue notifications for an event; never blocks, never raises for a full queue."""
        settings = self._settings
        now = time.monotonic()
        for rule in settings.rules:
            if not self._matches(rule, kind, app, cluster):
                continue
            notification = Notification(
                rule=rule.name,
                kind=kind,
                message=message,
                app=app,
                cluster=cluster,
                details=dict(details or {}),
                link=self._link(rule, kind, app, cluster, details or {}),
                event_id=event_id,
            )
            window = settings.window_of(rule).total_seconds()
            if window > 0:
                key: GroupKey = (rule.name, kind, app, cluster, message)
                group = self._groups.get(key)
                if group is not None:
                    group.repeats += 1
                    group.latest = notification
                    for name in rule.destinations:
                        self._stats(name).grouped += 1
                    continue
                self._groups[key] = _Group(rule.name, window, now + window, notification)
                if self._wake is not None:
                    self._wake.set()
            self._enqueue(rule.destinations, notification)

    def _matches(self, rule: Rule, kind: str, app: str | None, cluster: str | None) -> bool:
        if not rule.wants_kind(kind):
            return False
        if rule.apps is not None:
            if app is not None and not matches_any(app, rule.apps):
                return False
            if app is None and cluster is not None and not self._runs_app_of(rule, cluster):
                return False
        if cluster is None:
            return True
        if rule.clusters is not None and not matches_any(cluster, rule.clusters):
            return False
        if rule.cluster_selector is not None:
            try:
                labelled = self._fleet.cluster(cluster) if self._fleet else None
            except KeyError:
                labelled = None
            if labelled is None or not rule.cluster_selector.matches(labelled):
                return False
        return True

    def _runs_app_of(self, rule: Rule, cluster: str) -> bool:
        """Whether an app the rule selects runs on ``cluster`` (for cluster-wide events)."""
        fleet = self._fleet
        if fleet is None or rule.apps is None:
            return True
        return any(
            matches_any(app.name, rule.apps) and any(c.name == cluster for c in fleet.targets(app))
            for app in fleet.apps
        )

    def _link(
        self,
        rule: Rule,
        kind: str,
        app: str | None,
        cluster: str | None,
        details: Mapping[str, Any],
    ) -> str | None:
        template = self._settings.link_of(rule)
        if template is None:
            return None
        sync_id = details.get("sync_id")
        values = {
            "app": app,
            "cluster": cluster,
            "revision": str(details.get("revision") or "") or None,
            "kind": kind,
            "syncId": str(sync_id) if sync_id is not None else None,
            "rule": rule.name,
        }
        return render_link(template, values)

    def _enqueue(self, destinations: list[str], notification: Notification) -> None:
        for name in destinations:
            stats = self._stats(name)
            lane = self._lanes.get(name)
            if lane is None:
                stats.dropped += 1
                log.error(
                    "notification to %s dropped: no such destination running (%s)",
                    name,
                    notification.headline,
                )
                continue
            try:
                lane.send.send_nowait(notification)
                lane.unfinished += 1
            except anyio.WouldBlock:
                stats.dropped += 1
                log.error(
                    "notification to %s dropped: %d already queued (%s)",
                    name,
                    lane.queued,
                    notification.headline,
                )

    def _stats(self, name: str) -> DeliveryStats:
        return self.stats.setdefault(name, DeliveryStats())

    # -- grouping windows -------------------------------------------------------------

    async def _close_windows(self) -> None:
        while True:
            self._wake = anyio.Event()
            now = time.monotonic()
            for key in [k for k, g in self._groups.items() if g.closes_at <= now]:
                self._close_window(key, now)
            next_close = min((g.closes_at for g in self._groups.values()), default=math.inf)
            with anyio.move_on_after(next_close - time.monotonic()):
                await self._wake.wait()

    def _close_window(self, key: GroupKey, now: float, *, force: bool = False) -> None:
        group = self._groups[key]
        if not group.repeats:
            if not force:
                del self._groups[key]
            return
        rule = next((r for r in self._settings.rules if r.name == group.rule), None)
        summary = replace(
            group.latest,
            repeats=group.repeats,
            window_seconds=group.window,
            id=uuid.uuid4().hex,
        )
        group.repeats = 0
        group.closes_at = now + group.window
        if rule is not None:
            self._enqueue(rule.destinations, summary)
