"""The benchmark's ratio to kubectl: printed even when kubectl failed somewhere, but
marked, and never judged against the aim (a failed cluster's time is in the baseline,
its work is not)."""

from __future__ import annotations

import pytest

from bench.daemon_baseline import BaselineRun
from bench.daemon_report import Figures, kubectl_failed, ratio_cell, targets


def figures(update_s: float | None, kubectl_s: float | None, failures: list[str]) -> Figures:
    f = Figures(clusters=10, objects=50)
    f.update_s = update_s
    if kubectl_s is not None:
        f.baseline_parallel = BaselineRun(kubectl_s, 1.0, failures)
    return f


@pytest.mark.parametrize(
    ("update_s", "kubectl_s", "failures", "cell", "aim"),
    [
        (10.0, 40.0, [], "4.0x", "[met ]"),
        (10.0, 20.0, [], "2.0x", "[MISS]"),
        (10.0, 40.0, ["sim-3: apply: boom", "sim-3: rollout status: x"], "4.0x*", "[n/a ]"),
        (None, 40.0, [], "-", "[n/a ]"),
        (10.0, None, [], "-", "[n/a ]"),
    ],
)
def test_the_ratio_is_marked_and_not_judged_when_kubectl_failed(
    update_s: float | None, kubectl_s: float | None, failures: list[str], cell: str, aim: str
) -> None:
    f = figures(update_s, kubectl_s, failures)
    assert ratio_cell(f) == cell
    line = next(t for t in targets([f]) if "kubectl 8 at once" in t)
    assert line.strip().startswith(aim)
    if failures:
        assert "kubectl failed on 1 of 10 clusters: sim-3" in line


def test_failed_clusters_are_counted_once_each() -> None:
    f = figures(1.0, 2.0, ["sim-9: a: x", "sim-10: b: y", "sim-9: c: z"])
    assert kubectl_failed(f) == ["sim-10", "sim-9"]
