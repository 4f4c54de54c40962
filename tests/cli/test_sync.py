"""``fleet sync``: the token, what is passed to the daemon, and following syncs to the end."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.cli.fakedaemon import SHA_B, TriggerCall
from tests.cli.harness import FakeTerminal, Invoke, Served

pytestmark = pytest.mark.anyio


@pytest.fixture(autouse=True)
def fast_polling(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("fleet.cli.sync.POLL_INTERVAL", 0.05)


async def test_without_a_token_the_daemon_refuses(
    cli: Invoke, daemon: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FLEET_API_TOKEN_FILE")
    outcome = await cli("sync", "web", "--no-wait")
    assert outcome.code == 2
    assert "(401)" in outcome.err
    assert "FLEET_API_TOKEN_FILE" in outcome.err
    assert daemon.fake.calls == []


async def test_a_wrong_token_is_refused_and_not_printed(
    cli: Invoke, daemon: Served, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = tmp_path / "wrong-token"
    wrong.write_text("guessed-token-value\n")
    monkeypatch.setenv("FLEET_API_TOKEN_FILE", str(wrong))
    outcome = await cli("sync", "web", "--no-wait")
    assert outcome.code == 2
    assert f"the token in {wrong} is not the daemon's" in outcome.err
    assert "guessed-token-value" not in outcome.err + outcome.out
    assert daemon.fake.calls == []


async def test_an_unreadable_token_file_is_named(
    cli: Invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLEET_API_TOKEN_FILE", str(tmp_path / "missing"))
    outcome = await cli("sync", "web", "--no-wait")
    assert outcome.code == 2
    assert f"cannot read API token file {tmp_path / 'missing'}" in outcome.err


async def test_wait_until_every_cluster_succeeded(cli: Invoke, daemon: Served) -> None:
    outcome = await cli("sync", "web", "--wait")
    assert outcome.code == 0, outcome.err
    rows = _rows(outcome.out)
    assert set(rows) == {"dev", "prod", "staging"}
    for row in rows.values():
        assert row[1] == "Succeeded"
        assert row[3] == SHA_B[:7]
        assert "1 configured, 1 hook, 1 unchanged" in " ".join(row)
    assert [c.app for c in daemon.fake.calls] == ["web"]


async def test_one_failed_cluster_fails_the_command(cli: Invoke, daemon: Served) -> None:
    daemon.fake.outcomes["prod"] = "Failed"
    outcome = await cli("sync", "web", "--wait")
    assert outcome.code == 1
    rows = _rows(outcome.out)
    assert rows["prod"][1] == "Failed"
    assert rows["dev"][1] == rows["staging"][1] == "Succeeded"
    assert "ProgressDeadlineExceeded" in outcome.out
    assert f"details: fleet history show {rows['prod'][2]}" in outcome.out


async def test_a_sync_that_starts_late_is_found_in_history(cli: Invoke, daemon: Served) -> None:
    daemon.fake.late_start = {"staging"}
    outcome = await cli("sync", "web", "--wait", "--json")
    assert outcome.code == 0, outcome.err
    answer = json.loads(outcome.out)
    queued = {q["cluster"]: q["sync_id"] for q in answer["queued"]}
    assert queued["staging"] is None
    assert isinstance(queued["dev"], int)
    syncs = {s["cluster"]: s for s in answer["syncs"]}
    assert syncs["staging"]["result"] == "Succeeded"
    assert syncs["staging"]["trigger"] == "manual"
    assert syncs["staging"]["id"] > 7, "a sync older than the request is not taken for it"
    assert [r["action"] for r in syncs["dev"]["results"]] == ["hook", "configured", "unchanged"]


async def test_no_wait_prints_what_was_queued(cli: Invoke, daemon: Served) -> None:
    outcome = await cli("sync", "web", "--no-wait")
    assert outcome.code == 0, outcome.err
    assert re.fullmatch(
        r"sync of web queued on dev \(sync \d+\), prod \(sync \d+\), staging \(sync \d+\)\n",
        outcome.out,
    )
    answer = json.loads((await cli("sync", "web", "--cluster", "dev", "--no-wait", "--json")).out)
    assert answer["app"] == "web"
    assert [q["cluster"] for q in answer["queued"]] == ["dev"]


async def test_not_on_a_terminal_it_does_not_wait_by_default(cli: Invoke, daemon: Served) -> None:
    outcome = await cli("sync", "web", "--cluster", "dev")
    assert outcome.out.startswith("sync of web queued on dev")


async def test_on_a_terminal_it_waits_and_shows_progress(
    cli: Invoke, daemon: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    stdout, stderr = FakeTerminal(), FakeTerminal()
    monkeypatch.setattr("sys.stdout", stdout)
    monkeypatch.setattr("sys.stderr", stderr)
    outcome = await cli("sync", "web", "--cluster", "prod")
    assert outcome.code == 0
    progress = stderr.getvalue()
    assert "\r\x1b[2K" in progress
    assert "syncing web" in progress
    assert "prod PreSync hook db-migrate" in progress
    assert progress.endswith("\r\x1b[2K"), "the progress line is cleared at the end"
    assert "\x1b[32mSucceeded\x1b[0m" in stdout.getvalue()


async def test_options_are_passed_through(cli: Invoke, daemon: Served) -> None:
    await cli(
        "sync", "web", "--cluster", "prod", "--revision", "v1.2.0", "--unpin", "--confirm-prune",
        "--no-wait",
    )  # fmt: skip
    await cli("sync", "web", "--dry-run", "--no-wait")
    assert daemon.fake.calls == [
        TriggerCall("web", "prod", "v1.2.0", True, False, True),
        TriggerCall("web", None, None, False, True, False),
    ]


async def test_dry_run_says_nothing_changed(cli: Invoke, daemon: Served) -> None:
    outcome = await cli("sync", "web", "--cluster", "dev", "--dry-run", "--wait")
    assert outcome.code == 0
    assert outcome.out.startswith("dry run of web: nothing was changed\n")


async def test_dry_run_waits_and_lists_what_it_would_change(cli: Invoke, daemon: Served) -> None:
    """Piped, without --wait: a dry run still waits, since its answer is the point."""
    outcome = await cli("sync", "web", "--cluster", "dev", "--dry-run")
    assert outcome.code == 0, outcome.err
    lines = outcome.out.splitlines()
    assert lines[0] == "dry run of web: nothing was changed"
    assert "would create 1, change 1; 3 unchanged" in outcome.out
    assert "1 created, 1 configured" in outcome.out
    listing = lines[lines.index("dev would:") + 1 :]
    assert listing == [
        "  change   apps/Deployment web/web  (spec.replicas)",
        "  create   ConfigMap web/web-config",
    ]


async def test_dry_run_of_another_revision_is_refused(cli: Invoke, daemon: Served) -> None:
    outcome = await cli("sync", "web", "--dry-run", "--revision", "v1")
    assert outcome.code == 2
    assert "--dry-run cannot be combined with --revision" in outcome.err
    assert daemon.fake.calls == []


async def test_a_revision_the_daemon_cannot_resolve(cli: Invoke) -> None:
    outcome = await cli("sync", "web", "--revision", "no-such-branch", "--no-wait")
    assert outcome.code == 2
    assert "(400): revision 'no-such-branch': not found" in outcome.err


async def test_timeout_exits_4_and_says_what_is_still_running(cli: Invoke, daemon: Served) -> None:
    daemon.fake.outcomes["prod"] = "hang"
    outcome = await cli("sync", "web", "--wait", "--timeout", "1")
    assert outcome.code == 4
    assert "gave up waiting after 1s" in outcome.err
    assert re.search(r"prod: sync \d+ still running \(waiting for Deployment web", outcome.err)
    assert _rows(outcome.out)["prod"][1] == "Running"


async def test_unknown_app_exits_2(cli: Invoke) -> None:
    outcome = await cli("sync", "nope", "--wait")
    assert outcome.code == 2
    assert "no app named nope" in outcome.err


def _rows(text: str) -> dict[str, list[str]]:
    lines = [line for line in text.splitlines() if line and not line.startswith("details:")]
    assert lines[0].split()[:3] == ["CLUSTER", "RESULT", "SYNC"]
    return {line.split()[0]: line.split() for line in lines[1:]}
