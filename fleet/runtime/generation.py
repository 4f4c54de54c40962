"""App generators in the daemon: list each generator's source, expand, remember, hold.

Generated apps are apps: the config the daemon builds from is the written config with
every generator's apps added (fleet.config.expansion), computed before the first build,
on every config reload (SIGHUP or a config source commit) and whenever a generator's
source moves to a new revision. Each time only what changed is rebuilt (the assembly
compares apps by value), so a new directory adds one app, a removed one removes one app
following its deletion policy, and the rest keeps running.

A Git-directory generator is listed from its source's mirror at the revision the poller
fetched, reading folder trees only, in a worker thread, bounded by its ``maxApps`` and
the listing's own limits (fleet.adapters.git.listing). Until its source has been
fetched once, a generator has no listing: it keeps whatever it had (nothing at start).

The state kept between expansions is what each generator made last time: a failed
generator keeps it, a broken entry keeps its app, and the prune guard compares with it.
A held generator stays held (its apps kept, an event saying why) until
``fleet sync GENERATOR --confirm-prune`` confirms the removal; one confirmation allows
the removal it was given for, and the next drop is guarded again. The apps the held
removal would delete are held too (fleet.runtime.holds): they wait, they do not fail.

That state is kept in SQLite (fleet.adapters.store.generators) whenever it changes, and
read back at start: the daemon first runs what the generators made last time, then
expands again, so an app whose folder vanished while it was down leaves by its deletion
policy, through the same prune guard, as if the daemon had been running.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
from pydantic import ValidationError

from fleet.adapters.git import GitError, Revision
from fleet.adapters.store import AsyncHistoryStore
from fleet.adapters.store.generators import GeneratorRecord
from fleet.adapters.store.records import StoreError
from fleet.config import App, FleetConfig
from fleet.config.expansion import (
    Expanded,
    GeneratorIssue,
    Merged,
    expand_generator,
    merge,
)
from fleet.config.generator_checks import check_generated
from fleet.config.generators import Generator
from fleet.config.host_files import app_files, outside
from fleet.config.issues import ConfigError
from fleet.config.loader import config_document
from fleet.runtime.desired import DesiredStateBuilder

log = logging.getLogger(__name__)

#: (kind, message, app, cluster, details): the daemon's event recorder.
EventSink = Callable[[str, str, str | None, str | None, Mapping[str, Any]], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class _Listed:
    """One generator's expansion, and what it was computed from (to reuse it)."""

    generator: Generator
    #: Its place in the config (issues name it) and the revision listed.
    key: tuple[int, str]
    expanded: Expanded


