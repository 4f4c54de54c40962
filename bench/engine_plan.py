"""How long the sync engine takes to plan, by app size.

Run: ``.venv/bin/python -m bench.engine_plan`` (``--sizes 100 1000`` to choose sizes,
``--repeat N`` for more samples). Prints, for apps of 100, 1,000 and 10,000 objects,
the time of one ``decide`` call at three points of a sync (the dry-run batch, an apply
batch, a health wait), and for the largest app the whole sequence of steps from the
first decision to the verdict, with a cluster that answers at once. The target: one step
for 10,000 objects well under one API round trip (aim: under 100 ms), growing no worse
than n log n (the "per n log n" column should stay flat).
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
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
from fleet.model.manifests import Manifest
from fleet.model.refs import ObjectRef

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
    """Executes writes at once; Deployments become ready at the next wait."""

    def __init__(self) -> None:
        self.live: dict[ObjectRef, dict[str, Any]] = {}
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


def _time(call: Callable[[], object], repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


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
        started = time.perf_counter()
        decision = decide(inp)
        planning += time.perf_counter() - started
        decisions += 1
        if not isinstance(decision, Batch):
            return planning, decisions, actions
        actions += len(decision.actions)
        results = [r for a in decision.actions if (r := cluster.execute(a)) is not None]
        now += 1.0
        progress = decision.record(results, now)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1_000, 10_000])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    print("fleet engine: time of one decide() call (median of", args.repeat, "runs)")
    header = f"{'objects':>8} {'moment':>8} {'ms/step':>9} {'us per n log2 n':>16}"
    print(header)
    print("-" * len(header))
    for size in args.sizes:
        for moment, inp in _snapshots(size).items():
            seconds = _time(lambda inp=inp: decide(inp), args.repeat)
            per = seconds / (size * math.log2(size)) * 1e6
            print(f"{size:>8} {moment:>8} {seconds * 1000:>9.1f} {per:>16.3f}")
    largest = max(args.sizes)
    planning, decisions, actions = full_sequence(largest)
    print()
    print(
        f"whole sync of {largest} objects: {decisions} decisions, {actions} actions,"
        f" {planning * 1000:.0f} ms planning in total"
        f" ({planning / decisions * 1000:.1f} ms per decision)"
    )


if __name__ == "__main__":
    main()
