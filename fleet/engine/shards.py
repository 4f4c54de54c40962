"""Shards: which active instance owns which cluster, and the rollout record they share.

Past one host's capacity, the fleet's clusters are split between shards by label
(``ha.shards`` in the daemon settings: shard name -> matchLabels). Every instance reads
the same fleet config and the same shard table, so :func:`assign_clusters` gives every
instance the same answer, and refuses the same way a cluster no shard selects or two
shards select: a cluster synced by nobody, or by two writers, is worse than no start.

A rollout whose waves span shards is ordered through one record per app and revision
in the coordination cluster (fleet.adapters.kube.rollout_records): each shard writes
only its own clusters' progress into it, and reads the others'. The planner
(fleet.engine.rollout) then decides over the merged progress of every shard, so shard
B's second-wave clusters start only once shard A's first-wave clusters are healthy and
soaked; and each shard releases only the clusters it owns (:func:`own_starts`). The
first shard to start a wave records it (``waves``), under the record's resourceVersion,
so a wave is promoted once, whoever sees it first.

Pure: no I/O and no clock; times are the callers' (wall-clock seconds since the epoch,
the coordinator's clock, which is what another host can compare).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from fleet.engine.rollout import ClusterProgress, ClusterRollout, RolloutPlan


class ShardError(ValueError):
    """The shards do not split the fleet's clusters into disjoint, covering parts."""


