"""Simulated Kubernetes API servers, for the demo, the tests and the benchmarks.

Public surface: :class:`SimFleet` (many clusters in one process), :class:`SimCluster`
(one of them: url, token, kubeconfig, faults, store) and :class:`Faults`. Imported
lazily so that ``fleet.sim.patching`` and ``fleet.sim.controllers`` stay light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fleet.sim.faults import Faults
    from fleet.sim.fleet import SimFleet
    from fleet.sim.server import SimCluster

__all__ = ["Faults", "SimCluster", "SimFleet"]


def __getattr__(name: str) -> Any:
    if name == "SimFleet":
        from fleet.sim.fleet import SimFleet

        return SimFleet
    if name == "SimCluster":
        from fleet.sim.server import SimCluster

        return SimCluster
    if name == "Faults":
        from fleet.sim.faults import Faults

        return Faults
    raise AttributeError(name)
