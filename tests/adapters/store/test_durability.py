"""kill -9 at random moments: the file stays sound and nothing committed is lost.

A child process (crash_writer.py) writes syncs, results, inventory, progress and events in
a tight loop and reports each committed step on stdout (a file, so it never blocks). It
is killed with SIGKILL after a random delay, several times over the same database, as a
daemon that keeps crashing would be. After each kill the file must pass
``PRAGMA integrity_check``, hold every step the child reported, and
``interrupted_at_startup`` must mark exactly the syncs that were still running.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from fleet.adapters.store import HistoryStore

WRITER = Path(__file__).with_name("crash_writer.py")
KILLS = 6


def run_and_kill(db_path: Path, log: Path, first_round: int, delay: float) -> list[list[str]]:
    with log.open("w") as out:
        child = subprocess.Popen(
            [sys.executable, str(WRITER), str(db_path), str(first_round)],
            stdout=out,
            stderr=subprocess.PIPE,
        )
    try:
        deadline = time.monotonic() + 30
        while not log.read_text().startswith("ready"):
            assert child.poll() is None, child.stderr.read() if child.stderr else ""
            assert time.monotonic() < deadline, "the writer never became ready"
            time.sleep(0.01)
        time.sleep(delay)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
        if child.stderr:
            child.stderr.close()
    assert child.returncode == -signal.SIGKILL
    # After "ready", whole lines only: the kill may cut the last one short.
    complete = log.read_text().split("\n")[1:-1]
    return [line.split() for line in complete if line]


def test_kill_9_at_random_moments_leaves_a_sound_database(tmp_path: Path) -> None:
    seed = int.from_bytes(os.urandom(4), "big")
    rng = random.Random(seed)
    db_path = tmp_path / "history.sqlite3"
    all_started: set[int] = set()
    for kill in range(KILLS):
        delay = rng.uniform(0.05, 0.6)
        lines = run_and_kill(db_path, tmp_path / f"writer-{kill}.log", kill * 100_000, delay)
        why = f"(seed {seed}, kill {kill}, delay {delay:.3f}s)"
        started = {int(words[1]) for words in lines if words[0] == "started"}
        finished = {int(words[1]) for words in lines if words[0] == "finished"}
        steps = {int(words[1]): int(words[2]) for words in lines if words[0] == "progress"}
        all_started |= started

        with HistoryStore.open(db_path) as store:
            assert store.integrity_problems() == [], why
            stored = {s.id: s for s in store.history(limit=10_000)}
            assert all_started <= stored.keys(), f"committed syncs were lost {why}"
            assert all(stored[i].result == "Succeeded" for i in finished), why
            running = {s.id: s for s in store.running_syncs()}
            # Unfinished syncs are still running, except that the last one may have been
            # finished in the instant between its commit and its report.
            unreported = started - finished - running.keys()
            assert unreported <= {max(started, default=0)}, why
            assert all(stored[i].result == "Succeeded" for i in unreported), why
            for sync_id, step in steps.items():
                if sync_id in running:
                    progress = running[sync_id].progress
                    assert isinstance(progress, dict), why
                    assert progress["step"] >= step, why

            interrupted = store.interrupted_at_startup()

            assert {s.id for s in interrupted} == running.keys(), why
            assert store.running_syncs() == [], why
            assert all(s.result == "Interrupted" for s in store.history(result="Interrupted"))
            assert store.get_inventory("web", "c0") or store.get_inventory("web", "c1"), why
        if started:
            # The next life of the writer starts from a database that has real history.
            assert max(started) <= max(stored), why
