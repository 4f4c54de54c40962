"""The daemon benchmark keeps its figures on disk after each phase."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from bench.daemon import checkpoint, say_daemon_figures
from bench.daemon_report import Figures, Idle


def test_each_checkpoint_replaces_the_json_with_the_figures_so_far(tmp_path: Path) -> None:
    target = tmp_path / "figures.json"
    args = argparse.Namespace(json=target)
    measured = [Figures(1000, 50, update_s=272.0, update_cpu_s=118.0)]
    checkpoint(measured, args)
    assert json.loads(target.read_text())[0]["update_s"] == 272.0

    measured[0].drift_s = 22.0
    measured.append(Figures(10, 50))
    checkpoint(measured, args)
    written = json.loads(target.read_text())
    assert [f["clusters"] for f in written] == [1000, 10]
    assert written[0]["drift_s"] == 22.0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["figures.json"]


def test_without_json_nothing_is_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    checkpoint([Figures(1, 50)], argparse.Namespace(json=None))
    assert list(tmp_path.iterdir()) == []


def test_the_daemon_totals_are_said_before_the_baseline(capsys: pytest.CaptureFixture[str]) -> None:
    figures = Figures(100, 50, update_s=60.0, update_cpu_s=7.4, daemon_cpu_s=21.4)
    figures.daemon_peak_rss_mib = 300.0
    figures.idle = Idle(60.0, 0.2, 273.0, 403, {})
    say_daemon_figures(figures)
    said = capsys.readouterr()
    text = said.out + said.err
    assert "update 7.4s (74 ms per cluster)" in text
    assert "peak RSS 300 MiB" in text
    assert "idle 0.20 % CPU, 273 MiB, 403 sockets" in text
