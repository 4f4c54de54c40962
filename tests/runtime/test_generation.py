"""The daemon's generator state on a real repository: list, expand, hold, confirm, cache."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pygit2
import pytest

from fleet.adapters.git import Revision
from fleet.config import FleetConfig
from fleet.runtime.desired import DesiredStateBuilder
from fleet.runtime.generation import GeneratedApps
from tests.support.gitrepos import WorkRepo, init_bare


def config_for(url: str, **generator: Any) -> FleetConfig:
    return FleetConfig.model_validate(
        {
            "clusters": [{"name": "c1", "kubeconfig": "/dev/null", "labels": {"env": "dev"}}],
            "sources": [{"name": "platform", "url": url, "branch": "main"}],
            "generators": [
                {
                    "name": "teams",
                    "gitDirectories": {"source": "platform", "include": ["teams/*"]},
                    "template": {"name": "{path.basename}", "source": "platform", "path": "{path}"},
                    **generator,
                }
            ],
        }
    )


@pytest.fixture
def work(tmp_path: Path) -> WorkRepo:
    repo = WorkRepo(tmp_path / "work", init_bare(tmp_path / "platform.git"))
    for team in ("a", "b", "c"):
        repo.write(f"teams/{team}/cm.yaml", "kind: ConfigMap\n")
    repo.commit("three teams")
    repo.push()
    return repo


class Events:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    async def __call__(self, kind: str, message: str, *_: Any) -> None:
        self.seen.append((kind, message))


def test_expand_hold_confirm_and_reuse(work: WorkRepo, tmp_path: Path) -> None:
    config = config_for(work.origin.as_uri())
    events = Events()

    async def main() -> None:
        async with DesiredStateBuilder(config, tmp_path / "state") as builder:
            generated = GeneratedApps()

            async def expand() -> list[str]:
                revision: Revision = await builder.fetch(config.source("platform"))
                expanded, issues = await generated.expand(config, builder, {"platform": revision})
                await generated.report(expanded, issues, events)
                return [app.name for app in expanded.apps]

            assert await expand() == ["a", "b", "c"]
            assert await expand() == ["a", "b", "c"]  # same revision: the listing is reused
            assert events.seen == []

            for team in ("a", "b", "c"):
                work.remove(f"teams/{team}/cm.yaml")
            work.commit("no teams")
            work.push()
            assert await expand() == ["a", "b", "c"]  # held: nothing removed
            assert generated.held["teams"].startswith("generator teams would remove every app")
            [(kind, message)] = events.seen
            assert kind == "generator_held"
            assert "generators[0].pruneGuard" in message
            assert await expand() == ["a", "b", "c"]
            assert len(events.seen) == 1  # the same problem is reported once

            assert not generated.confirm("nope")
            assert generated.confirm("teams")
            assert await expand() == []  # confirmed: the removal goes ahead
            assert generated.held == {}
            work.write("teams/d/cm.yaml", "kind: ConfigMap\n")
            work.commit("team d")
            work.push()
            assert await expand() == ["d"]

    anyio.run(main)


def test_not_fetched_yet_keeps_nothing_and_a_cap_keeps_what_was(
    work: WorkRepo, tmp_path: Path
) -> None:
    config = config_for(work.origin.as_uri())
    capped = config_for(work.origin.as_uri(), maxApps=2)

    async def main() -> None:
        async with DesiredStateBuilder(config, tmp_path / "state") as builder:
            generated = GeneratedApps()
            expanded, issues = await generated.expand(config, builder, {})
            assert (expanded.apps, issues) == ([], [])
            revision = await builder.fetch(config.source("platform"))
            expanded, _ = await generated.expand(config, builder, {"platform": revision})
            assert len(expanded.apps) == 3
            expanded, issues = await generated.expand(capped, builder, {"platform": revision})
            assert [a.name for a in expanded.apps] == ["a", "b", "c"]  # kept, not removed
            assert "more than maxApps (2) directories match" in issues[0].message
            assert issues[0].path == ("generators", 0, "maxApps")

    anyio.run(main)


def hostile_repository(path: Path, folders: int) -> Path:
    """A bare repository whose ``teams/`` holds ``folders`` folders (one shared subtree)."""
    repo = pygit2.init_repository(str(path), bare=True, initial_head="main")
    blob = repo.create_blob(b"kind: ConfigMap\n")
    leaf = repo.TreeBuilder()
    leaf.insert("cm.yaml", blob, pygit2.enums.FileMode.BLOB)
    leaf_id = leaf.write()
    teams = repo.TreeBuilder()
    for i in range(folders):
        teams.insert(f"t{i}", leaf_id, pygit2.enums.FileMode.TREE)
    root = repo.TreeBuilder()
    root.insert("teams", teams.write(), pygit2.enums.FileMode.TREE)
    who = pygit2.Signature("Fleet Test", "fleet-test@example.com")
    repo.create_commit("refs/heads/main", who, who, "hostile", root.write(), [])
    return path


def test_a_glob_matching_100k_folders_is_refused_without_stalling_the_loop(
    tmp_path: Path,
) -> None:
    bare = hostile_repository(tmp_path / "hostile.git", 100_000)
    config = config_for(bare.as_uri())  # default maxApps: 500
    gaps: list[float] = []

    async def ticker() -> None:
        last = anyio.current_time()
        while True:
            await anyio.sleep(0.01)
            now = anyio.current_time()
            gaps.append(now - last)
            last = now

    async def main() -> tuple[list[str], list[str], float]:
        async with DesiredStateBuilder(config, tmp_path / "state") as builder:
            revision = await builder.fetch(config.source("platform"))
            async with anyio.create_task_group() as group:
                group.start_soon(ticker)
                started = anyio.current_time()
                expanded, issues = await GeneratedApps().expand(
                    config, builder, {"platform": revision}
                )
                took = anyio.current_time() - started
                group.cancel_scope.cancel()
        return [a.name for a in expanded.apps], [i.message for i in issues], took

    apps, messages, took = anyio.run(main)
    assert apps == []
    assert "more than maxApps (500) directories match" in messages[0]
    assert took < 5.0
    assert max(gaps) < 0.5  # the listing ran in a thread: the loop kept ticking


def test_issues_of_a_generator_in_an_included_file_point_into_it(tmp_path: Path) -> None:
    from fleet.config import load_fleet_config
    from fleet.config.expansion import GeneratorIssue
    from fleet.runtime.generation import located

    (tmp_path / "teams").mkdir()
    (tmp_path / "fleet.yaml").write_text(
        "include: [teams/gen.yaml]\n"
        "clusters: [{name: c1, kubeconfig: /dev/null}]\n"
        "sources: [{name: platform, url: 'https://git.example.com/p.git', branch: main}]\n"
    )
    (tmp_path / "teams" / "gen.yaml").write_text(
        "# the team's own file\ngenerators:\n"
        "  - name: teams\n"
        "    gitDirectories: {source: platform, include: ['teams/*']}\n"
        "    template: {name: '{path.basename}', source: platform, path: '{path}'}\n"
    )
    config = load_fleet_config(tmp_path / "fleet.yaml", files=False)
    [line] = located(config, [GeneratorIssue("teams", ("generators", 0, "gitDirectories"), "x")])
    assert line.startswith(f"{tmp_path / 'teams' / 'gen.yaml'}:4:"), line


def test_with_a_config_from_git_generated_apps_name_host_files_only_where_allowed(
    tmp_path: Path,
) -> None:
    """A list entry must not turn a template into a reader of /etc (config source)."""
    allowed = tmp_path / "creds"
    allowed.mkdir()
    (allowed / "db.env").write_text("A=1\n")
    elements = [{"n": "a", "dir": str(allowed)}, {"n": "b", "dir": "/etc"}]
    config = FleetConfig.model_validate(
        {
            "clusters": [{"name": "c1", "kubeconfig": "/dev/null"}],
            "sources": [
                {"name": "platform", "url": "https://git.example.com/p.git", "branch": "main"}
            ],
            "generators": [
                {
                    "name": "teams",
                    "list": elements,
                    "template": {
                        "name": "team-{params.n}",
                        "source": "platform",
                        "path": "teams",
                        "namespace": "team",
                        "secretRefs": [{"name": "db", "fromEnvFile": "{params.dir}/db.env"}],
                    },
                }
            ],
        }
    )

    async def main() -> tuple[list[str], list[str]]:
        generated = GeneratedApps()
        generated.credential_dirs = [allowed]
        async with DesiredStateBuilder(config, tmp_path / "state") as builder:
            expanded, issues = await generated.expand(config, builder, {})
        return [a.name for a in expanded.apps], [str(i) for i in issues]

    names, issues = anyio.run(main)
    assert names == ["team-a"], issues
    [issue] = issues
    assert issue.startswith("generators[0].template.secretRefs[0]: generator teams, app team-b:")
    assert "/etc/db.env is outside the directories" in issue


def test_the_state_is_stored_and_read_back_by_the_next_start(
    work: WorkRepo, tmp_path: Path
) -> None:
    from fleet.adapters.store import AsyncHistoryStore

    config = config_for(
        work.origin.as_uri(),
        template={
            "name": "{path.basename}",
            "source": "platform",
            "path": "{path}",
            "syncPolicy": {"automated": True, "timeouts": {"wave": "90s"}},
        },
    )

    async def main() -> None:
        async with (
            await AsyncHistoryStore.open(tmp_path / "h.sqlite3") as store,
            DesiredStateBuilder(config, tmp_path / "state") as builder,
        ):
            first = GeneratedApps()
            await first.load(store, config)
            assert first.restored(config).apps == []
            revision = await builder.fetch(config.source("platform"))
            expanded, _ = await first.expand(config, builder, {"platform": revision})

            # The next start: the same apps, equal to those made, before any listing.
            second = GeneratedApps()
            await second.load(store, config)
            assert second.restored(config).apps == expanded.apps
            assert second.revisions == {"teams": revision.sha}
            assert second.restored(config).app("a").sync_policy.timeouts.wave.total_seconds() == 90

            # Not listed yet at start, it keeps them; a source gone from the config: left out.
            kept, _ = await second.expand(config, builder, {})
            assert [a.name for a in kept.apps] == ["a", "b", "c"]
            moved = config.model_copy(
                update={"sources": [config.sources[0].model_copy(update={"name": "other"})]}
            )
            assert second.restored(moved).apps == []

    anyio.run(main)
