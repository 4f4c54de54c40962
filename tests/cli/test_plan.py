"""``fleet plan``: terraform-like lines per cluster, the rollout order, and exit codes."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from fleet.engine.plan_report import ClusterPlan
from fleet.engine.preview import Refusal
from tests.cli.harness import Invoke, Served

pytestmark = pytest.mark.anyio


async def test_a_plan_with_changes_exits_1_with_a_line_per_object(
    cli: Invoke, daemon: Served
) -> None:
    outcome = await cli("plan", "web")
    assert outcome.code == 1, outcome.err
    lines = outcome.out.splitlines()
    assert lines[0] == 'web: 9b41e7aa1111 "raise the greeting" (source platform)'
    assert lines[1] == (
        "  rollout: dev [dev] -> staging [staging] (soak 5m) -> prod [prod] (1 at a time, soak 10m)"
    )
    assert lines[2:10] == [
        "  # dev (wave dev), now at 3f2a9c1d0000",
        "    > hook PreSync: Job.batch web/web-migrate  (deleted)",
        "    ~ change Sync wave -1: ConfigMap web/web-config  (/data/GREETING)",
        "    + create Service web/web-canary",
        "    - prune ConfigMap web/web-old",
        "    > hook PostSync: Job.batch web/web-smoke-test",
        "      2 unchanged",
        "  # staging (wave staging), now at 3f2a9c1d0000: no changes (4 unchanged); pinned to "
        "3f2a9c1d0000: this revision reaches it only once unpinned (fleet sync --unpin)",
    ]
    assert "    ~ change Deployment.apps web/web  (/spec/replicas)" in lines
    assert lines[-1] == (
        "Plan: 1 to create, 2 to change, 1 to prune, 2 hooks to run, on 2 of 3 clusters."
    )
    assert "GREETING: hi" not in outcome.out  # diffs only with --diff
    assert "\x1b[" not in outcome.out
    assert daemon.fake.plan_queries == [{"app": "web", "revision": None, "diff": False}]


async def test_nothing_to_change_exits_0(cli: Invoke) -> None:
    outcome = await cli("plan", "api")
    assert outcome.code == 0, outcome.err
    assert "automated sync is off" in outcome.out
    assert "  # prod (wave all), now at 9b41e7aa1111: no changes (3 unchanged); already at" in (
        outcome.out
    )
    assert outcome.out.splitlines()[-1] == (
        "Plan: 0 to create, 0 to change, 0 to prune, 0 hooks to run, on 0 of 1 clusters."
    )


async def test_every_app_by_default(cli: Invoke, daemon: Served) -> None:
    outcome = await cli("plan")
    assert outcome.code == 1
    assert outcome.out.index("api: ") < outcome.out.index("web: ")
    assert "on 2 of 4 clusters" in outcome.out
    assert daemon.fake.plan_queries[-1]["app"] is None


async def test_diff_shows_each_change_coloured(cli: Invoke, daemon: Served) -> None:
    outcome = await cli("plan", "web", "--diff", "--revision", "main", "--color", "always")
    assert outcome.code == 1
    assert "\x1b[31m        -  GREETING: hello\x1b[0m" in outcome.out
    assert "\x1b[32m        +  GREETING: hi\x1b[0m" in outcome.out
    assert "\x1b[32m    + create Service web/web-canary\x1b[0m" in outcome.out
    assert "\x1b[31m    - prune ConfigMap web/web-old\x1b[0m" in outcome.out
    assert daemon.fake.plan_queries == [{"app": "web", "revision": "main", "diff": True}]


async def test_json_is_the_daemons_answer(cli: Invoke) -> None:
    outcome = await cli("plan", "web", "--json")
    assert outcome.code == 1
    answer = json.loads(outcome.out)
    [web] = answer["apps"]
    assert [c["cluster"] for c in web["clusters"]] == ["dev", "staging", "prod"]
    assert web["rollout"]["waves"][2]["soak_seconds"] == 600.0
    dev = web["clusters"][0]
    assert [(o["action"], o["name"]) for o in dev["objects"]][:3] == [
        ("hook", "web-migrate"),
        ("change", "web-config"),
        ("create", "web-canary"),
    ]
    assert answer["summary"]["changes"] is True
    assert answer["summary"]["failed"] is False


async def test_a_refusal_exits_2_and_says_why(cli: Invoke, daemon: Served) -> None:
    web = daemon.fake.plans["web"]
    dev = web.clusters[0]
    assert dev.preview is not None
    refused = replace(
        dev.preview, refusals=(Refusal("PruneRefused", "prune guard: this sync would delete"),)
    )
    daemon.fake.plans["web"] = replace(
        web, clusters=(replace(dev, preview=refused), *web.clusters[1:])
    )
    outcome = await cli("plan", "web")
    assert outcome.code == 2
    assert "    ! refused: PruneRefused: prune guard: this sync would delete" in outcome.out
    assert outcome.out.rstrip().endswith("1 cluster(s) would refuse the sync.")


async def test_an_unreachable_cluster_exits_2(cli: Invoke, daemon: Served) -> None:
    web = daemon.fake.plans["web"]
    down = ClusterPlan("prod", "prod", error="cluster unreachable: connection refused")
    daemon.fake.plans["web"] = replace(web, clusters=(*web.clusters[:2], down))
    outcome = await cli("plan", "web")
    assert outcome.code == 2
    assert "  # prod (wave prod): cannot plan: cluster unreachable: connection refused" in (
        outcome.out
    )
    assert "1 could not be planned" in outcome.out


async def test_an_unknown_revision_exits_2(cli: Invoke) -> None:
    outcome = await cli("plan", "web", "--revision", "no-such-branch")
    assert outcome.code == 2
    assert "  ! cannot plan: revision 'no-such-branch': not found" in outcome.out


async def test_an_unknown_app_exits_2_with_the_daemon_message(cli: Invoke) -> None:
    outcome = await cli("plan", "nope")
    assert outcome.code == 2
    assert outcome.out == ""
    assert "fleet plan: the daemon refused the request (404): no app named nope" in outcome.err
