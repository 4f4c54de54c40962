"""``fleet validate --expand``: the apps a config's generators make, as the daemon would.

Each Git-directory generator's source is fetched (into the command's cache directory,
as ``--render`` does) and listed at its current revision; list generators need no
fetch. The expanded config is what ``--render`` then renders, so a generated app is
checked like a written one. Every generator problem is printed with its file, line,
column and field, and makes the exit code 1.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from fleet.adapters.git import Revision
    from fleet.config import FleetConfig, Settings


@dataclass
class Expansion:
    """What the generators made, and what went wrong."""

    config: FleetConfig
    #: generator -> the apps it made (names, in order)
    apps: dict[str, list[str]] = field(default_factory=dict)
    #: generator problems, as file:line:col lines
    problems: list[str] = field(default_factory=list)
    revisions: dict[str, Revision] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        return bool(self.problems)


def expand_config(config: FleetConfig, args: argparse.Namespace, settings: Settings) -> Expansion:
    """Fetch the generators' sources and expand; never raises for a Git failure."""
    import anyio

    from fleet.adapters.git import GitError
    from fleet.cli.validate import state_dir
    from fleet.runtime.desired import DesiredStateBuilder, git_timeouts
    from fleet.runtime.generation import GeneratedApps, located

    async def expand() -> Expansion:
        async with DesiredStateBuilder(
            config, state_dir(args, settings), timeouts=git_timeouts(settings)
        ) as builder:
            revisions: dict[str, Revision] = {}
            problems: list[str] = []
            for name in sorted({g.source for g in config.generators if g.source is not None}):
                try:
                    revisions[name] = await builder.fetch(config.source(name))
                except GitError as error:
                    problems.append(f"source {name}: {error.detail}")
            generated = GeneratedApps()
            expanded, issues = await generated.expand(config, builder, revisions)
        result = Expansion(expanded, problems=problems + located(config, issues))
        result.revisions = revisions
        result.apps = {name: list(apps) for name, apps in generated.previous.items()}
        return result

    return anyio.run(expand)


def print_expansion(expansion: Expansion, out: TextIO) -> None:
    config = expansion.config
    for line in expansion.problems:
        print(line, file=out)
    for generator in config.generators:
        names = expansion.apps.get(generator.name, [])
        where = ""
        if generator.source is not None:
            revision = expansion.revisions.get(generator.source)
            where = f" ({generator.source}@{revision.short_sha if revision else 'not fetched'})"
        count = f"{len(names)} app{'' if len(names) == 1 else 's'}"
        print(f"generator {generator.name}{where}: {count}", file=out)
        for name in names:
            app = config.app(name)
            targets = ", ".join(c.name for c in config.targets(app)) or "no cluster"
            print(f"  {name}: {app.path} -> {targets}", file=out)


def expansion_json(expansion: Expansion) -> dict[str, Any]:
    config = expansion.config
    return {
        "generated": [
            {
                "generator": generator,
                "app": name,
                "path": config.app(name).path,
                "clusters": [c.name for c in config.targets(config.app(name))],
            }
            for generator, names in expansion.apps.items()
            for name in names
        ],
        "generatorProblems": expansion.problems,
    }
