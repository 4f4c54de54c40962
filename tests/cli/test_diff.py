"""``fleet diff``: unified diffs per cluster, and diff(1)'s exit codes."""

from __future__ import annotations

import json

import pytest

from tests.cli.harness import FakeTerminal, Invoke, Served

pytestmark = pytest.mark.anyio


async def test_no_differences_exits_0(cli: Invoke) -> None:
    outcome = await cli("diff", "web", "--cluster", "dev")
    assert outcome.code == 0, outcome.err
    assert outcome.out == "# web on dev at 3f2a9c1: in sync\n"


async def test_differences_exit_1_with_the_unified_diff(cli: Invoke) -> None:
    outcome = await cli("diff", "web")
    assert outcome.code == 1, outcome.err
    assert "# web on dev at 3f2a9c1: in sync" in outcome.out
    assert "# web on prod at 3f2a9c1: 1 object(s) differ" in outcome.out
    assert "--- live/apps/Deployment/web/web\n" in outcome.out
    assert "-  replicas: 5\n+  replicas: 2\n" in outcome.out
    assert "\x1b[" not in outcome.out


async def test_colour_always_never_and_on_a_terminal(
    cli: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    coloured = (await cli("diff", "web", "--color", "always")).out
    assert "\x1b[31m-  replicas: 5\x1b[0m" in coloured
    assert "\x1b[32m+  replicas: 2\x1b[0m" in coloured
    assert "\x1b[36m@@ -5,3 +5,3 @@\x1b[0m" in coloured
    assert "\x1b[1m--- live/apps/Deployment/web/web\x1b[0m" in coloured

    terminal = FakeTerminal()
    monkeypatch.setattr("sys.stdout", terminal)
    assert (await cli("diff", "web", "--color", "never")).code == 1
    assert "\x1b[" not in terminal.getvalue()
    assert (await cli("diff", "web")).code == 1
    assert "\x1b[32m+  replicas: 2" in terminal.getvalue()

    monkeypatch.setenv("NO_COLOR", "1")
    terminal.truncate(0)
    terminal.seek(0)
    assert (await cli("diff", "web")).code == 1
    assert "\x1b[" not in terminal.getvalue()


async def test_json_has_every_cluster_and_patch(cli: Invoke) -> None:
    outcome = await cli("diff", "web", "--json")
    assert outcome.code == 1
    clusters = json.loads(outcome.out)
    assert [c["cluster"] for c in clusters] == ["dev", "prod"]
    assert clusters[1]["objects"][0]["patch"][0]["path"] == "/spec/replicas"


async def test_an_object_that_cannot_be_compared_exits_2(cli: Invoke, daemon: Served) -> None:
    daemon.fake.diffs["web"][0]["objects"].append(
        {"object": "batch/Job web/db-migrate", "error": "admission webhook denied the request"}
    )
    outcome = await cli("diff", "web", "--cluster", "dev")
    assert outcome.code == 2
    assert "! batch/Job web/db-migrate: cannot compare: admission webhook denied" in outcome.out


async def test_unknown_app_exits_2_with_the_daemon_message(cli: Invoke) -> None:
    outcome = await cli("diff", "nope")
    assert outcome.code == 2
    assert outcome.out == ""
    assert "fleet diff: the daemon refused the request (404): no app named nope" in outcome.err
