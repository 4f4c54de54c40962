"""The daemon's fleet-wide Lua health checks, kept current with the config and with Git.

The board is the ``custom_health`` callable every worker hands the engine. It holds the
checks in the order of the config's ``health`` section (inline scripts, then each
directory); a directory on the host is read when the config is (re)loaded, one in a
source when that source's poller finds a new commit, so a team that points fleet at its
fork of Argo CD's ``resource_customizations`` pinned to a tag gets the tag's scripts.

Until a source's directory has been read once, objects of kinds fleet has no built-in
rule for are Unknown ("waiting for ...", or why it could not be read: a directory
missing at that commit, say): judging a Rollout by the generic rule while its script is
on the way would let a wave move on too early. A directory that cannot be read later
keeps the scripts it had; a script that does not compile makes its objects Unknown with
the error, never falls through to another check.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from anyio import to_thread
from anyio.abc import TaskGroup

from fleet.adapters.git import GitError, Revision
from fleet.adapters.health.checks import LuaCheck, LuaHealthChecks
from fleet.adapters.health.loading import LoadedChecks, inline_checks, read_tree
from fleet.config import FleetConfig
from fleet.engine.health import BUILT_IN, HealthVerdict
from fleet.model.health import Health, HealthStatus
from fleet.model.refs import ObjectRef
from fleet.runtime.desired import DesiredStateBuilder
from fleet.runtime.sources import SourcePoller
from fleet.runtime.worker_context import EventSink, WorkerContext

log = logging.getLogger(__name__)


class HealthCheckBoard:
    """Callable as the engine's ``custom_health``; rebuilt as config and sources move."""

    def __init__(self, event: EventSink | None = None, inline: bool = True) -> None:
        #: Where problems go as ``health_checks_invalid`` events (a script that does not
        #: compile, a tree that cannot be read), besides the log.
        self._event = event
        self._config: FleetConfig | None = None
        #: Checks per position of the section: 0 is inline, i + 1 is luaDirectories[i].
        self._tiers: dict[int, list[LuaCheck]] = {}
        #: Sources whose directories have not been read yet.
        self._pending: set[str] = set()
        #: Why a pending source's directories could not be read, when they could not.
        self._unread: dict[str, str] = {}
        #: False in the daemon: calls read verdicts fleet.runtime.health_ready prepared
        #: in a worker thread and never run Lua on the event loop.
        self._checks = LuaHealthChecks((), inline=inline)

    @property
    def checks(self) -> LuaHealthChecks:
        return self._checks

    @property
    def config(self) -> FleetConfig | None:
        return self._config

    def configure(self, config: FleetConfig) -> list[str]:
        """Take a (re)loaded config: read inline scripts and host directories now (in a
        worker thread: it reads files); returns the problems found, one line each."""
        health = config.health
        previous = self._config.health if self._config is not None else None
        if previous is not None and previous == health:
            self._config = config  # same checks: keep what was read (sources included)
            return []
        label = str(config.file) if config.file is not None else "the fleet config"
        loaded: dict[int, LoadedChecks] = {0: inline_checks(health, label)}
        pending: set[str] = set()
        for index, directory in enumerate(health.lua_directories):
            if directory.source is None:
                loaded[index + 1] = read_tree(Path(directory.path))
                continue
            kept = previous is not None and any(d == directory for d in previous.lua_directories)
            old_index = (
                previous.lua_directories.index(directory) + 1
                if kept and previous is not None
                else None
            )
            if old_index is not None and old_index in self._tiers:
                loaded[index + 1] = LoadedChecks(list(self._tiers[old_index]))
            else:
                pending.add(directory.source)
        self._config = config
        self._tiers = {position: found.checks for position, found in loaded.items()}
        self._pending = pending
        self._unread = {k: v for k, v in self._unread.items() if k in pending}
        self._rebuild()
        return [problem for found in loaded.values() for problem in found.problems]

    def pending(self) -> set[str]:
        """Sources whose check directories have not been read yet."""
        return set(self._pending)

    def sources(self) -> set[str]:
        """Sources that hold check directories."""
        if self._config is None:
            return set()
        return {d.source for d in self._config.health.lua_directories if d.source is not None}

    async def source_moved(
        self, source: str, revision: Revision, builder: DesiredStateBuilder
    ) -> list[str]:
        """Read the source's check directories at ``revision``; problems, one line each."""
        if self._config is None or source not in self.sources():
            return []
        config = self._config
        problems: list[str] = []
        new_tiers = dict(self._tiers)
        try:
            async with builder.mirror(config.source(source)).lease_tree(revision.sha) as lease:
                for index, directory in enumerate(config.health.lua_directories):
                    if directory.source != source:
                        continue
                    label = f"source {source}@{revision.short_sha}:{directory.path}"
                    root = lease.path / directory.path
                    if not root.resolve().is_relative_to(lease.path.resolve()):
                        raise FileNotFoundError(f"{label}: a link out of the repository")
                    if not root.is_dir():
                        raise FileNotFoundError(f"{label}: no such directory")
                    found = await to_thread.run_sync(read_tree, root, label)
                    new_tiers[index + 1] = found.checks
                    problems += found.problems
        except (GitError, OSError) as error:
            problem = f"health checks of source {source} not read at {revision.short_sha}: {error}"
            log.warning("%s", problem)
            if self._config is config and source in self._pending:
                self._unread[source] = problem
            await self.report([problem], source)
            return [problem]
        if self._config is not config:
            return problems  # reloaded meanwhile: the new config reads its own
        self._tiers = new_tiers
        self._pending.discard(source)
        self._unread.pop(source, None)
        self._rebuild()
        for problem in problems:
            log.warning("health checks: %s", problem)
        await self.report(problems, source)
        log.info(
            "health checks of source %s read at %s (%d scripts)",
            source,
            revision.short_sha,
            sum(len(new_tiers.get(i + 1, [])) for i, _ in enumerate(config.health.lua_directories)),
        )
        return problems

    async def report(self, problems: list[str], source: str | None = None) -> None:
        """One ``health_checks_invalid`` event for the problems of one load, if any."""
        if problems and self._event is not None:
            details = {"source": source} if source is not None else {}
            await self._event(
                "health_checks_invalid", "; ".join(problems)[:4000], None, None, details
            )

    def _rebuild(self) -> None:
        ordered = [self._tiers.get(position, []) for position in sorted(self._tiers)]
        self._checks = self._checks.with_tiers(ordered)

    def __call__(self, obj: Mapping[str, Any]) -> HealthVerdict | None:
        verdict = self._checks(obj)
        if verdict is not None or not self._pending:
            return verdict
        ref = ObjectRef.of(dict(obj))
        if (ref.group, ref.kind) in BUILT_IN:
            return None
        waiting = ", ".join(sorted(self._pending))
        message = "; ".join(self._unread[s] for s in sorted(self._unread)) or (
            f"waiting for the health checks of source {waiting}"
        )
        return HealthVerdict(
            Health(HealthStatus.UNKNOWN, message),
            f"Lua directories of source {waiting} (not read yet)",
        )


