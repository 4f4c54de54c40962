"""``fleet history`` and ``fleet history show ID``."""

from __future__ import annotations

import json
import re

import pytest

from tests.cli.fakedaemon import SHA_A
from tests.cli.harness import Invoke, Served

pytestmark = pytest.mark.anyio


async def test_list_is_newest_first(cli: Invoke, daemon: Served) -> None:
    outcome = await cli("history")
    assert outcome.code == 0, outcome.err
    lines = outcome.out.splitlines()
    assert lines[0].split() == [
        "ID", "APP", "CLUSTER", "REVISION", "TRIGGER", "RESULT", "STARTED", "TOOK", "MESSAGE",
    ]  # fmt: skip
    assert [line.split()[0] for line in lines[1:]] == ["7", "6", "5"]
    assert lines[1].split()[:6] == ["7", "api", "prod", SHA_A[:7], "manual", "(dry"]
    six = lines[2]
    assert six.split()[:6] == ["6", "web", "prod", SHA_A[:7], "poll", "Failed"]
    assert re.search(r"  10m0\ds ago  8s +Deployment web: crash loop$", six)
    assert daemon.fake.history_queries[-1] == {
        "app": None,
        "cluster": None,
        "limit": 20,
        "before": None,
    }


async def test_app_cluster_limit_and_before_are_passed_on(cli: Invoke, daemon: Served) -> None:
    outcome = await cli("history", "web", "--cluster", "prod", "--limit", "5", "--before", "9")
    assert outcome.code == 0
    assert daemon.fake.history_queries[-1] == {
        "app": "web",
        "cluster": "prod",
        "limit": 5,
        "before": 9,
    }
    assert [line.split()[0] for line in outcome.out.splitlines()[1:]] == ["6"]


async def test_json_is_the_daemon_records(cli: Invoke) -> None:
    rows = json.loads((await cli("history", "--app", "web", "--json")).out)
    assert [r["id"] for r in rows] == [6, 5]
    assert {"id", "app", "cluster", "revision", "trigger", "result", "started_at"} <= set(rows[0])


async def test_nothing_recorded(cli: Invoke) -> None:
    outcome = await cli("history", "nothing-here")
    assert outcome.code == 0
    assert outcome.out == "no syncs recorded for this selection\n"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--limit", "0"], "must be from 1 to 10000"),
        (["--limit", "many"], "'many' is not a whole number"),
        (["web", "api"], "expected at most one APP"),
        (["web", "--app", "api"], "two different apps given"),
        (["show"], "usage: fleet history show ID"),
        (["show", "six"], "'six' is not an id"),
    ],
)
async def test_bad_arguments_exit_2(cli: Invoke, argv: list[str], message: str) -> None:
    outcome = await cli("history", *argv)
    assert outcome.code == 2
    assert message in outcome.err


async def test_show_lists_every_resource_result(cli: Invoke) -> None:
    outcome = await cli("history", "show", "6")
    assert outcome.code == 0, outcome.err
    assert outcome.out.startswith("sync 6: web on prod\n")
    assert f"  revision  {SHA_A}\n" in outcome.out
    assert "  result    Failed\n" in outcome.out
    assert "  message   Deployment web: crash loop\n" in outcome.out
    table = outcome.out.split("\n\n", 1)[1].splitlines()
    assert table[0].split() == [
        "PHASE", "WAVE", "KIND", "NAMESPACE/NAME", "ACTION", "HEALTH", "TOOK", "MESSAGE",
    ]  # fmt: skip
    assert table[1].split() == ["PreSync", "0", "Job", "web/db-migrate", "hook", "Healthy", "1s"]
    assert table[2].split() == [
        "Sync", "0", "Deployment", "web/web", "failed", "Degraded", "30s",
        "ProgressDeadlineExceeded",
    ]  # fmt: skip


async def test_show_json_has_the_results(cli: Invoke) -> None:
    detail = json.loads((await cli("history", "show", "6", "--json")).out)
    assert detail["id"] == 6
    assert [r["action"] for r in detail["results"]] == ["hook", "failed"]
    assert detail["results"][1]["duration_ms"] == 30000


async def test_show_of_an_unknown_sync_exits_2(cli: Invoke) -> None:
    outcome = await cli("history", "show", "999")
    assert outcome.code == 2
    assert "(404): no sync with id 999" in outcome.err
