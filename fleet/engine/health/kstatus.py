"""The generic rules for any kind fleet has no specific rule for (kstatus, cli-utils).

These follow the Kubernetes API conventions every well-behaved controller uses: an
observedGeneration that lags, and the Reconciling / Stalled / Ready conditions.
"""

from __future__ import annotations

from fleet.engine.health.fields import (
    Obj,
    condition,
    condition_is,
    number,
    reason_message,
    section,
)
from fleet.model.health import Health, HealthStatus


def kstatus(obj: Obj) -> Health:
    if section(obj, "metadata").get("deletionTimestamp"):
        return Health(HealthStatus.PROGRESSING, "being deleted")
    status = section(obj, "status")
    if "observedGeneration" in status:
        generation = number(section(obj, "metadata"), "generation")
        observed = number(status, "observedGeneration")
        if observed != generation:
            return Health(
                HealthStatus.PROGRESSING,
                f"controller has observed generation {observed}, latest is {generation}",
            )
    reconciling = condition_is(obj, "Reconciling", "True")
    if reconciling is not None:
        return Health(HealthStatus.PROGRESSING, reason_message(reconciling) or "reconciling")
    stalled = condition_is(obj, "Stalled", "True")
    if stalled is not None:
        return Health(HealthStatus.DEGRADED, reason_message(stalled) or "stalled")
    ready = condition(obj, "Ready")
    if ready is not None:
        if ready.get("status") == "True":
            return Health(HealthStatus.HEALTHY, str(ready.get("message") or ""))
        return Health(HealthStatus.PROGRESSING, reason_message(ready) or "not ready")
    return Health(HealthStatus.HEALTHY)