def selects(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    """matchLabels: every key of the selector is a label with that value."""
    return all(labels.get(key) == value for key, value in selector.items())


def assign_clusters(
    shards: Mapping[str, Mapping[str, str]], clusters: Mapping[str, Mapping[str, str]]
) -> dict[str, str]:
    """cluster -> the shard that owns it; ShardError naming every cluster that no shard,
    or more than one, selects."""
    owner: dict[str, str] = {}
    problems: list[str] = []
    for cluster, labels in clusters.items():
        chosen = [name for name, selector in sorted(shards.items()) if selects(selector, labels)]
        if not chosen:
            shown = ", ".join(f"{k}={v}" for k, v in sorted(labels.items())) or "no labels"
            problems.append(f"cluster {cluster} ({shown}) is selected by no shard")
        elif len(chosen) > 1:
            problems.append(
                f"cluster {cluster} is selected by shards {' and '.join(chosen)}: "
                "each cluster needs exactly one"
            )
        else:
            owner[cluster] = chosen[0]
    if problems:
        raise ShardError("ha.shards: " + "; ".join(problems))
    return owner


def own_starts(start: Collection[str], owned: Collection[str]) -> tuple[str, ...]:
    """Of the clusters the planner starts, those this shard releases (the others are
    released by their own shard, which reaches the same decision)."""
    return tuple(cluster for cluster in start if cluster in owned)


@dataclass(frozen=True, slots=True)
class SharedProgress:
    """One cluster's progress in the shared record, and the shard that wrote it."""

    shard: str
    state: ClusterRollout
    finished_at: float | None = None
    reason: str = ""

    def progress(self) -> ClusterProgress:
        return ClusterProgress(self.state, self.finished_at, self.reason)


@dataclass(frozen=True, slots=True)
class WaveStart:
    """The first release of a wave's clusters: when, and by which shard."""

    at: float
    shard: str


@dataclass(frozen=True, slots=True)
class RolloutRecord:
    """The rollout of one revision of one app, as every shard shares it."""

    app: str
    revision: str
    clusters: Mapping[str, SharedProgress] = field(default_factory=dict)
    waves: Mapping[str, WaveStart] = field(default_factory=dict)
    #: Waves a user promoted past their soak (on any shard).
    promoted: frozenset[str] = frozenset()


class RecordFormatError(ValueError):
    """A record in the coordination cluster that this version cannot read."""


def remote_progress(
    record: RolloutRecord | None, owned: Collection[str]
) -> dict[str, ClusterProgress]:
    """The progress of the clusters other shards own, as the planner takes it."""
    if record is None:
        return {}
    return {c: p.progress() for c, p in record.clusters.items() if c not in owned}


def updated_record(
    record: RolloutRecord | None,
    *,
    app: str,
    revision: str,
    shard: str,
    local: Mapping[str, ClusterProgress],
    started_waves: Collection[str] = (),
    promoted: Collection[str] = (),
    now: float,
) -> RolloutRecord | None:
    """``record`` with this shard's clusters set to ``local``, the waves it started now
    added (unless another shard recorded them first) and its promotions merged; None
    when that changes nothing (no write)."""
    base = record if record is not None else RolloutRecord(app=app, revision=revision)
    if base.app != app or base.revision != revision:
        raise RecordFormatError(
            f"the record is about {base.app} at {base.revision[:12]}, not {app} at {revision[:12]}"
        )
    clusters = dict(base.clusters)
    for cluster, progress in local.items():
        clusters[cluster] = SharedProgress(
            shard, progress.state, progress.finished_at, progress.reason
        )
    waves = dict(base.waves)
    for wave in started_waves:
        waves.setdefault(wave, WaveStart(now, shard))
    new = replace(
        base, clusters=clusters, waves=waves, promoted=base.promoted | frozenset(promoted)
    )
    return None if record is not None and new == record else new


def record_to_json(record: RolloutRecord) -> str:
    """The record as the ConfigMap holds it (one JSON document, sorted)."""
    doc = {
        "app": record.app,
        "revision": record.revision,
        "clusters": {
            c: {
                "shard": p.shard,
                "state": str(p.state),
                "finishedAt": p.finished_at,
                "reason": p.reason,
            }
            for c, p in sorted(record.clusters.items())
        },
        "waves": {w: {"at": s.at, "shard": s.shard} for w, s in sorted(record.waves.items())},
        "promoted": sorted(record.promoted),
    }
    return json.dumps(doc, sort_keys=True)


def record_from_json(text: str) -> RolloutRecord:
    """Read back :func:`record_to_json`; RecordFormatError on anything else."""
    try:
        doc: Any = json.loads(text)
        clusters = {
            str(c): SharedProgress(
                shard=str(p["shard"]),
                state=ClusterRollout(p["state"]),
                finished_at=None if p.get("finishedAt") is None else float(p["finishedAt"]),
                reason=str(p.get("reason") or ""),
            )
            for c, p in (doc.get("clusters") or {}).items()
        }
        waves = {
            str(w): WaveStart(float(s["at"]), str(s["shard"]))
            for w, s in (doc.get("waves") or {}).items()
        }
        return RolloutRecord(
            app=str(doc["app"]),
            revision=str(doc["revision"]),
            clusters=clusters,
            waves=waves,
            promoted=frozenset(str(w) for w in doc.get("promoted") or ()),
        )
    except (ValueError, TypeError, KeyError, AttributeError) as error:
        raise RecordFormatError(
            f"unreadable rollout record: {type(error).__name__}: {error}"
        ) from None


def waves_started(
    plan: RolloutPlan, progress: Mapping[str, ClusterProgress], owned: Collection[str]
) -> tuple[str, ...]:
    """The waves in which this shard has released a cluster (one of its own not pending)."""
    return tuple(
        wave.name
        for wave in plan.waves
        if any(
            c in owned and progress.get(c, ClusterProgress()).state is not ClusterRollout.PENDING
            for c in wave.clusters
        )
    )


def recovered_progress(
    record: RolloutRecord | None, local: Mapping[str, ClusterProgress], owned: Collection[str]
) -> dict[str, ClusterProgress]:
    """This shard's clusters whose progress the record knows better than memory does.

    A new leader of the shard (after a restart or a takeover) finds its clusters already
    at the revision and counts them done at time 0, which would end every soak at once,
    here and, through the record, on every shard. The record keeps when they really
    finished: that time is taken back.
    """
    if record is None:
        return {}
    out: dict[str, ClusterProgress] = {}
    for cluster, shared in record.clusters.items():
        mine = local.get(cluster)
        if (
            cluster in owned
            and mine == ClusterProgress(ClusterRollout.SUCCEEDED, 0.0)
            and shared.state is ClusterRollout.SUCCEEDED
            and shared.finished_at
        ):
            out[cluster] = shared.progress()
    return out
