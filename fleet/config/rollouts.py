"""Cluster waves: the order in which a new revision of an app reaches the fleet.

A rollout is written fleet-wide (top-level ``rollout``) or per app (``apps[].rollout``,
which replaces the fleet-wide one for that app). Each wave picks clusters by selector;
every cluster an app targets must fall in exactly one wave, which the config checks
enforce, so that no cluster is silently left out (Rancher Fleet's partitions skip
clusters they do not match; fleet refuses such a config instead).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Self

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from fleet.config.base import ConfigModel
from fleet.config.clusters import Cluster
from fleet.config.selectors import ClusterSelector
from fleet.config.types import Amount, AmountValue, Duration, Name
from fleet.engine.rollout import RolloutPlan, RolloutWave


class Wave(ConfigModel):
    """One step of a rollout; limits are counts (``2``) or shares of the wave (``25%``)."""

    name: Name
    selector: ClusterSelector
    #: Clusters of the wave syncing at once (None: the daemon's concurrency limit).
    max_parallel: AmountValue | None = None
    #: Clusters of the wave syncing or failed at once.
    max_unavailable: AmountValue | None = None
    #: How long the wave must stay healthy before the next wave starts.
    soak: Duration = timedelta(0)
    #: Clusters of the wave that may fail before the rollout halts.
    failure_budget: AmountValue = Amount(0)

    @model_validator(mode="after")
    def _limits_allow_progress(self) -> Self:
        for key, amount in (
            ("maxParallel", self.max_parallel),
            ("maxUnavailable", self.max_unavailable),
        ):
            if amount is not None and not amount.percent and amount.value < 1:
                raise PydanticCustomError(
                    "rollout", f"{key} must be at least 1, or the wave never starts", {"at": key}
                )
        return self


class Rollout(ConfigModel):
    waves: list[Wave] = Field(min_length=1)
    #: When a wave exceeds its failure budget, return the finished clusters to the last
    #: good revision.
    rollback_on_halt: bool = False


@dataclass(frozen=True, slots=True)
class ResolvedWave:
    """A wave with the clusters it holds for one app."""

    wave: Wave
    clusters: list[Cluster]

    def as_engine_wave(self) -> RolloutWave:
        count = len(self.clusters)
        wave = self.wave
        return RolloutWave(
            name=wave.name,
            clusters=tuple(cluster.name for cluster in self.clusters),
            max_parallel=None if wave.max_parallel is None else max(1, wave.max_parallel.of(count)),
            max_unavailable=(
                None if wave.max_unavailable is None else max(1, wave.max_unavailable.of(count))
            ),
            soak_seconds=wave.soak.total_seconds(),
            failure_budget=wave.failure_budget.of(count),
        )


#: The wave used when neither the app nor the fleet declares a rollout: every cluster.
EVERY_CLUSTER = Wave(name="all", selector=ClusterSelector())


def resolve_waves(rollout: Rollout | None, targets: list[Cluster]) -> list[ResolvedWave]:
    """The targeted clusters, wave by wave (the first wave that selects a cluster holds it)."""
    waves = rollout.waves if rollout is not None else [EVERY_CLUSTER]
    placed: set[str] = set()
    resolved: list[ResolvedWave] = []
    for wave in waves:
        members = [c for c in wave.selector.select(targets) if c.name not in placed]
        placed.update(c.name for c in members)
        resolved.append(ResolvedWave(wave, members))
    return resolved


def rollout_plan(rollout: Rollout | None, targets: list[Cluster]) -> RolloutPlan:
    """The engine's plan for an app's targets (the config checks guarantee full coverage)."""
    waves = tuple(w.as_engine_wave() for w in resolve_waves(rollout, targets) if w.clusters)
    return RolloutPlan(
        waves=waves, rollback_on_halt=rollout is not None and rollout.rollback_on_halt
    )