class GeneratedApps:
    """What the daemon's generators made, and the state the next expansion needs."""

    def __init__(self) -> None:
        #: Each generator's apps as last applied (the prune guard compares with them).
        self.previous: dict[str, dict[str, App]] = {}
        #: Generators held by their prune guard: name -> why.
        self.held: dict[str, str] = {}
        #: Issues of the last expansion, by generator (events are sent when they change).
        self.issues: dict[str, list[str]] = {}
        #: Held while the daemon builds, so a rebuild for generators never overlaps another.
        self.lock = anyio.Lock()
        self._expanding = anyio.Lock()
        #: The config as written (without generated apps): what expansions start from.
        self.written: FleetConfig | None = None
        #: Asks the daemon to expand and rebuild now (set by the daemon).
        self.wake: Callable[[], object] | None = None
        self._confirmed: set[str] = set()
        self._listed: dict[str, _Listed] = {}
        #: A held generator's apps its removal would delete, and how many apps it had.
        self.removing: dict[str, tuple[list[str], int]] = {}
        #: The source commit each Git-directory generator was last expanded at.
        self.revisions: dict[str, str] = {}
        #: Each generated app's template as filled in: what is stored to rebuild it.
        self.entries: dict[str, dict[str, dict[str, Any]]] = {}
        #: Where the state is kept across restarts (set by the daemon; None in the CLI).
        self.store: AsyncHistoryStore | None = None
        #: With a config from Git: the host directories (besides its checkout) generated
        #: apps may name files in (fleet.config.host_files); None: any.
        self.credential_dirs: list[Path] | None = None
        self._saved: object = None

    # -- state kept across restarts ----------------------------------------------------

    async def load(self, store: AsyncHistoryStore, written: FleetConfig) -> None:
        """Read what the generators made before the last stop (see the module)."""
        self.store = store
        records = await store.generator_states()
        context = _context(written)
        for name, record in records.items():
            apps: dict[str, App] = {}
            for app_name, spec in record.apps.items():
                try:
                    apps[app_name] = App.model_validate(dict(spec), context=dict(context))
                except ValidationError as error:
                    log.error(
                        "generator %s: the stored app %s cannot be read back (%s): it is "
                        "forgotten, its objects stay on the clusters",
                        name,
                        app_name,
                        error.errors()[0]["msg"] if error.errors() else error,
                    )
                    continue
                self.entries.setdefault(name, {})[app_name] = dict(spec)
            self.previous[name] = apps
            if record.revision is not None:
                self.revisions[name] = record.revision
            if record.held is not None:
                self.held[name] = record.held
                self.removing[name] = (list(record.removing), len(record.apps))
        self._saved = self._snapshot()
        if records:
            log.info(
                "generators: %d apps of %d generators as they were at the last stop",
                sum(len(apps) for apps in self.previous.values()),
                len(records),
            )

    def restored(self, written: FleetConfig) -> FleetConfig:
        """``written`` with the apps the generators made last time, listed again later.

        An app whose source or project the config no longer has, or whose name a written
        app now has, is left out (it could not be built).
        """
        taken = {app.name for app in written.apps}
        sources = {source.name for source in written.sources}
        projects = {project.name for project in written.projects}
        apps = list(written.apps)
        for generator, mine in self.previous.items():
            for name, app in mine.items():
                gone = app.source not in sources or not set(app.values_sources()) <= sources
                if (
                    name in taken
                    or gone
                    or (app.project is not None and app.project not in projects)
                ):
                    log.warning(
                        "generator %s: app %s from the last run is not started again "
                        "(its name, source or project changed in the config)",
                        generator,
                        name,
                    )
                    continue
                taken.add(name)
                apps.append(app)
        self.written = written
        return _with_apps(written, apps)

    def _snapshot(self) -> object:
        return (
            dict(self.entries),
            dict(self.revisions),
            dict(self.held),
            dict(self.removing),
        )

    async def _save(self) -> None:
        snapshot = self._snapshot()
        if self.store is None or snapshot == self._saved:
            return
        records = {
            name: GeneratorRecord(
                name,
                self.revisions.get(name),
                self.entries.get(name, {}),
                self.held.get(name),
                tuple(self.removing.get(name, ([], 0))[0]),
            )
            for name in self.previous
        }
        try:
            await self.store.save_generators(records)
        except StoreError as error:
            log.error("generators: their state could not be stored: %s", error)
            return
        self._saved = snapshot

    # -- holds -------------------------------------------------------------------------

    def hold_reasons(self) -> dict[str, tuple[str, str]]:
        """app -> (generator, why) for each app a held removal would delete."""
        out: dict[str, tuple[str, str]] = {}
        for generator, (apps, total) in self.removing.items():
            if generator not in self.held:
                continue
            why = (
                f"held: generator {generator} would remove {len(apps)} of {total} apps; "
                f"confirm with fleet sync {generator} --confirm-prune"
            )
            for app in apps:
                out[app] = (generator, why)
        return out

    def as_json(self, config: FleetConfig | None) -> list[dict[str, Any]]:
        """``GET /api/v1/generators``: each generator, its revision, apps and hold."""
        generators = config.generators if config is not None else []
        out = []
        for generator in generators:
            name = generator.name
            removing, total = self.removing.get(name, ([], 0))
            held = self.held.get(name)
            out.append(
                {
                    "name": name,
                    "kind": "gitDirectories" if generator.git_directories else "list",
                    "source": generator.source,
                    "revision": self.revisions.get(name),
                    "apps": sorted(self.previous.get(name, {})),
                    "held": (
                        {"reason": held, "removing": removing, "of": total}
                        if held is not None
                        else None
                    ),
                    "issues": list(self.issues.get(name, [])),
                }
            )
        return out

    def uses(self, config: FleetConfig, source: str) -> bool:
        """Whether a generator of ``config`` lists ``source``."""
        return any(g.source == source for g in config.generators)

    def confirm(self, name: str) -> bool:
        """A human confirmed the removal generator ``name`` is held for; False if none."""
        if name not in self.held:
            return False
        self._confirmed.add(name)
        if self.wake is not None:
            self.wake()
        return True

    async def expand(
        self,
        written: FleetConfig,
        builder: DesiredStateBuilder,
        revisions: Mapping[str, Revision],
    ) -> tuple[FleetConfig, list[GeneratorIssue]]:
        """The config to run: ``written`` with every generator's apps (see the module)."""
        if not written.generators and not self.previous:
            return written, []
        async with self._expanding:  # one at a time: each starts from the last one's state
            return await self._expand(written, builder, revisions)

    async def _expand(
        self,
        written: FleetConfig,
        builder: DesiredStateBuilder,
        revisions: Mapping[str, Revision],
    ) -> tuple[FleetConfig, list[GeneratorIssue]]:
        context = _context(written)
        expanded: dict[str, Expanded] = {}
        for index, generator in enumerate(written.generators):
            found = await self._expand_one(generator, index, written, builder, revisions, context)
            if found is not None:
                expanded[generator.name] = found
        confirmed = frozenset(self._confirmed)
        merged = merge(written.apps, written.generators, expanded, self.previous, confirmed)
        check_generated(merged, written, self.previous)
        if self.credential_dirs is not None:
            _confine(merged, written, self.previous, self.credential_dirs)
        self._confirmed -= confirmed & expanded.keys()  # used only once listed
        names = {g.name for g in written.generators}
        self._listed = {k: v for k, v in self._listed.items() if k in names}
        self.entries = _entries_of(merged.generated, expanded, self.entries)
        for name in names - expanded.keys():  # not listed yet (at start): still held
            if name in self.held:
                merged.held[name] = self.held[name]
                merged.removing[name] = self.removing.get(name, ([], 0))
        self.previous = merged.generated
        self.held = merged.held
        self.removing = merged.removing
        self.revisions = {g: r for g, r in self.revisions.items() if g in names}
        for name, listed in self._listed.items():
            if listed.generator.name in expanded and not expanded[name].failed:
                self.revisions[name] = listed.key[1]
        await self._save()
        return _with_apps(written, merged.apps), merged.issues

    async def _expand_one(
        self,
        generator: Generator,
        index: int,
        written: FleetConfig,
        builder: DesiredStateBuilder,
        revisions: Mapping[str, Revision],
        context: Mapping[str, Any],
    ) -> Expanded | None:
        if generator.elements is not None:
            return expand_generator(generator, index, None, context)
        spec = generator.git_directories
        assert spec is not None
        revision = revisions.get(spec.source)
        if revision is None:
            return None  # not fetched yet: the generator keeps what it had
        known = self._listed.get(generator.name)
        key = (index, revision.sha)
        if known is not None and known.generator == generator and known.key == key:
            return known.expanded
        found = await self._list(generator, index, written, builder, revision, context)
        self._listed[generator.name] = _Listed(generator, key, found)
        return found

    async def _list(
        self,
        generator: Generator,
        index: int,
        written: FleetConfig,
        builder: DesiredStateBuilder,
        revision: Revision,
        context: Mapping[str, Any],
    ) -> Expanded:
        spec = generator.git_directories
        assert spec is not None
        plan = spec.plan()
        try:
            mirror = builder.mirror(written.source(spec.source))
            listing = await mirror.list_directories(
                revision.sha, plan.roots, plan.depth, spec.matches, generator.max_apps
            )
        except GitError as error:
            return _failed(generator, index, "gitDirectories", f"cannot list: {error.detail}")
        if listing.too_large:
            return _failed(
                generator,
                index,
                "gitDirectories",
                f"the tree under {', '.join(r or '/' for r in plan.roots)} at "
                f"{revision.short_sha} has too many folders to list; narrow include",
            )
        if listing.over_limit:
            return _failed(
                generator,
                index,
                "maxApps",
                f"more than maxApps ({generator.max_apps}) directories match at "
                f"{revision.short_sha}",
            )
        return expand_generator(generator, index, listing.directories, context)

    async def report(
        self, config: FleetConfig, issues: list[GeneratorIssue], event: EventSink
    ) -> None:
        """Log and record each generator's issues once, when they change."""
        by: dict[str, list[GeneratorIssue]] = {}
        for issue in issues:
            by.setdefault(issue.generator, []).append(issue)
        for generator in config.generators:
            lines = located(config, by.get(generator.name, []))
            if lines == self.issues.get(generator.name, []):
                continue
            self.issues[generator.name] = lines
            if not lines:
                log.info("generator %s: no more problems", generator.name)
                continue
            held = generator.name in self.held
            kind = "generator_held" if held else "generator_failed"
            log.error("generator %s:\n  %s", generator.name, "\n  ".join(lines))
            details = {"generator": generator.name, "issues": lines[:50]}
            await event(kind, "; ".join(lines)[:4000], None, None, details)


