"""Desired state: a fleet config, Git and the renderers turned into objects per app x cluster.

This is the one place that maps the config's types onto the adapters' (a config
``Source`` onto a :class:`GitSourceSpec`, an app and a cluster onto a
:class:`RenderRequest`), so the adapters never depend on the config schema and the
config never does I/O. ``fleet validate --render``, ``fleet render`` and the daemon use
it alike.

A render is keyed by the commit's root tree id, so clusters (and commits) that share an
overlay and values are rendered once (see fleet.adapters.render).

The builder also remembers which exported trees are still wanted (each source's latest
fetch, and the two latest trees rendered per app x cluster: the target and, usually, the
revision it replaced, which a rollback or a diff reads again), so :meth:`upkeep` can prune
the others and compact mirrors after fetches.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path

import anyio
from anyio import to_thread

from fleet.adapters.charts import ChartFetcher
from fleet.adapters.git import (
    PACK_LIMIT,
    RECENT_TREES,
    AsyncGitMirror,
    Compaction,
    GitAuth,
    GitError,
    GitSetupError,
    GitSourceSpec,
    GitTimeouts,
    Pruned,
    Revision,
    SignatureTrust,
    TreeStore,
    redact_url,
)
from fleet.adapters.render import HelmOptions, Renderer, RenderError, RenderRequest
from fleet.config import App, Cluster, FleetConfig, Settings, Source, TemplateError
from fleet.model.manifests import Manifest
from fleet.runtime import values_from
from fleet.runtime.charts import chart_spec, chart_upkeep, render_chart
from fleet.runtime.host_secrets import secret_stage
from fleet.runtime.prerender_secrets import render_with_secrets
from fleet.runtime.secret_decryption import SecretDecryptionError, lease_reader

_SSH_KEY = re.compile(
    r"(?:^|\s)((?:ssh-[a-z0-9-]+|ecdsa-sha2-[a-z0-9-]+|sk-[a-z0-9@.-]+)\s+[A-Za-z0-9+/]+=*)"
)


def git_timeouts(settings: Settings) -> GitTimeouts:
    return GitTimeouts(
        connect=settings.git_connect_timeout.total_seconds(),
        transfer=settings.git_transfer_timeout.total_seconds(),
    )


def git_spec(source: Source) -> GitSourceSpec:
    """The Git adapter's view of a config source; trusted key files are read here."""
    auth = source.auth
    return GitSourceSpec(
        name=source.name,
        url=source.location,
        branch=source.branch,
        tag=source.tag,
        commit=source.commit,
        auth=GitAuth(
            ssh_key_file=auth.ssh_key_file,
            known_hosts_file=auth.known_hosts_file,
            token_file=auth.token_file,
            token_username=auth.token_username,
            username_file=auth.username_file,
            password_file=auth.password_file,
        ),
        trust=_trust(source),
    )


def _trust(source: Source) -> SignatureTrust | None:
    verify = source.verify
    if verify is None:
        return None
    files = list(verify.ssh_public_keys)
    if verify.ssh_allowed_signers is not None:
        files.append(verify.ssh_allowed_signers)
    keys: list[str] = []
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise GitSetupError(
                source.name, redact_url(source.location), f"cannot read trusted keys {path}: {exc}"
            ) from None
        found = ssh_public_keys(text)
        if not found:
            raise GitSetupError(
                source.name, redact_url(source.location), f"no SSH public key found in {path}"
            )
        keys += found
    gpg = [*verify.gpg_public_keys]
    if verify.gpg_keyring is not None:
        gpg.append(verify.gpg_keyring)
    return SignatureTrust(ssh_public_keys=tuple(keys), gpg_public_key_files=tuple(gpg))


def ssh_public_keys(text: str) -> list[str]:
    """``type base64`` of each key in a public key or allowed_signers file.

    An allowed_signers line is ``principals [options] type base64 [comment]``; the key is
    what follows the principals and options, found by its type, which no principal or
    option spells the same way.
    """
    keys: list[str] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = _SSH_KEY.search(line)
        if match:
            keys.append(match.group(1))
    return keys


@dataclass(frozen=True, slots=True)
class DesiredState:
    """The objects one app should have on one cluster at one revision, in render order."""

    app: str
    cluster: str
    source: str
    revision: Revision
    path: str
    renderer: str
    manifests: list[Manifest]
    cache_hit: bool = False


