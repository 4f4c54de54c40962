"""One app's rollout as the coordinator keeps it, and as ``fleet rollout status`` shows it.

Every cluster of the app has a *wanted* revision: the revision held there after a
rollback, else the one it is pinned to, else the source's newest commit. A change to
any of them (a commit, a pin, an unpin, a rollback) is one rollout: the clusters whose
wanted revision changed start again (pending, or done when they are already there), the
others keep their progress, so a soak under way goes on. The plan's waves gate them all.

What must outlive a restart (a halt, an abort, the holds) is written to the history
store by the coordinator; :meth:`AppRollout.saved_state` is that record.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fleet.adapters.git import Revision
from fleet.engine.rollout import (
    ClusterProgress,
    ClusterRollout,
    RolloutPlan,
    RolloutStatus,
    wave_reports,
)

if TYPE_CHECKING:
    from fleet.runtime.worker import Worker

#: Hold reasons: after ``fleet rollback``, and after a halt with ``rollbackOnHalt``.
HOLD_ROLLBACK = "rollback"
HOLD_ON_HALT = "rollbackOnHalt"
#: Extra states beyond the engine's, for the app as a whole.
ABORTED = "Aborted"
IDLE = "Idle"


@dataclass(frozen=True, slots=True)
class Held:
    """A revision held on one cluster after a rollback, until a newer commit than ``base``."""

    revision: Revision
    reason: str
    base: str


@dataclass
class AppRollout:
    app: str
    plan: RolloutPlan
    workers: dict[str, Worker]
    automated: bool
    #: The source's newest revision, as the poller last saw it.
    head: Revision | None = None
    pins: dict[str, Revision] = field(default_factory=dict)
    holds: dict[str, Held] = field(default_factory=dict)
    #: Pins and holds read back at startup, resolved once the source is fetched:
    #: (cluster, kind "pin" or hold reason, sha, base).
    unresolved: list[tuple[str, str, str, str]] = field(default_factory=list)
    resolving: bool = False
    #: A halted or aborted rollout read back at startup, for the revision it was about.
    saved: dict[str, Any] | None = None
    #: What each cluster is being taken to.
    wanted: dict[str, Revision] = field(default_factory=dict)
    #: The trigger released clusters sync under (poll, webhook, pin, unpin, rollback).
    reason: str = "poll"
    #: The revision the last change was about (what ``fleet rollout status`` leads with).
    revision: Revision | None = None
    progress: dict[str, ClusterProgress] = field(default_factory=dict)
    #: Waves the user promoted past their soak.
    promoted: set[str] = field(default_factory=set)
    #: Clusters whose release must also force a sync (user actions on a manual app).
    forced: set[str] = field(default_factory=set)
    status: str = IDLE
    message: str = ""
    halted: bool = False
    aborted: bool = False
    halt_reason: str = ""
    #: After a halt with rollbackOnHalt: cluster -> the revision it went back to.
    rolled_back: dict[str, str] = field(default_factory=dict)
    #: Clusters that cannot start yet because a sync window is closed: cluster -> why.
    blocked: dict[str, str] = field(default_factory=dict)
    #: Bumped by every change, so timers and watchers of an older state stop.
    generation: int = 0
    watching: bool = False

    def wanted_for(self, cluster: str) -> Revision | None:
        held = self.holds.get(cluster)
        if held is not None:
            return held.revision
        return self.pins.get(cluster, self.head)

    def saved_state(self) -> dict[str, Any]:
        """The record a restart reads back: status, why, and what each cluster was at."""
        return {
            "status": ABORTED if self.aborted else str(RolloutStatus.HALTED),
            "reason": self.halt_reason,
            "head": self.head.sha if self.head else None,
            "revision": self.revision.sha if self.revision else None,
            "wanted": {c: r.sha for c, r in sorted(self.wanted.items())},
            "progress": {c: [str(p.state), p.reason] for c, p in sorted(self.progress.items())},
            "rolled_back": dict(sorted(self.rolled_back.items())),
        }

    def restore_flags(self, saved: dict[str, Any]) -> None:
        """Take back a halt or abort recorded before a restart (of the same revision)."""
        self.aborted = saved.get("status") == ABORTED
        self.halted = not self.aborted
        self.halt_reason = str(saved.get("reason") or "")
        self.rolled_back = {str(k): str(v) for k, v in (saved.get("rolled_back") or {}).items()}

    def restore_progress(self, saved: dict[str, Any]) -> None:
        """Where each cluster stood, for the clusters still taken to the same revision."""
        wanted = saved.get("wanted") or {}
        for cluster, value in (saved.get("progress") or {}).items():
            current = self.wanted.get(cluster)
            if current is None or wanted.get(cluster) != current.sha:
                continue
            try:
                state = ClusterRollout(value[0])
            except (ValueError, IndexError, TypeError):
                continue
            if state is ClusterRollout.SYNCING or cluster in self.rolled_back:
                continue  # interrupted, or a rollback the worker is carrying out
            self.progress[cluster] = ClusterProgress(state, finished_at=0.0, reason=str(value[1]))

    def as_json(self, now: float) -> dict[str, Any]:
        waves = []
        reports = wave_reports(self.plan, self.progress, now, self.promoted)
        for report in reports:
            waves.append(
                {
                    "name": report.name,
                    "done": list(report.done),
                    "in_progress": list(report.in_progress),
                    "pending": list(report.pending),
                    "failed": [{"cluster": c, "reason": r} for c, r in report.failed],
                    "soak_seconds": report.soak_seconds,
                    "soak_left": report.soak_left,
                    "failure_budget": report.failure_budget,
                    "budget_used": report.budget_used,
                    "promoted": report.name in self.promoted,
                }
            )
        return {
            "app": self.app,
            "revision": self.revision.sha if self.revision else None,
            "head": self.head.sha if self.head else None,
            "trigger": self.reason,
            "status": self.status,
            "message": self.message,
            "halt_reason": self.halt_reason,
            "automated": self.automated,
            "rollback_on_halt": self.plan.rollback_on_halt,
            "clusters": {c: str(p.state) for c, p in sorted(self.progress.items())},
            "revisions": {c: r.sha for c, r in sorted(self.wanted.items())},
            "pins": {c: r.sha for c, r in sorted(self.pins.items())},
            "holds": [
                {"cluster": c, "revision": h.revision.sha, "reason": h.reason}
                for c, h in sorted(self.holds.items())
            ],
            "rolled_back": dict(sorted(self.rolled_back.items())),
            "blocked": dict(sorted(self.blocked.items())),
            "waves": waves,
        }
