"""``fleet rollout status|resume|abort|promote`` and ``fleet rollback``, through the real
HTTP API over a fake daemon; and ``fleet sync --now``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.fakedaemon import SHA_A
from tests.cli.fakerollouts import rollout_state
from tests.cli.harness import Invoke, Served

pytestmark = pytest.mark.anyio


async def test_status_shows_every_wave_soak_left_and_budget(cli: Invoke) -> None:
    outcome = await cli("rollout", "status", "web", "--color", "never")
    assert outcome.code == 0, outcome.err
    lines = outcome.out.splitlines()
    assert lines[0] == "web: Soaking at 9b41e7a (trigger webhook)"
    assert "soaking" in lines[1]
    header = next(line for line in lines if line.startswith("WAVE"))
    for column in ("DONE", "IN PROGRESS", "PENDING", "FAILED", "SOAK LEFT", "BUDGET"):
        assert column in header
    canary = next(line for line in lines if line.startswith("canary"))
    assert canary.split() == ["canary", "dev", "-", "-", "-", "2m05s", "0/0"]
    rest = next(line for line in lines if line.startswith("rest"))
    assert "prod, staging" in rest
    assert rest.split()[-1] == "0/1"


async def test_status_of_a_halted_rollout_says_why_and_what_is_held(
    cli: Invoke, daemon: Served
) -> None:
    state = rollout_state(
        "web",
        "Halted",
        halt_reason="wave canary: 1 cluster(s) failed (dev (turned Degraded during the soak)),"
        " over its failure budget of 0; rolled back dev",
        holds=[{"cluster": "dev", "revision": SHA_A, "reason": "rollbackOnHalt"}],
    )
    state["waves"][0].update(
        done=[], failed=[{"cluster": "dev", "reason": "turned Degraded during the soak"}]
    )
    state["waves"][0]["budget_used"] = 1
    daemon.fake.rollouts.states["web"] = state
    outcome = await cli("rollout", "status", "web", "--color", "never")
    assert outcome.code == 0, outcome.err
    assert "web: Halted" in outcome.out
    assert "halted: wave canary: 1 cluster(s) failed" in outcome.out
    assert "dev (turned Degraded during the soak)" in outcome.out
    assert (
        "held: dev at 3f2a9c1 (rollbackOnHalt) until a new commit or "
        "`fleet sync web --unpin`" in outcome.out
    )
    canary = next(line for line in outcome.out.splitlines() if line.startswith("canary"))
    assert canary.endswith("1/0")


async def test_status_as_json_is_the_daemons_answer(cli: Invoke, daemon: Served) -> None:
    outcome = await cli("rollout", "status", "web", "--json")
    assert outcome.code == 0, outcome.err
    assert json.loads(outcome.out) == daemon.fake.rollouts.states["web"]


async def test_an_unknown_app_is_named(cli: Invoke) -> None:
    outcome = await cli("rollout", "status", "nope")
    assert outcome.code == 2
    assert "(404): no app named nope" in outcome.err


async def test_promote_then_abort_then_resume(cli: Invoke, daemon: Served) -> None:
    outcome = await cli("rollout", "promote", "web", "--color", "never")
    assert outcome.code == 0, outcome.err
    assert outcome.out.startswith("rollout of web promoted\n")
    canary = next(line for line in outcome.out.splitlines() if line.startswith("canary"))
    assert "promoted" in canary
    refused = await cli("rollout", "promote", "web")
    assert refused.code == 2
    assert "(409): the rollout of web is Progressing: no soak to skip" in refused.err
    aborted = await cli("rollout", "abort", "web", "--color", "never")
    assert aborted.code == 0, aborted.err
    assert "web: Aborted" in aborted.out
    assert "aborted by a user" in aborted.out
    resumed = await cli("rollout", "resume", "web", "--json")
    assert json.loads(resumed.out)["status"] == "Progressing"
    assert daemon.fake.rollouts.actions == [
        ("web", "promote"),
        ("web", "promote"),
        ("web", "abort"),
        ("web", "resume"),
    ]


async def test_steering_needs_the_token(
    cli: Invoke, daemon: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FLEET_API_TOKEN_FILE")
    outcome = await cli("rollout", "abort", "web")
    assert outcome.code == 2
    assert "(401)" in outcome.err
    assert daemon.fake.rollouts.actions == []


async def test_rollback_to_a_sync_goes_in_waves(cli: Invoke, daemon: Served) -> None:
    outcome = await cli("rollback", "web", "--to", "7", "--color", "never")
    assert outcome.code == 0, outcome.err
    assert daemon.fake.rollouts.rollbacks == [
        {"app": "web", "cluster": None, "to": 7, "revision": None, "now": False}
    ]
    lines = outcome.out.splitlines()
    assert lines[0] == "rolling web back: dev, prod, staging to 3f2a9c1"
    assert lines[1] == "started now on dev"
    assert lines[2] == "waiting for their wave: prod, staging"
    assert "fleet rollout status web" in lines[-1]


async def test_rollback_options_reach_the_daemon(cli: Invoke, daemon: Served) -> None:
    outcome = await cli("rollback", "web", "--revision", "v1.2.0", "--cluster", "prod", "--now")
    assert outcome.code == 0, outcome.err
    assert daemon.fake.rollouts.rollbacks[-1] == {
        "app": "web",
        "cluster": "prod",
        "to": None,
        "revision": "v1.2.0",
        "now": True,
    }
    assert "started now on prod" in outcome.out


async def test_rollback_refusals_are_one_clear_line(cli: Invoke, daemon: Served) -> None:
    unknown = await cli("rollback", "web", "--to", "99")
    assert unknown.code == 2
    assert "(404): no sync with id 99" in unknown.err
    both = await cli("rollback", "web", "--to", "7", "--revision", "v1")
    assert both.code == 2
    assert "not allowed with argument" in both.err
    negative = await cli("rollback", "web", "--to", "-3")
    assert negative.code == 2
    assert daemon.fake.rollouts.rollbacks == [
        {"app": "web", "cluster": None, "to": 99, "revision": None, "now": False}
    ]


async def test_sync_now_and_the_clusters_left_for_their_wave(
    cli: Invoke, daemon: Served, tmp_path: Path
) -> None:
    outcome = await cli("sync", "web", "--revision", SHA_A, "--now", "--no-wait")
    assert outcome.code == 0, outcome.err
    assert daemon.fake.calls[-1].now is True
    assert daemon.fake.calls[-1].revision == SHA_A
    outcome = await cli("sync", "web", "--unpin", "--no-wait")
    assert outcome.code == 0, outcome.err
    assert daemon.fake.calls[-1].now is False
    assert daemon.fake.calls[-1].clear_pin is True


async def test_a_pin_in_waves_says_who_waits_and_when_nothing_moves(
    cli: Invoke, daemon: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    answers = [
        {"queued": [{"cluster": "dev", "sync_id": None}], "waiting": ["prod", "staging"]},
        {"queued": [], "waiting": []},
    ]

    async def in_waves(app: str, *args: object, **kwargs: object) -> dict[str, object]:
        return {"app": app, **answers.pop(0), "rollout": rollout_state(app)}

    monkeypatch.setattr(daemon.fake, "trigger_sync", in_waves)
    outcome = await cli("sync", "web", "--revision", "v1", "--no-wait")
    assert outcome.code == 0, outcome.err
    assert outcome.out.splitlines() == [
        "waiting for their wave: prod, staging (fleet rollout status web)",
        "sync of web queued on dev",
    ]
    outcome = await cli("sync", "web", "--unpin", "--no-wait")
    assert outcome.code == 0, outcome.err
    assert outcome.out == "no cluster of web has to move: each is at its revision already\n"