class DesiredStateError(Exception):
    """Why an app could not be rendered for a cluster: the source, the path, the file."""

    def __init__(
        self,
        app: str,
        cluster: str,
        source: str,
        message: str,
        revision: str | None = None,
        file: str | None = None,
    ) -> None:
        self.app = app
        self.cluster = cluster
        self.source = source
        self.message = message
        self.revision = revision
        self.file = file
        at = f" at {revision[:12]}" if revision else ""
        super().__init__(f"app {app}, cluster {cluster} (source {source}{at}): {message}")

    def as_dict(self) -> dict[str, str | None]:
        return {
            "app": self.app,
            "cluster": self.cluster,
            "source": self.source,
            "revision": self.revision,
            "file": self.file,
            "message": self.message,
        }


@dataclass(slots=True)
class DesiredStates:
    """Every render of a fleet: what succeeded, and every failure (sources and renders)."""

    states: list[DesiredState] = field(default_factory=list)
    failures: list[DesiredStateError] = field(default_factory=list)
    source_errors: dict[str, GitError] = field(default_factory=dict)
    revisions: dict[str, Revision] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Upkeep:
    """What :meth:`DesiredStateBuilder.upkeep` did after a fetch."""

    compaction: Compaction
    pruned: Pruned


class DesiredStateBuilder:
    """Fetches sources into mirrors under ``state_dir`` and renders apps for clusters."""

    def __init__(
        self,
        config: FleetConfig,
        state_dir: Path,
        *,
        renderer: Renderer | None = None,
        timeouts: GitTimeouts | None = None,
        recent_trees: int = RECENT_TREES,
        pack_limit: int = PACK_LIMIT,
    ) -> None:
        self.config = config
        self.state_dir = state_dir
        self.renderer = renderer or Renderer()
        self.timeouts = timeouts
        self.trees = TreeStore(state_dir / "trees")
        self.recent_trees = recent_trees
        self.pack_limit = pack_limit
        self._mirrors: dict[str, AsyncGitMirror] = {}
        #: Tree of each source's latest fetch, and the latest two trees per app x cluster.
        self._fetched: dict[str, str] = {}
        self._rendered: dict[tuple[str, str], tuple[str, ...]] = {}
        self._prune_lock = anyio.Lock()
        self.charts = ChartFetcher(state_dir)
        #: Each source's latest fetched revision (valuesFrom reads them: values_from.py).
        self.latest: dict[str, Revision] = {}

    def remember_wanted_trees(self, previous: DesiredStateBuilder) -> None:
        """Keep wanting the trees the builder this one replaces (a config reload) wanted."""
        self._fetched = {**previous._fetched, **self._fetched}
        self.latest = {**previous.latest, **self.latest}
        self._rendered = {**previous._rendered, **self._rendered}

    async def __aenter__(self) -> DesiredStateBuilder:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        mirrors, self._mirrors = self._mirrors, {}
        for mirror in mirrors.values():
            await mirror.aclose()

    def mirror(self, source: Source) -> AsyncGitMirror:
        mirror = self._mirrors.get(source.name)
        if mirror is None:
            mirror = AsyncGitMirror.open(git_spec(source), self.state_dir, self.timeouts)
            self._mirrors[source.name] = mirror
        return mirror

    async def fetch(self, source: Source) -> Revision:
        """Update the source's mirror; the revision its ref names now (signature checked).

        A chart source: the chart version its range picks now (fleet.runtime.charts)."""
        if source.is_chart:
            chart = await self.charts.fetch(chart_spec(source, self))
            self._fetched[source.name] = chart.tree
            self.latest[source.name] = chart
            return chart
        revision = await self.mirror(source).fetch()
        self.latest[source.name] = revision
        self._fetched[source.name] = revision.tree
        return revision

    def wanted_trees(self) -> frozenset[str]:
        """Exported trees a prune keeps whatever their age (see the module docstring)."""
        rendered = (tree for trees in self._rendered.values() for tree in trees)
        return frozenset([*self._fetched.values(), *rendered])

    async def upkeep(self, source: Source) -> Upkeep:
        """After a fetch: compact the source's mirror if due, and prune exported trees.

        A tree being read by a render is never deleted, and one deleted is exported again
        when a render needs it, so this can run at any time.
        """
        if source.is_chart:
            return await chart_upkeep(self)
        compaction = await self.mirror(source).compact(self.pack_limit)
        async with self._prune_lock:
            wanted = self.wanted_trees()
            pruned = await to_thread.run_sync(self.trees.prune, wanted, self.recent_trees)
        return Upkeep(compaction, pruned)

    @property
    def prune_lock(self) -> anyio.Lock:
        return self._prune_lock

    def chart_rendered(self, app: App, cluster: Cluster, chart: Revision) -> None:
        """A chart version is being rendered: its unpacked chart stays wanted."""
        self._rendering(app, cluster, chart.tree)

    def _rendering(self, app: App, cluster: Cluster, tree: str) -> None:
        key = (app.name, cluster.name)
        latest = self._rendered.get(key, ())
        if not latest or latest[0] != tree:
            self._rendered[key] = (tree, *latest[:1])

    async def resolve(self, source: Source, rev_spec: str) -> Revision:
        """A revision of the (fetched) source by branch, tag or commit id (chart revision id)."""
        if source.is_chart:
            return await self.charts.resolve(chart_spec(source, self), rev_spec)
        return await self.mirror(source).resolve(rev_spec)

    async def render(self, app: App, cluster: Cluster, revision: Revision) -> DesiredState:
        """The app's objects for the cluster at ``revision``; raises DesiredStateError."""
        source = self.config.source_of(app)
        if source.is_chart:
            return await render_chart(self, app, cluster, source, revision)

        def failure(message: str, file: str | None = None) -> DesiredStateError:
            return DesiredStateError(
                app.name, cluster.name, source.name, message, revision.sha, file
            )

        own, _ = values_from.split(revision)  # the app's own commit (valuesFrom apart)
        try:
            path = app.path_for(cluster)
            helm = app.helm_for(cluster)
            values = await values_from.merged_values(self, app, cluster, revision, helm.values)
        except TemplateError as exc:
            raise failure(str(exc)) from None
        except values_from.ValuesFromError as exc:
            raise failure(str(exc), exc.file) from None
        async with AsyncExitStack() as stack:
            try:
                # Leased for the whole render: a prune meanwhile leaves this tree alone.
                lease = await stack.enter_async_context(self.mirror(source).lease_tree(own.sha))
            except GitError as exc:
                raise failure(exc.detail) from None
            self._rendering(app, cluster, own.tree)
            request = RenderRequest(
                root=lease.path,
                path=path,
                renderer=app.renderer,
                namespace=app.namespace,
                helm=HelmOptions(
                    values_files=list(helm.values_files),
                    values=values,
                    release_name=helm.release_name,
                ),
                content_key=own.tree,
            )
            try:
                # SOPS inputs (secretGenerator, values files): rendered again, uncached.
                result = await render_with_secrets(self.renderer, request, app, cluster)
            except RenderError as exc:
                raise failure(str(exc), exc.path) from None
            except SecretDecryptionError as exc:
                raise failure(str(exc), exc.file) from None
            try:  # after the render cache, which keeps only the encrypted form
                manifests = secret_stage(
                    result.manifests,
                    app,
                    cluster,
                    read_source=lease_reader(lease.path),
                    state_dir=self.state_dir,
                )
            except SecretDecryptionError as exc:
                raise failure(str(exc), exc.file) from None
        return DesiredState(
            app=app.name,
            cluster=cluster.name,
            source=source.name,
            revision=revision,
            path=path,
            renderer=result.renderer,
            manifests=manifests,
            cache_hit=result.cache_hit,
        )

    async def render_all(self, apps: Sequence[App] | None = None) -> DesiredStates:
        """Fetch every source the apps use, then render each app for each targeted cluster.

        Nothing stops at the first failure: every source and every render is tried, so
        one run reports all that is wrong.
        """
        apps = list(self.config.apps if apps is None else apps)
        outcome = DesiredStates()
        used = {name for app in apps for name in (app.source, *app.values_sources())}

        async def fetch(source: Source) -> None:
            try:
                outcome.revisions[source.name] = await self.fetch(source)
            except GitError as exc:  # ChartError too
                outcome.source_errors[source.name] = exc

        async with anyio.create_task_group() as group:
            for source in self.config.sources:
                if source.name in used:
                    group.start_soon(fetch, source)

        async def render(app: App, cluster: Cluster, revision: Revision) -> None:
            try:
                outcome.states.append(await self.render(app, cluster, revision))
            except DesiredStateError as exc:
                outcome.failures.append(exc)

        async with anyio.create_task_group() as group:
            for app in apps:
                revision = values_from.latest(app, outcome.revisions)
                if revision is None:
                    continue
                for cluster in self.config.targets(app):
                    group.start_soon(render, app, cluster, revision)
        order = {(a.name, c.name): i for i, (a, c) in enumerate(_pairs(self.config, apps))}
        outcome.states.sort(key=lambda s: order[(s.app, s.cluster)])
        outcome.failures.sort(key=lambda f: order[(f.app, f.cluster)])
        return outcome


def _pairs(config: FleetConfig, apps: Sequence[App]) -> list[tuple[App, Cluster]]:
    return [(app, cluster) for app in apps for cluster in config.targets(app)]
