"""``fleet sim up`` as a user runs it: foreground, kubeconfigs, clean stop on a signal."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from fleet.cli.sim import parse_labels


def test_labels_are_parsed_per_cluster() -> None:
    labels = parse_labels(["a:region=eu", "a:tier=gold", "b:region=us"], ["a", "b"])
    assert labels == {"a": {"region": "eu", "tier": "gold"}, "b": {"region": "us"}}


@pytest.mark.parametrize("bad", ["a", "a:region", ":k=v", "c:k=v"])
def test_bad_labels_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="--label"):
        parse_labels([bad], ["a", "b"])


def _wait_for(path: Path, process: subprocess.Popen[str], within: float = 20.0) -> None:
    deadline = time.monotonic() + within
    while not path.exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_sim_up_serves_until_signalled(tmp_path: Path, stop_signal: int) -> None:
    directory = tmp_path / "fleet"
    command = [
        sys.executable,
        "-m",
        "fleet",
        "sim",
        "up",
        "--names",
        "eu-1,us-1",
        "--dir",
        str(directory),
        "--label",
        "eu-1:region=eu",
        "--no-controllers",
    ]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    ) as process:
        try:
            _wait_for(directory / "admin.json", process)
            kubeconfig = yaml.safe_load((directory / "kubeconfig").read_text())
            assert [c["name"] for c in kubeconfig["contexts"]] == ["eu-1", "us-1"]
            assert (directory / "eu-1.kubeconfig").exists()
            assert (directory / "kubeconfig").stat().st_mode & 0o077 == 0
            process.send_signal(stop_signal)
            out, err = process.communicate(timeout=20)
        finally:
            if process.poll() is None:
                process.kill()
    assert process.returncode == 0, err
    assert f"kubeconfig: {directory / 'kubeconfig'}" in out
    assert "region=eu" in out


def test_sim_up_refuses_mismatched_names(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "fleet",
            "sim",
            "up",
            "--clusters",
            "3",
            "--names",
            "a,b",
            "--dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 2
    assert "--names gives 2 names" in result.stderr
