"""How long the sync engine takes to plan, by app size.

Run: ``.venv/bin/python -m bench.engine_plan`` (``--sizes 100 1000`` to choose sizes,
``--repeat N`` for more samples). Prints, for apps of 100, 1,000 and 10,000 objects,
the time of one ``decide`` call at three points of a sync (the dry-run batch, an apply
batch, a health wait) and of the first call of a sync ("cold": it parses and orders all
objects, later calls reuse that work), and for the largest app the whole sequence of steps from the
first decision to the verdict, with a cluster that answers at once. The target: one step
for 10,000 objects well under one API round trip (aim: under 100 ms), growing no worse
than n log n (the "per n log n" column should stay flat).
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
import timeit
from collections.abc import Callable
from typing import Any

from fleet.engine import (
    ActionResult,
    Apply,
    Batch,
    CreateHook,
    DryRun,
    Progress,
    SyncInput,
    SyncOptions,
    Wait,
    decide,
)
from fleet.engine.annotations import _parse
from fleet.engine.prepare import _MEMO
from fleet.model.manifests import Manifest
from fleet.model.refs import ObjectRef

read_settings_cache_clear = _parse.cache_clear
KINDS = ("ConfigMap", "Secret", "Service", "Deployment", "ServiceAccount")


def make_app(size: int) -> list[Manifest]:
    """A large app: a namespace, four waves of mixed kinds, and a PreSync/PostSync hook."""
    bodies: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "big"}}
    ]
    for index in range(size - 3):
        kind = KINDS[index % len(KINDS)]
        wave = str(index % 4 - 1)
        body: dict[str, Any] = {
            "apiVersion": "apps/v1" if kind == "Deployment" else "v1",
            "kind": kind,
            "metadata": {
                "name": f"obj-{index:05d}",
                "namespace": "big",
                "labels": {"app.kubernetes.io/name": "big"},
                "annotations": {"fleet.dev/sync-wave": wave},
            },
        }
        if kind == "Deployment":
            body["spec"] = {"replicas": 1, "template": {"spec": {"containers": [{"name": "c"}]}}}
        else:
            body["data"] = {"key": f"value-{index}"}
        bodies.append(body)
    for phase in ("PreSync", "PostSync"):
        bodies.append(
            {
                "apiVersion": "batch/v1",
                "kind": "Job",
                "metadata": {
                    "generateName": f"{phase.lower()}-",
                    "namespace": "big",
                    "annotations": {"argocd.argoproj.io/hook": phase},
                },
                "spec": {"template": {"spec": {"restartPolicy": "Never"}}},
            }
        )
    return [Manifest.from_body(body) for body in bodies]


def _written(body: dict[str, Any], ready: bool) -> dict[str, Any]:
    out = dict(body)
    out["metadata"] = {**body["metadata"], "uid": "u", "generation": 1}
    if body["kind"] == "Deployment":
        out["status"] = {
            "observedGeneration": 1,
            "replicas": 1,
            "updatedReplicas": 1,
            "availableReplicas": 1 if ready else 0,
        }
    elif body["kind"] == "Job":
        out["status"] = {"conditions": [{"type": "Complete", "status": "True"}]}
    return out


class InstantCluster:
    """Executes writes at once; Deployments become ready at the next wait. The app's
    namespace exists already (as on every sync but the first), so that every object can
    be dry-run."""

    def __init__(self) -> None:
        namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "big"}}
        self.live: dict[ObjectRef, dict[str, Any]] = {
            ObjectRef("", "Namespace", "", "big"): _written(namespace, ready=True)
        }
        self.unready: list[ObjectRef] = []

    def execute(self, action: Any) -> ActionResult | None:
        if isinstance(action, Wait):
            for ref in self.unready:
                self.live[ref] = _written(self.live[ref], ready=True)
            self.unready.clear()
            return None
        if isinstance(action, DryRun):
            return action.succeeded()
        if isinstance(action, Apply | CreateHook):
            self.live[action.ref] = _written(dict(action.body), ready=False)
            if action.ref.kind == "Deployment":
                self.unready.append(action.ref)
        return action.succeeded()


def cold_decide(inp: SyncInput) -> object:
    """A decision with nothing memoised: what the first call of a sync costs."""
    _MEMO.clear()
    read_settings_cache_clear()
    return decide(inp)


def _time(call: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Median CPU seconds and median wall seconds of ``call``.

    CPU time (of this process) is what planning costs; wall time also counts waiting for
    a CPU, which on a busy machine can be several times more.
    """
    cpu, wall = [], []
    for _ in range(repeat):
        started_cpu, started_wall = time.process_time(), time.perf_counter()
        call()
        cpu.append(time.process_time() - started_cpu)
        wall.append(time.perf_counter() - started_wall)
    return statistics.median(cpu), statistics.median(wall)


