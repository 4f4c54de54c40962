"""``fleet status``'s header: the config revision in force, and a refused config with
its file:line:col, read from ``GET /api/v1/config``."""

from __future__ import annotations

import pytest

from tests.cli.harness import Invoke, Served

pytestmark = pytest.mark.anyio

IN_FORCE = "1a2b3c4d5e6f" + "0" * 28
REFUSED = "9f8e7d6c5b4a" + "1" * 28
SOURCE = {
    "url": "https://git.example.com/platform/fleet-config.git",
    "ref": "main",
    "ref_kind": "branch",
    "path": "fleet.yaml",
}


async def test_a_local_config_with_nothing_refused_shows_no_header(cli: Invoke) -> None:
    outcome = await cli("status")
    assert outcome.out.splitlines()[0].startswith("APP")


async def test_a_config_source_shows_the_commit_in_force(cli: Invoke, daemon: Served) -> None:
    daemon.fake.config_state = {
        "source": SOURCE,
        "revision": IN_FORCE,
        "summary": "add cluster prod-2",
        "rejected": None,
    }
    lines = (await cli("status")).out.splitlines()
    assert lines[0] == (
        "config: https://git.example.com/platform/fleet-config.git branch main, fleet.yaml "
        "at 1a2b3c4 add cluster prod-2"
    )
    assert lines[1] == ""
    assert lines[2].startswith("APP")


async def test_a_refused_commit_is_shown_with_file_line_and_column(
    cli: Invoke, daemon: Served
) -> None:
    issue = {
        "file": "apps/web.yaml",
        "line": 4,
        "column": 13,
        "path": "apps[0].source",
        "message": "no source named 'platfrom'",
        "severity": "error",
    }
    daemon.fake.config_state = {
        "source": SOURCE,
        "revision": IN_FORCE,
        "summary": "good",
        "rejected": {"revision": REFUSED, "reason": "invalid", "issues": [issue] * 12},
    }
    out = (await cli("status")).out
    assert "config rejected: commit 9f8e7d6 (invalid), running 1a2b3c4" in out
    assert "  apps/web.yaml:4:13: apps[0].source: no source named 'platfrom'" in out
    assert "... and 2 more" in out


async def test_an_unsigned_commit_names_the_commit_and_why(cli: Invoke, daemon: Served) -> None:
    daemon.fake.config_state = {
        "source": SOURCE,
        "revision": None,
        "rejected": {
            "revision": REFUSED,
            "reason": "untrusted",
            "issues": [],
            "message": f"commit {REFUSED} is not trusted: the commit is not signed",
        },
    }
    out = (await cli("status")).out
    assert "fleet.yaml: no config in force yet" in out
    assert "config rejected: commit 9f8e7d6 (untrusted), no config in force" in out
    assert f"commit {REFUSED} is not trusted: the commit is not signed" in out


async def test_a_refused_sighup_reload_is_shown(cli: Invoke, daemon: Served) -> None:
    daemon.fake.config_state = {
        "file": "/etc/fleet/fleet.yaml",
        "source": None,
        "revision": None,
        "rejected": {
            "revision": None,
            "reason": "invalid",
            "issues": [{"file": "/etc/fleet/fleet.yaml", "line": 7, "column": 5, "message": "x"}],
        },
    }
    out = (await cli("status")).out
    assert "config rejected: /etc/fleet/fleet.yaml (invalid), running the previous config" in out
    assert "/etc/fleet/fleet.yaml:7:5: x" in out


async def test_json_output_is_unchanged_by_the_header(cli: Invoke, daemon: Served) -> None:
    daemon.fake.config_state = {"source": SOURCE, "revision": IN_FORCE, "rejected": None}
    out = (await cli("status", "--json")).out
    assert out.lstrip().startswith("[")


async def test_history_show_names_the_config_revision(cli: Invoke, daemon: Served) -> None:
    daemon.fake.syncs[6]["config_revision"] = IN_FORCE
    out = (await cli("history", "show", "6")).out
    assert f"  config    {IN_FORCE}\n" in out
    daemon.fake.syncs[6]["config_revision"] = None
    assert "  config " not in (await cli("history", "show", "6")).out


async def test_a_held_generator_is_shown_above_the_table(cli: Invoke, daemon: Served) -> None:
    daemon.fake.generator_rows = [
        {"name": "list-team", "revision": None, "apps": ["x"], "held": None},
        {
            "name": "teams",
            "revision": IN_FORCE,
            "apps": ["team-a", "team-b", "team-c"],
            "held": {"reason": "...", "removing": ["team-a", "team-b"], "of": 3},
        },
    ]
    lines = (await cli("status")).out.splitlines()
    assert lines[0] == (
        "generator teams held at 1a2b3c4: it would remove 2 of 3 apps (team-a, team-b); "
        "confirm with: fleet sync teams --confirm-prune"
    )
    assert lines[1] == ""
    assert lines[2].startswith("APP")
