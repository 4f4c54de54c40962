"""``fleet suspend``, ``fleet resume``, ``fleet cluster suspend|resume``, ``fleet sync --force``.

The fake daemon keeps suspensions the way the runtime does (three scopes, one app x
cluster suspended if any applies) and refuses manual syncs of a suspended app unless
forced, behind the real HTTP API and its token check.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import pytest
from aiohttp import web

from fleet.adapters.http.server import ApiError
from tests.cli.fakedaemon import JSON, FakeDaemon
from tests.cli.harness import TOKEN, Invoke, Served, run_fleet, seed, serve_fake
from tests.cli.test_fast_path import assert_fast, imported_by

pytestmark = pytest.mark.anyio


@dataclass
class SuspendingDaemon(FakeDaemon):
    suspended: dict[tuple[str, str], str] = field(default_factory=dict)
    asked: list[tuple[str, str | None, str | None, str]] = field(default_factory=list)

    def _by(self, app: str, cluster: str) -> list[str]:
        scopes = (
            ((app, cluster), f"app {app} on cluster {cluster}"),
            ((app, "*"), f"app {app} on every cluster"),
            (("*", cluster), f"cluster {cluster}"),
        )
        return [
            f"suspended: {what}" + (f" ({self.suspended[key]})" if self.suspended[key] else "")
            for key, what in scopes
            if key in self.suspended
        ]

    def _targets(self, app: str | None, cluster: str | None) -> list[JSON]:
        rows = [
            r
            for r in self.statuses
            if (app is None or r["app"] == app) and (cluster is None or r["cluster"] == cluster)
        ]
        if not rows:
            raise ApiError(404, f"no app named {app}" if app else f"no cluster named {cluster}")
        return [
            {
                "app": r["app"],
                "cluster": r["cluster"],
                "suspended": bool(self._by(r["app"], r["cluster"])),
                "by": self._by(r["app"], r["cluster"]),
            }
            for r in rows
        ]

    async def suspend(self, app: str | None, cluster: str | None, reason: str) -> JSON:
        self.asked.append(("suspend", app, cluster, reason))
        self._targets(app, cluster)
        self.suspended[(app or "*", cluster or "*")] = reason
        return {
            "suspended": {"app": app or "*", "cluster": cluster or "*", "reason": reason},
            "targets": self._targets(app, cluster),
        }

    async def resume(self, app: str | None, cluster: str | None) -> JSON:
        self.asked.append(("resume", app, cluster, ""))
        self._targets(app, cluster)
        if app is not None and cluster is not None and (app, "*") in self.suspended:
            raise ApiError(409, f"app {app} is suspended on every cluster")
        before = len(self.suspended)
        if app is not None and cluster is None:
            self.suspended = {k: v for k, v in self.suspended.items() if k[0] != app}
        else:
            self.suspended.pop((app or "*", cluster or "*"), None)
        return {"resumed": len(self.suspended) < before, "targets": self._targets(app, cluster)}

    async def trigger_sync(
        self,
        app: str,
        cluster: str | None,
        revision: str | None,
        clear_pin: bool,
        dry_run: bool,
        confirm_prune: bool,
        force: bool = False,
        now: bool = False,
    ) -> JSON:
        held = [
            f"{t['cluster']}: {t['by'][0]} (resume it, or sync with --force)"
            for t in self._targets(app, cluster)
            if t["suspended"]
        ]
        if held and not force and not dry_run:
            raise ApiError(409, "sync refused: " + "; ".join(held))
        return await super().trigger_sync(
            app, cluster, revision, clear_pin, dry_run, confirm_prune, force=force, now=now
        )


@pytest.fixture
async def daemon(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Served]:
    token_file = tmp_path / "api-token"
    token_file.write_text(TOKEN + "\n")
    monkeypatch.setenv("FLEET_API_TOKEN_FILE", str(token_file))
    async with anyio.create_task_group() as tasks:
        fake = SuspendingDaemon(tasks)
        seed(fake)
        runner = await serve_fake(fake, token_file, lambda r: web.TCPSite(r, "127.0.0.1", 0))
        try:
            yield Served(fake, f"127.0.0.1:{runner.addresses[0][1]}", token_file)
        finally:
            await runner.cleanup()
            tasks.cancel_scope.cancel()


@pytest.fixture
def cli(daemon: Served, capsys: pytest.CaptureFixture[str]) -> Invoke:
    async def invoke(*argv: str, address: str | None = None):  # type: ignore[no-untyped-def]
        return await run_fleet(capsys, *argv, "--address", address or daemon.address)

    return invoke


def fake(daemon: Served) -> SuspendingDaemon:
    assert isinstance(daemon.fake, SuspendingDaemon)
    return daemon.fake


async def test_suspend_an_app_on_one_cluster_with_a_reason(cli: Invoke, daemon: Served) -> None:
    outcome = await cli("suspend", "web", "--cluster", "prod", "--reason", "db migration")
    assert outcome.code == 0, outcome.err
    assert fake(daemon).asked == [("suspend", "web", "prod", "db migration")]
    assert outcome.out.strip() == "web on prod: suspended (app web on cluster prod (db migration))"


async def test_suspend_an_app_everywhere_lists_every_cluster(cli: Invoke, daemon: Served) -> None:
    outcome = await cli("suspend", "web", "--json")
    assert outcome.code == 0, outcome.err
    answer = json.loads(outcome.out)
    assert {t["cluster"] for t in answer["targets"]} == {"dev", "prod", "staging"}
    assert all(t["suspended"] for t in answer["targets"])
    assert fake(daemon).asked == [("suspend", "web", None, "")]


async def test_resuming_an_app_on_a_suspended_cluster_says_it_stays_suspended(
    cli: Invoke, daemon: Served
) -> None:
    assert (await cli("cluster", "suspend", "prod", "--reason", "kernel upgrade")).code == 0
    assert (await cli("suspend", "web", "--cluster", "prod")).code == 0
    outcome = await cli("resume", "web", "--cluster", "prod")
    assert outcome.code == 0, outcome.err
    assert outcome.out.strip() == "web on prod: suspended (cluster prod (kernel upgrade))"
    outcome = await cli("cluster", "resume", "prod")
    assert outcome.code == 0, outcome.err
    assert set(outcome.out.strip().splitlines()) == {
        "api on prod: not suspended",
        "web on prod: not suspended",
    }
    assert fake(daemon).suspended == {}


async def test_resume_when_nothing_was_suspended_says_so(cli: Invoke) -> None:
    outcome = await cli("resume", "api")
    assert outcome.code == 0, outcome.err
    assert outcome.out.splitlines()[0] == "nothing was suspended there"


async def test_a_refusal_is_one_line_with_exit_2(cli: Invoke, daemon: Served) -> None:
    assert (await cli("suspend", "web")).code == 0
    outcome = await cli("resume", "web", "--cluster", "dev")
    assert outcome.code == 2
    assert "(409): app web is suspended on every cluster" in outcome.err


async def test_unknown_app_or_cluster_exits_2(cli: Invoke) -> None:
    outcome = await cli("suspend", "nope")
    assert outcome.code == 2
    assert "(404): no app named nope" in outcome.err
    outcome = await cli("cluster", "suspend", "mars")
    assert outcome.code == 2
    assert "(404): no cluster named mars" in outcome.err


async def test_suspending_needs_the_token(
    cli: Invoke, daemon: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FLEET_API_TOKEN_FILE")
    outcome = await cli("cluster", "suspend", "prod")
    assert outcome.code == 2
    assert "(401)" in outcome.err
    assert fake(daemon).asked == []


async def test_a_manual_sync_of_a_suspended_app_is_refused_unless_forced(
    cli: Invoke, daemon: Served
) -> None:
    assert (await cli("suspend", "web", "--cluster", "prod")).code == 0
    refused = await cli("sync", "web", "--cluster", "prod", "--no-wait")
    assert refused.code == 2
    assert "sync refused: prod: suspended: app web on cluster prod" in refused.err
    assert "--force" in refused.err
    assert fake(daemon).calls == []
    forced = await cli("sync", "web", "--cluster", "prod", "--no-wait", "--force")
    assert forced.code == 0, forced.err
    assert [(c.cluster, c.force) for c in fake(daemon).calls] == [("prod", True)]


async def test_cluster_needs_an_action(cli: Invoke) -> None:
    outcome = await cli("cluster")
    assert outcome.code == 2
    assert "ACTION" in outcome.err


@pytest.mark.parametrize(
    "argv",
    [
        ("suspend", "web", "--reason", "maintenance"),
        ("resume", "web"),
        ("cluster", "suspend", "prod"),
        ("cluster", "resume", "prod"),
    ],
    ids=" ".join,
)
async def test_suspend_and_resume_take_the_fast_path(
    argv: tuple[str, ...], daemon: Served, tmp_path: Path
) -> None:
    code, modules, out = await imported_by(tmp_path, *argv, "--address", daemon.address)
    assert code == 0, out
    assert "web on prod: " in out
    assert_fast(argv, modules)