def _confine(
    merged: Merged,
    written: FleetConfig,
    previous: Mapping[str, Mapping[str, App]],
    credential_dirs: list[Path],
) -> None:
    """Refuse generated apps naming host files outside the checkout and the allowed
    directories (a template filled in with a folder's name must not reach /etc): each
    keeps what it was before, if it was, and its finding joins the issues."""
    allowed = [*([written._root] if written._root is not None else []), *credential_dirs]
    refused = False
    for index, generator in enumerate(written.generators):
        mine = merged.generated.get(generator.name, {})
        for name, app in list(mine.items()):
            at = ("generators", index, "template")
            findings = outside(app_files(written, app, at), allowed)
            if not findings:
                continue
            merged.issues += [
                GeneratorIssue(
                    generator.name, f.path, f"generator {generator.name}, app {name}: {f.message}"
                )
                for f in findings
            ]
            before = previous.get(generator.name, {}).get(name)
            if before is not None and before is not app:
                mine[name] = before
            else:
                del mine[name]
            refused = True
    if refused:
        generated = [
            a for g in written.generators for a in merged.generated.get(g.name, {}).values()
        ]
        merged.apps = [*written.apps, *generated]


def _context(written: FleetConfig) -> dict[str, Any]:
    """What an app entry is validated with: relative paths are from the config's folder."""
    return {"base_dir": written.file.parent} if written.file is not None else {}


