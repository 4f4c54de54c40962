"""Judge objects with the fleet-wide Lua checks off the event loop, before the engine looks.

The engine calls its ``custom_health`` synchronously, on the event loop. In the daemon
that callable (fleet.runtime.health_checks) only reads verdicts ready for an object's
version; :func:`prepare_health` makes them ready, running the scripts for the objects a
comparison or a sync step is about to judge in a worker thread. A script that loops costs
a worker thread its one second, never the loop: the daemon keeps serving the API, other
apps' comparisons and its watches meanwhile.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from anyio import CapacityLimiter, to_thread

from fleet.adapters.health.checks import LuaHealthChecks

#: Threads running Lua at once for all workers (the machine's other work goes on).
_LIMITER = CapacityLimiter(2)


def _checks_of(custom: object) -> LuaHealthChecks | None:
    checks = getattr(custom, "checks", custom)
    return checks if isinstance(checks, LuaHealthChecks) else None


async def prepare_health(custom: object, objects: Iterable[Mapping[str, Any] | None]) -> None:
    """Run, in a worker thread, the Lua checks for the ``objects`` (None ones skipped)
    whose verdicts are not ready, so the engine's calls that follow find them."""
    checks = _checks_of(custom)
    if checks is None or checks.inline or not any(checks.tiers):
        return  # no script loaded (the usual case): nothing to prepare, no object walked
    waiting = checks.unjudged(obj for obj in objects if obj is not None)
    if waiting:
        await to_thread.run_sync(checks.judge_all, waiting, limiter=_LIMITER)
