"""The report ``fleet plan`` answers with: per app, the order its rollout would follow
(waves, soaks, budgets) and, per cluster, what a sync would do there
(fleet.engine.preview); then one fleet-wide summary.

Pure: the runtime hands in the revision, the rollout plan, each cluster's preview or why
none could be made, and gets the JSON the API returns. The summary's ``changes`` and
``errors`` are what the CLI's exit code reads (0 nothing would change, 1 something
would, 2 a plan could not be made or a sync would be refused).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from fleet.engine.preview import ClusterPreview, PlannedAction
from fleet.engine.rollout import RolloutPlan


@dataclass(frozen=True, slots=True)
class ClusterPlan:
    """One cluster of an app: its preview, or the reason there is none."""

    cluster: str
    #: The cluster's wave in the app's rollout.
    wave: str | None = None
    #: The revision last synced there successfully.
    current_revision: str | None = None
    pinned_revision: str | None = None
    preview: ClusterPreview | None = None
    #: Why no preview could be made (cluster unreachable, a read failed).
    error: str = ""
    #: No automated sync here until resumed (fleet suspend).
    suspended: bool = False
    #: Why an automated sync here waits right now (dependsOn, a sync window), if it does.
    held: str = ""

    def note(self, revision: str | None) -> str:
        """What the rollout would do with this cluster, when it is not the usual."""
        notes = []
        if self.pinned_revision and self.pinned_revision != revision:
            notes.append(
                f"pinned to {self.pinned_revision[:12]}: this revision reaches it only once"
                " unpinned (fleet sync --unpin)"
            )
        elif revision is not None and self.current_revision == revision:
            notes.append("already at this revision")
        if self.suspended:
            notes.append("suspended: no automated sync until resumed")
        if self.held:
            notes.append(f"waits: {self.held}")
        return "; ".join(notes)

    def as_json(self, revision: str | None) -> dict[str, Any]:
        preview = self.preview.as_json() if self.preview is not None else None
        return {
            "cluster": self.cluster,
            "wave": self.wave,
            "current_revision": self.current_revision,
            "pinned_revision": self.pinned_revision,
            "note": self.note(revision),
            "suspended": self.suspended,
            "held": self.held or None,
            "error": self.error or None,
            **(preview or {"objects": [], "refusals": [], "unchanged": 0, "syncs": False}),
        }


@dataclass(frozen=True, slots=True)
class AppPlan:
    app: str
    source: str
    #: The revision planned (None when it could not be resolved: see ``error``).
    revision: str | None
    automated: bool
    rollout: RolloutPlan
    clusters: tuple[ClusterPlan, ...] = ()
    #: The commit's first line.
    summary: str = ""
    error: str = ""

    def as_json(self) -> dict[str, Any]:
        return {
            "app": self.app,
            "source": self.source,
            "revision": self.revision,
            "commit_message": self.summary,
            "error": self.error or None,
            "rollout": rollout_json(self.rollout, self.automated),
            "clusters": [c.as_json(self.revision) for c in self.clusters],
        }


def wave_of(plan: RolloutPlan, cluster: str) -> str | None:
    for wave in plan.waves:
        if cluster in wave.clusters:
            return wave.name
    return None


def rollout_json(plan: RolloutPlan, automated: bool) -> dict[str, Any]:
    """The order a new revision would reach the app's clusters in.

    An app that does not sync automatically gets no rollout: the revision only sets what
    its clusters are compared against, and each syncs when someone asks.
    """
    return {
        "automated": automated,
        "rollback_on_halt": plan.rollback_on_halt,
        "waves": [
            {
                "name": wave.name,
                "clusters": list(wave.clusters),
                "soak_seconds": wave.soak_seconds,
                "max_parallel": wave.max_parallel,
                "max_unavailable": wave.max_unavailable,
                "failure_budget": wave.failure_budget,
            }
            for wave in plan.waves
        ],
    }


def summarize(apps: Sequence[AppPlan]) -> dict[str, Any]:
    """Fleet-wide totals: objects by action, clusters that would change, refusals, errors."""
    totals = {str(action): 0 for action in PlannedAction}
    totals["unchanged"] = 0
    clusters = changing = refused = errors = 0
    for app in apps:
        if app.error:
            errors += 1
        for cluster in app.clusters:
            clusters += 1
            if cluster.error:
                errors += 1
            preview = cluster.preview
            if preview is None:
                continue
            for key, count in preview.counts().items():
                totals[key] += count
            changing += preview.changes
            refused += bool(preview.refusals)
    return {
        **totals,
        "clusters": clusters,
        "clusters_changing": changing,
        "clusters_refused": refused,
        "errors": errors,
        "changes": changing > 0,
        "failed": errors > 0 or refused > 0,
    }


def report(apps: Sequence[AppPlan]) -> dict[str, Any]:
    """The whole answer of the plan API."""
    return {"apps": [app.as_json() for app in apps], "summary": summarize(apps)}