async def configure_health_checks(
    ctx: WorkerContext, config: FleetConfig, pollers: Mapping[str, SourcePoller], tasks: TaskGroup
) -> None:
    """Give the workers' context a board for ``config`` (built once, then reconfigured);
    directories in sources already fetched are read at once, in the background."""
    board = ctx.health_checks
    if not isinstance(board, HealthCheckBoard):
        board = HealthCheckBoard(ctx.event, inline=False)
        ctx.health_checks = board
    problems = await to_thread.run_sync(board.configure, config)
    for problem in problems:
        log.warning("health checks: %s", problem)
    await board.report(problems)
    for name in board.pending():
        poller = pollers.get(name)
        if poller is not None and poller.revision is not None:
            tasks.start_soon(board.source_moved, name, poller.revision, ctx.builder)


async def read_source_checks(board: HealthCheckBoard, builder: DesiredStateBuilder) -> list[str]:
    """Fetch every source whose directories ``board`` still waits for and read them (for
    the commands that judge health without a daemon); the problems, one line each."""
    config = board.config
    problems: list[str] = []
    if config is None:
        return problems
    for name in sorted(board.pending()):
        try:
            revision = await builder.fetch(config.source(name))
        except GitError as error:
            problems.append(f"source {name}: health checks not fetched: {error}")
            continue
        problems += await board.source_moved(name, revision, builder)
    return problems


def health_source_moved(
    ctx: WorkerContext, source: str, revision: Revision, tasks: TaskGroup
) -> None:
    """A source moved: read its check directories again, if it holds any."""
    board = ctx.health_checks
    if isinstance(board, HealthCheckBoard) and source in board.sources():
        tasks.start_soon(board.source_moved, source, revision, ctx.builder)
