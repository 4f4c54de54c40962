"""How healthy an object is, and how to combine many into one.

Severity order (from Argo CD's, which users already know): Healthy < Suspended <
Progressing < Missing < Degraded < Unknown. An app is as healthy as its worst object.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


class HealthStatus(StrEnum):
    HEALTHY = "Healthy"
    SUSPENDED = "Suspended"
    PROGRESSING = "Progressing"
    MISSING = "Missing"
    DEGRADED = "Degraded"
    UNKNOWN = "Unknown"

    @property
    def severity(self) -> int:
        return _SEVERITY[self]


_SEVERITY = {status: rank for rank, status in enumerate(HealthStatus)}


@dataclass(frozen=True, slots=True)
class Health:
    """A status with the reason a person needs to act on it."""

    status: HealthStatus
    message: str = ""

    def __str__(self) -> str:
        return f"{self.status}: {self.message}" if self.message else str(self.status)


HEALTHY = Health(HealthStatus.HEALTHY)


def worst(healths: Iterable[Health]) -> Health:
    """The most severe health (the first of equals); Healthy when there is none."""
    result = HEALTHY
    for health in healths:
        if health.status.severity > result.status.severity:
            result = health
    return result