def _with_apps(written: FleetConfig, apps: list[App]) -> FleetConfig:
    config = written.model_copy(update={"apps": apps})
    config._file = written.file
    config._warnings = written.warnings
    config._root, config._name = written._root, written._name
    return config


def _entries_of(
    generated: Mapping[str, Mapping[str, App]],
    expanded: Mapping[str, Expanded],
    before: Mapping[str, Mapping[str, dict[str, Any]]],
) -> dict[str, dict[str, dict[str, Any]]]:
    """The filled-in template of every app now generated: the new one when the app is the
    one just expanded, else the one it was kept from."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for generator, apps in generated.items():
        found = expanded.get(generator)
        mine: dict[str, dict[str, Any]] = {}
        for name, app in apps.items():
            if found is not None and found.apps.get(name) is app and name in found.entries:
                mine[name] = found.entries[name]
            elif name in before.get(generator, {}):
                mine[name] = before[generator][name]
        out[generator] = mine
    return out


def _failed(generator: Generator, index: int, field: str, detail: str) -> Expanded:
    message = f"generator {generator.name}: {detail}; it keeps the apps it had"
    return Expanded(
        generator.name,
        issues=[GeneratorIssue(generator.name, ("generators", index, field), message)],
        failed=True,
    )


def located(config: FleetConfig, issues: list[GeneratorIssue]) -> list[str]:
    """The issues as ``file:line:col: generators[i].field: message`` lines."""
    document = _document(config) if issues else None
    return [
        str(document.issue(i.path, i.message)) if document is not None else str(i) for i in issues
    ]


def _document(config: FleetConfig) -> Any:
    try:
        return config_document(config)  # includes merged: a generator may be in one
    except (ConfigError, OSError):
        return None
