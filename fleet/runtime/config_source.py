"""The fleet config from Git: fetch it, check it fully, and only then put it in force.

With ``config_source`` in the settings, the daemon's clusters and apps come from a Git
repository instead of a local file. :class:`ConfigSourceWatcher` polls it like any
source (and a push webhook naming its repository wakes it): a new commit is fetched
(with the source's signature verification: an unsigned or untrusted commit is refused
and named), exported to a checkout of its own under ``state_dir/config-source``, and
loaded with the same loader and checks as a SIGHUP reload (``include:`` cannot leave the
checkout). A config that passes is handed to the reload machinery, which rebuilds only
what changed; one that fails never replaces the running config: the refusal is logged,
recorded as a ``config_rejected`` event (which notifications can route), counted in
``fleet_config_source_errors_total``, and shown with file:line:col in ``fleet status``
until a later commit is taken. A rejected commit is not checked again at every poll; the
next commit is (SIGHUP checks the same commit again, for a host file that was missing).

The checkout of the config in force stays on disk, reached through the symbolic link
``state_dir/config-source/current``: relative paths in the config (a kubeconfig
committed next to it) point through that link, so they stay the same from one commit to
the next and the reload rebuilds only what the commit changed. Older checkouts are
removed.

At startup the first fetch happens before anything is built. If it fails or the config
is refused, the daemon still starts, with an empty fleet (nothing synced, nothing
pruned, history kept), reports why on ``/readyz``, in status and in the log, and
retries at each poll, instead of exiting into a restart loop.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio

from fleet.adapters.git import AsyncGitMirror, GitError, Revision, UntrustedCommit, redact_url
from fleet.adapters.git.specs import GitTimeouts
from fleet.adapters.health.validation import refuse_uncompilable_lua
from fleet.adapters.telemetry.config_metrics import ConfigMetrics
from fleet.config import ConfigError, ConfigIssue, FleetConfig, Settings, load_fleet_config
from fleet.config.config_source import ConfigSource
from fleet.config.host_files import named_files, outside
from fleet.config.includes import MAX_FILE_BYTES
from fleet.config.loader import config_document
from fleet.runtime.desired import git_spec, git_timeouts
from fleet.runtime.worker_context import EventSink, about

log = logging.getLogger(__name__)

#: Puts a checked config in force (the daemon's reload machinery).
ApplyConfig = Callable[[FleetConfig, dict[str, Any]], Awaitable[None]]
#: How many issues an event and the status keep of one refused config.
_KEPT_ISSUES = 50


@dataclass
class ConfigRefusal:
    """Why the newest config was not put in force."""

    revision: str | None  # the refused commit (None: a local file, or nothing fetched)
    reason: str  # invalid, untrusted or fetch
    message: str
    issues: list[ConfigIssue] = field(default_factory=list)
    at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def as_json(self) -> dict[str, Any]:
        return {
            "revision": self.revision,
            "reason": self.reason,
            "message": self.message,
            "issues": [issue.as_dict() for issue in self.issues[:_KEPT_ISSUES]],
            "at": self.at.isoformat(),
        }


class ConfigState:
    """Which fleet config is in force and where from; the newest refusal, if any.

    Read by ``GET /api/v1/config`` and the header of ``fleet status``."""

    def __init__(
        self, file: Path | None, source: ConfigSource | None, metrics: ConfigMetrics
    ) -> None:
        self.file = file
        self.source = source
        self.metrics = metrics
        #: The commit in force (config source only).
        self.revision: Revision | None = None
        self.loaded_at: datetime | None = None
        self.refusal: ConfigRefusal | None = None
        #: The newest fetch error of the config source (cleared by a good fetch).
        self.fetch_error: str | None = None

    @property
    def revision_sha(self) -> str | None:
        return self.revision.sha if self.revision is not None else None

    @property
    def loaded(self) -> bool:
        """A config is in force (always, for a local file: the daemon started with it)."""
        return self.source is None or self.revision is not None

    def accepted(self, revision: Revision | None) -> None:
        self.revision = revision
        self.loaded_at = datetime.now(UTC)
        self.refusal = None
        self.metrics.rejected.set(0)

    def refused(
        self,
        revision: str | None,
        issues: Sequence[ConfigIssue],
        *,
        reason: str = "invalid",
        message: str = "",
    ) -> ConfigRefusal:
        errors = [issue for issue in issues if issue.severity == "error"] or list(issues)
        text = message or "; ".join(str(issue) for issue in errors)
        self.refusal = ConfigRefusal(revision, reason, text, errors)
        self.metrics.rejected.set(1)
        if self.source is not None:
            self.metrics.errors.labels(reason).inc()
        return self.refusal

    def as_json(self) -> dict[str, Any]:
        source = self.source
        revision = self.revision
        return {
            "file": str(self.file) if self.file is not None else None,
            "source": None
            if source is None
            else {
                "url": redact_url(source.url),
                "ref": source.branch or source.tag,
                "ref_kind": source.ref_kind,
                "path": source.path,
            },
            "revision": revision.sha if revision is not None else None,
            "summary": revision.summary if revision is not None else None,
            "signed_by": revision.signed_by if revision is not None else None,
            "loaded_at": self.loaded_at.isoformat() if self.loaded_at else None,
            "rejected": self.refusal.as_json() if self.refusal is not None else None,
            "fetch_error": self.fetch_error,
        }


class ConfigSourceWatcher:
    """Polls the config source; puts each new valid commit in force (module docstring)."""

    def __init__(
        self,
        source: ConfigSource,
        state_dir: Path,
        timeouts: GitTimeouts,
        interval: float,
        state: ConfigState,
        event: EventSink,
    ) -> None:
        self.source = source
        self.home = state_dir / "config-source"
        self.state_dir = state_dir
        self.timeouts = timeouts
        self.interval = interval
        self.state = state
        self.event = event
        self.apply: ApplyConfig | None = None
        self._mirror: AsyncGitMirror | None = None
        #: The newest commit checked (taken or refused): not checked again unless poked.
        self._checked: str | None = None
        #: The checkout of the config in force, and of the one being put in force.
        self._checkout: Path | None = None
        self._candidate: Path | None = None
        self._revalidate = False
        self._poke = anyio.Event()

    @property
    def url(self) -> str:
        return self.source.url

    def poke(self, *, revalidate: bool = False) -> None:
        """Fetch now (a push webhook, or SIGHUP, which also checks the same commit again)."""
        self._revalidate = self._revalidate or revalidate
        self._poke.set()

    async def first_config(self) -> FleetConfig:
        """The config to start with: the source's, or an empty fleet if it cannot be had."""
        found = await self._next_config()
        if found is None:
            log.error(
                "no fleet config from %s yet: starting with an empty fleet and retrying every %ss",
                redact_url(self.url),
                self.interval,
            )
            return FleetConfig()
        config, revision = found
        self._taken(revision)
        return config

    async def run(self) -> None:
        while True:
            with anyio.move_on_after(self.interval):
                await self._poke.wait()
            self._poke = anyio.Event()
            try:
                found = await self._next_config()
            except Exception:  # a bug must not stop the daemon: the config in force runs on
                log.exception("config source check failed; trying again at the next poll")
                continue
            if found is None:
                continue
            config, revision = found
            assert self.apply is not None
            await self.apply(config, {"source": redact_url(self.url), **about(revision)})
            self._taken(revision)

    # -- one round ---------------------------------------------------------------------

    async def _next_config(self) -> tuple[FleetConfig, Revision] | None:
        """Fetch; a new commit's config if it is trusted and valid, else None (reported)."""
        revalidate, self._revalidate = self._revalidate, False
        try:
            mirror = self._open_mirror()
            revision = await mirror.fetch()
        except UntrustedCommit as error:
            self.state.fetch_error = None
            if error.sha != self._checked or revalidate:
                self._checked = error.sha
                await self._refuse(error.sha, [], "untrusted", str(error))
            return None
        except (GitError, OSError) as error:  # OSError: the state directory itself
            await self._fetch_failed(str(error))
            return None
        self.state.fetch_error = None
        if revision.sha == self._checked and not revalidate:
            return None
        try:
            checkout = await self._export(mirror, revision)
        except (GitError, OSError) as error:  # tried again at the next poll
            await self._fetch_failed(f"cannot export commit {revision.short_sha}: {error}")
            return None
        self._checked = revision.sha
        try:
            await anyio.to_thread.run_sync(self._load, checkout)
            config = await anyio.to_thread.run_sync(self._load_in_place, checkout)
        except ConfigError as error:
            if self._checkout is not None:
                await anyio.to_thread.run_sync(self._point_current_at, self._checkout)
            await anyio.to_thread.run_sync(_remove, checkout)
            await self._refuse(revision.sha, error.errors, "invalid", "")
            return None
        self._candidate = checkout
        return config, revision

    def _open_mirror(self) -> AsyncGitMirror:
        if self._mirror is None:
            # Trusted keys are read here: a missing key file is a fetch error, reported.
            spec = git_spec(self.source)
            self._mirror = AsyncGitMirror.open(spec, self.home, self.timeouts)
        return self._mirror

    async def _export(self, mirror: AsyncGitMirror, revision: Revision) -> Path:
        checkout = self.home / "checkouts" / f"{revision.sha[:12]}-{secrets.token_hex(4)}"
        checkout.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        return await mirror.export_tree(revision.sha, checkout)

    def _load(self, checkout: Path) -> FleetConfig:
        path = self.source.path
        main = checkout / path
        # The rules of included files hold for the main one: in the checkout, bounded.
        if not main.resolve().is_relative_to(checkout.resolve()):
            raise ConfigError([ConfigIssue(path, 0, 0, (), "leads outside the repository")])
        if main.is_file() and main.stat().st_size > MAX_FILE_BYTES:
            limit = MAX_FILE_BYTES // (1024 * 1024)
            raise ConfigError([ConfigIssue(path, 0, 0, (), f"larger than {limit} MiB")])
        config = load_fleet_config(main, root=checkout, name=path)
        # Host files only from the checkout and the directories the settings allow.
        allowed = [checkout, *self.source.allowed_dirs(self.state_dir)]
        findings = outside(named_files(config), allowed)
        if findings:
            document = config_document(config)
            assert document is not None
            raise ConfigError([document.issue(f.path, f.message) for f in findings])
        return refuse_uncompilable_lua(config)

    def _load_in_place(self, checkout: Path) -> FleetConfig:
        """The checked config loaded again through ``current`` (now pointing at it), so
        the file paths in it are the same from one commit to the next: a cluster whose
        kubeconfig is in the repository is not reconnected when another line changed."""
        self._point_current_at(checkout)
        return self._load(self.home / "current")

    def _point_current_at(self, checkout: Path) -> None:
        link = self.home / f".current-{secrets.token_hex(4)}"
        link.symlink_to(checkout)
        os.replace(link, self.home / "current")  # atomic: never a moment without one

    def _taken(self, revision: Revision) -> None:
        """``revision`` is in force: record it, and drop the other checkouts."""
        self.state.accepted(revision)
        self._checkout = self._candidate
        log.info(
            "fleet config in force: %s at %s (%s)",
            redact_url(self.url),
            revision.short_sha,
            revision.summary,
        )
        checkouts = self.home / "checkouts"
        for entry in checkouts.iterdir() if checkouts.is_dir() else ():
            if entry != self._checkout:
                _remove(entry)

    # -- reporting ---------------------------------------------------------------------

    async def _refuse(
        self, sha: str, issues: Sequence[ConfigIssue], reason: str, message: str
    ) -> None:
        refusal = self.state.refused(sha, issues, reason=reason, message=message)
        running = self.state.revision
        keeping = (
            f"keeping {running.short_sha}" if running is not None else "no config in force yet"
        )
        log.error(
            "fleet config commit %s refused (%s), %s:\n  %s",
            sha[:12],
            reason,
            keeping,
            "\n  ".join(str(i) for i in refusal.issues) or refusal.message,
        )
        await self.event(
            "config_rejected",
            f"config commit {sha[:12]} refused: {refusal.message}"[:4000],
            None,
            None,
            {
                "source": redact_url(self.url),
                "revision": sha,
                "reason": reason,
                "issues": [issue.as_dict() for issue in refusal.issues[:_KEPT_ISSUES]],
            },
        )

    async def _fetch_failed(self, message: str) -> None:
        self.state.metrics.errors.labels("fetch").inc()
        if message == self.state.fetch_error:
            return  # logged and recorded once per distinct error
        self.state.fetch_error = message
        log.warning("config source %s: %s", redact_url(self.url), message)
        await self.event("source_failed", message, None, None, {"source": self.source.name})

    async def aclose(self) -> None:
        if self._mirror is not None:
            await self._mirror.aclose()


def config_watcher_for(
    settings: Settings, state: ConfigState, event: EventSink
) -> ConfigSourceWatcher | None:
    """The watcher of ``settings.config_source``, or None for a local config file."""
    source = settings.config_source
    if source is None:
        return None
    return ConfigSourceWatcher(
        source,
        settings.state_dir,
        git_timeouts(settings),
        source.interval_or(settings.poll_interval).total_seconds(),
        state,
        event,
    )


def _remove(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