def _snapshots(size: int) -> dict[str, SyncInput]:
    """Inputs at three moments of a sync of ``size`` objects."""
    desired = make_app(size)
    cluster = InstantCluster()
    options = SyncOptions()
    progress = Progress.start(1000.0)
    now = 1000.0
    found: dict[str, SyncInput] = {}
    while True:
        live = dict(cluster.live)  # a snapshot: the cluster moves on
        inp = SyncInput("big", "abcdef1", desired, live, frozenset(), options, progress, now)
        decision = decide(inp)
        if not isinstance(decision, Batch):
            return found
        label = (
            "dry-run"
            if decision.status.phase == "DryRun"
            else "wait"
            if decision.is_wait
            else "apply"
        )
        if (
            label == "apply"
            and decision.status.phase == "Sync"
            and "Deployment" in (decision.status.message)
        ):
            found.setdefault("apply", inp)
        elif label != "apply":
            found.setdefault(label, inp)
        results = [r for a in decision.actions if (r := cluster.execute(a)) is not None]
        now += 1.0
        progress = decision.record(results, now)


def full_sequence(size: int) -> tuple[float, int, int]:
    """Seconds of planning for a whole sync, decisions made, actions returned."""
    desired = make_app(size)
    cluster = InstantCluster()
    options = SyncOptions()
    progress = Progress.start(1000.0)
    now, planning, decisions, actions = 1000.0, 0.0, 0, 0
    while True:
        inp = SyncInput(
            "big", "abcdef1", desired, cluster.live, frozenset(), options, progress, now
        )
        started = time.process_time()
        decision = decide(inp)
        planning += time.process_time() - started
        decisions += 1
        if not isinstance(decision, Batch):
            return planning, decisions, actions
        actions += len(decision.actions)
        results = [r for a in decision.actions if (r := cluster.execute(a)) is not None]
        now += 1.0
        progress = decision.record(results, now)


def calibration() -> float:
    """Seconds for a fixed piece of Python work, to compare figures across machines."""
    return min(timeit.repeat("sum(range(1000))", number=2000, repeat=5)) / 2000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1_000, 10_000])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    print(f"fleet engine: one decide() call, median of {args.repeat} runs")
    print(
        f"machine speed: {calibration() * 1e6:.0f} us for sum(range(1000))"
        " (about 10 us on an idle 3 GHz core; scale the figures by it)"
    )
    header = f"{'objects':>8} {'moment':>8} {'cpu ms':>8} {'wall ms':>8} {'cpu us / n log2 n':>18}"
    print(header)
    print("-" * len(header))
    for size in args.sizes:
        snapshots = _snapshots(size)
        rows = [("cold", _time(lambda inp=snapshots["dry-run"]: cold_decide(inp), args.repeat))]
        rows += [
            (m, _time(lambda inp=inp: decide(inp), args.repeat)) for m, inp in snapshots.items()
        ]
        for moment, (cpu, wall) in rows:
            per = cpu / (size * math.log2(size)) * 1e6
            print(f"{size:>8} {moment:>8} {cpu * 1000:>8.1f} {wall * 1000:>8.1f} {per:>18.3f}")
    largest = max(args.sizes)
    planning, decisions, actions = full_sequence(largest)
    print()
    print(
        f"whole sync of {largest} objects: {decisions} decisions, {actions} actions,"
        f" {planning * 1000:.0f} ms of CPU planning in total"
        f" ({planning / decisions * 1000:.1f} ms per decision)"
    )


if __name__ == "__main__":
    main()
