"""``fleet status``: the table people read and the JSON scripts read."""

from __future__ import annotations

import json

import pytest

from tests.cli.fakedaemon import SHA_A
from tests.cli.harness import FakeTerminal, Invoke, Served

pytestmark = pytest.mark.anyio


async def test_table_has_a_row_per_app_and_cluster(cli: Invoke) -> None:
    outcome = await cli("status")
    assert outcome.code == 0, outcome.err
    lines = outcome.out.splitlines()
    assert lines[0].split() == [
        "APP",
        "CLUSTER",
        "REVISION",
        "REACHABLE",
        "SYNC",
        "HEALTH",
        "LAST",
        "SYNC",
        "MESSAGE",
    ]
    rows = {tuple(line.split()[:2]): line for line in lines[1:]}
    assert set(rows) == {("api", "prod"), ("web", "dev"), ("web", "prod"), ("web", "staging")}
    prod = rows[("web", "prod")].split()
    assert prod[2:6] == [SHA_A[:7], "yes", "OutOfSync", "Degraded"]
    assert prod[6:8] == ["Failed", "2h00m"]
    assert "9b41e7a (pinned)" in rows[("web", "staging")]
    assert "\x1b[" not in outcome.out, "no colour when the output is not a terminal"


async def test_columns_line_up(cli: Invoke) -> None:
    lines = (await cli("status")).out.splitlines()
    start = lines[0].index("HEALTH")
    assert all(line[start - 2 : start] == "  " for line in lines[1:])
    assert {line[start:].split()[0] for line in lines[1:]} == {"Healthy", "Degraded"}


async def test_full_message_when_piped_and_cut_on_a_terminal(
    cli: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    piped = await cli("status", "--app", "web", "--cluster", "prod")
    assert piped.out.rstrip().endswith("and a very long reason")
    terminal = FakeTerminal()
    monkeypatch.setattr("sys.stdout", terminal)
    assert (await cli("status", "--app", "web", "--cluster", "prod")).code == 0
    shown = terminal.getvalue().splitlines()
    assert all(len(_plain(line)) <= 100 for line in shown)
    assert _plain(shown[1]).endswith("...")
    assert "\x1b[32m" in terminal.getvalue() or "\x1b[31m" in terminal.getvalue()


async def test_json_keeps_the_daemon_keys(cli: Invoke) -> None:
    outcome = await cli("status", "--json")
    assert outcome.code == 0
    rows = json.loads(outcome.out)
    assert len(rows) == 4
    for row in rows:
        assert {"app", "cluster", "revision", "reachable", "unreachable_since"} <= set(row)
        assert {"sync", "health"} <= set(row)
    assert {(r["app"], r["cluster"], r["sync"]) for r in rows} >= {("web", "prod", "OutOfSync")}


async def test_filters(cli: Invoke) -> None:
    rows = json.loads((await cli("status", "--json", "--cluster", "prod")).out)
    assert sorted(r["app"] for r in rows) == ["api", "web"]
    rows = json.loads((await cli("status", "--json", "--app", "web")).out)
    assert sorted(r["cluster"] for r in rows) == ["dev", "prod", "staging"]


async def test_unknown_app_is_bad_input(cli: Invoke) -> None:
    outcome = await cli("status", "--app", "nope")
    assert outcome.code == 2
    assert "nothing matches --app nope" in outcome.err


async def test_a_sync_in_progress_shows_its_step(cli: Invoke, daemon: Served) -> None:
    daemon.fake.statuses[1].update(operation="Syncing", step="PreSync hook db-migrate")
    outcome = await cli("status", "--app", "web", "--cluster", "dev")
    assert "syncing: PreSync hook db-migrate" in outcome.out


async def test_an_unreachable_cluster_says_so_in_its_own_column(
    cli: Invoke, daemon: Served
) -> None:
    since = "2026-05-01T12:00:03+00:00"
    daemon.fake.statuses[1].update(
        reachable=False,
        unreachable_since=since,
        sync="Unknown",
        health="Unknown",
        message="unreachable since 2026-05-01 12:00:03 UTC: connection refused",
    )
    daemon.fake.statuses[0].update(reachable=None)
    outcome = await cli("status")
    rows = {tuple(line.split()[:2]): line.split() for line in outcome.out.splitlines()[1:]}
    assert rows[("web", "dev")][3:6] == ["no", "Unknown", "Unknown"]
    assert outcome.out.rstrip().count("unreachable since 2026-05-01 12:00:03 UTC") == 1
    assert "connection refused" in outcome.out
    assert rows[("api", "prod")][3] == "-", "not tried yet"
    assert rows[("web", "prod")][3] == "yes"
    shown = json.loads((await cli("status", "--json", "--cluster", "dev")).out)
    assert (shown[0]["reachable"], shown[0]["unreachable_since"]) == (False, since)


async def test_an_unreachable_cluster_without_a_message_gets_one(
    cli: Invoke, daemon: Served
) -> None:
    daemon.fake.statuses[1].update(
        reachable=False, unreachable_since="2026-05-01T12:00:03+00:00", message=""
    )
    outcome = await cli("status", "--cluster", "dev")
    assert "unreachable since 2026-05-01" in outcome.out


async def test_colour_follows_the_flag(cli: Invoke) -> None:
    coloured = await cli("status", "--color", "always")
    assert "\x1b[32mSynced\x1b[0m" in coloured.out
    assert "\x1b[33mOutOfSync\x1b[0m" in coloured.out
    assert "\x1b[31mDegraded\x1b[0m" in coloured.out
    # colour codes do not disturb the alignment
    lines = [_plain(line) for line in coloured.out.splitlines()]
    assert lines == [line.rstrip() for line in (await cli("status")).out.splitlines()]


def _plain(text: str) -> str:
    import re

    return re.sub(r"\x1b\[[0-9;]*m", "", text)


async def test_a_suspension_or_hold_shows_in_the_table(cli: Invoke, daemon: Served) -> None:
    daemon.fake.statuses[1].update(suspended=True, message="")
    outcome = await cli("status", "--app", "web", "--cluster", "dev")
    assert outcome.out.splitlines()[1].rstrip().endswith("suspended")
    reason = "waiting for app db on this cluster: Degraded"
    daemon.fake.statuses[1].update(
        suspended=False, hold={"kind": "dependency", "reason": reason}, message="drift: x"
    )
    outcome = await cli("status", "--app", "web", "--cluster", "dev")
    assert f"{reason}; drift: x" in outcome.out
    # Once the daemon has put the reason in its message, it is not shown twice.
    daemon.fake.statuses[1].update(message=reason)
    outcome = await cli("status", "--app", "web", "--cluster", "dev")
    assert outcome.out.count(reason) == 1
