"""``fleet status`` tells the truth: about clusters it cannot reach, old failures, hooks,
and dry runs.

- A cluster taken down shows its apps Unknown, ``reachable: false`` and "unreachable
  since T: reason" within one watch timeout, with nothing else happening (no commit, no
  sync); when it comes back the row is Synced and Healthy again.
- A sync that failed leaves its message until a sync succeeds, and not after.
- Hooks that ran to completion are recorded Succeeded in history, not Progressing.
- ``fleet sync --dry-run`` lists what it would change and changes nothing.

Fault injection needs simulated clusters: those tests skip on real ones.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import anyio
import pytest

from fleet.runtime.watchers import WatchSettings
from tests.e2e.conftest import ClusterHandle
from tests.e2e.daemon_support import JSON, edit_yaml, eventually, world

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

#: The daemon's watch timeout: the longest a cluster that went down may look fine.
WATCH_TIMEOUT = WatchSettings().watch_timeout_seconds


@pytest.fixture
def cluster_count() -> int:
    return 2


def greeting(text: str, words: str) -> str:
    return edit_yaml(text, lambda doc: doc["data"].update({"GREETING": words}))


async def test_a_cluster_taken_down_turns_unknown_then_comes_back(
    clusters: list[ClusterHandle], tmp_path: Path
) -> None:
    faults = clusters[-1].require_faults()
    async with world(clusters, tmp_path) as w:
        daemon = await w.daemon()
        await daemon.wait_converged(w.names, w.seed_sha)
        *up, down = w.names
        syncs_before = await daemon.last_sync_id()

        faults.down()
        went_down = datetime.now(UTC)

        async def unknown() -> JSON | None:
            row = await daemon.status_of(down)
            return row if row["reachable"] is False else None

        row = await eventually(unknown, timeout=WATCH_TIMEOUT, what=f"{down} unreachable")
        assert (row["sync"], row["health"]) == ("Unknown", "Unknown"), row
        assert row["message"].startswith("unreachable since "), row
        reason = row["message"].split(": ", 1)[1]
        assert reason, row["message"]
        assert "<" not in reason, row["message"]
        assert "Error" not in reason, row["message"]
        since = datetime.fromisoformat(row["unreachable_since"])
        assert abs((since - went_down).total_seconds()) < WATCH_TIMEOUT
        for name in up:
            other = await daemon.status_of(name)
            assert (other["reachable"], other["sync"], other["health"]) == (
                True,
                "Synced",
                "Healthy",
            )
        assert await daemon.last_sync_id() == syncs_before, "nothing else happened"

        # The CLI shows it in its own column.
        command = [sys.executable, "-m", "fleet", "status", "--cluster", down]
        shown = await anyio.run_process(
            [*command, "--settings", str(daemon.settings_path)], check=False
        )
        assert shown.returncode == 0, shown.stderr.decode()
        header, line = shown.stdout.decode().splitlines()[:2]
        assert "REACHABLE" in header.split()
        assert line.split()[3:6] == ["no", "Unknown", "Unknown"], line
        assert "unreachable since" in line

        faults.up()
        rows = await daemon.wait_converged([down], w.seed_sha, timeout=30)
        back = rows[0]
        assert back["reachable"] is True
        assert back["unreachable_since"] is None
        assert back["message"] == "", back


async def test_a_successful_sync_clears_the_last_failure(
    clusters: list[ClusterHandle], tmp_path: Path
) -> None:
    faults = clusters[-1].require_faults()
    async with world(clusters, tmp_path) as w:
        retry = {"limit": 1, "backoff": {"duration": "1s"}}
        daemon = await w.daemon(w.config(sync_policy={"retry": retry}))
        await daemon.wait_converged(w.names, w.seed_sha)
        down = w.names[-1]
        syncs_before = await daemon.last_sync_id()

        faults.down()
        v2 = await w.commit(
            "greet differently",
            {"base/configmap.yaml": greeting(w.source.read(w.path("base/configmap.yaml")), "v2")},
        )
        failed = await daemon.wait_sync(
            down, v2, after_id=syncs_before, result="Failed", timeout=60
        )
        assert "\n" not in failed["message"]
        assert "TransferEncodingError" not in failed["message"], failed["message"]

        faults.up()
        await daemon.wait_converged(w.names, v2, timeout=60)
        await daemon.wait_sync(down, v2, after_id=failed["id"], result="Succeeded")
        row = await daemon.status_of(down)
        assert row["last_result"] == "Succeeded"
        assert row["message"] == "", row
        assert "last sync failed" not in row["message"]


async def test_hooks_that_ran_are_recorded_succeeded(
    clusters: list[ClusterHandle], tmp_path: Path
) -> None:
    async with world(clusters, tmp_path) as w:
        daemon = await w.daemon()
        await daemon.wait_converged(w.names, w.seed_sha)
        first = await daemon.wait_sync(w.names[0], w.seed_sha, result="Succeeded")
        detail = await daemon.detail(int(first["id"]))
        hooks = [r for r in detail["results"] if r["kind"] == "Job"]
        assert hooks, detail
        assert not [r for r in hooks if r["health"] == "Progressing"], [
            (r["action"], r["name"], r["health"], r["message"]) for r in hooks
        ]
        for name in {r["name"] for r in hooks}:
            assert any(r["name"] == name and r["health"] == "Succeeded" for r in hooks), [
                (r["action"], r["name"], r["health"], r["message"]) for r in hooks
            ]


async def test_a_dry_run_lists_what_it_would_change_and_changes_nothing(
    clusters: list[ClusterHandle], tmp_path: Path
) -> None:
    async with world(clusters, tmp_path) as w:
        daemon = await w.daemon(w.config(sync_policy={"automated": False}))
        target = w.names[0]

        async def compared() -> JSON | None:
            row = await daemon.status_of(target)
            return row if row["sync"] == "OutOfSync" else None

        await eventually(compared, timeout=30, what=f"web compared on {target}")
        answer = await daemon.sync(cluster=target, dryRun=True)
        sync_id = answer["queued"][0]["sync_id"]

        async def finished() -> JSON | None:
            detail: JSON = await daemon.detail(int(sync_id))
            return detail if detail["result"] != "Running" else None

        detail = await eventually(finished, timeout=60, what="the dry run's answer")
        assert detail["dry_run"] is True
        assert detail["result"] == "Succeeded", detail
        assert detail["message"].startswith("dry run, nothing changed: would create "), detail
        created = {(r["kind"], r["name"]) for r in detail["results"] if r["action"] == "created"}
        assert ("ConfigMap", "web-config") in created, detail["results"]
        assert all(r["message"].startswith("would ") for r in detail["results"])
        await anyio.sleep(1.0)
        assert await w.kubes[target].config_map(w.namespace, "web-config") is None
        row = await daemon.status_of(target)
        assert row["revision"] is None, "a dry run is not a sync of the cluster"
