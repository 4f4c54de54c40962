"""Desired against live: what one app on one cluster wants, and how far the cluster is.

A worker compares on every wake-up, so this must be cheap when nothing changed: the
target revision is rendered once per (commit, tree) and kept (``DesiredObjects``), and
the live side is read from the cluster's watch cache, with no request. Only an object
that looks different locally is confirmed with the API server (a dry-run apply, whose
answer is remembered per object, body and resourceVersion), because defaulting and
admission make a local comparison alone too eager. An object the app's project refuses
(fleet.engine.bounds) is never sent, not even as a dry run: it is shown OutOfSync with
the refusal's reason, as the sync itself would refuse it.

The inventory (what the app owns on the cluster) comes from history, or, when history
has none (a new app, a lost database), from the cluster's tracking annotations.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fleet.adapters.git import Revision
from fleet.adapters.kube.errors import KindNotServed, KubeError
from fleet.adapters.store import AsyncHistoryStore
from fleet.adapters.telemetry import context as telemetry
from fleet.config import App, Cluster
from fleet.engine import SyncOptions, app_health, compare, read_settings, rebuild_inventory
from fleet.engine.drift import live_matches
from fleet.engine.hooks import stamp
from fleet.engine.prune import candidate as prune_candidate
from fleet.model.manifests import Manifest
from fleet.model.refs import ObjectRef
from fleet.runtime.clusters import ClusterRuntime
from fleet.runtime.desired import DesiredStateBuilder, DesiredStateError
from fleet.runtime.health_ready import prepare_health
from fleet.runtime.host_secrets import host_fingerprint

#: Confirmed answers kept before the memory starts over.
CONFIRMED_LIMIT = 10_000


class DesiredObjects:
    """The rendered target revision of one app on one cluster, or why it did not render."""

    def __init__(self) -> None:
        self.manifests: list[Manifest] = []
        self.error: str | None = None
        self._key: tuple[object, ...] | None = None

    async def render(
        self, builder: DesiredStateBuilder, app: App, cluster: Cluster, revision: Revision
    ) -> None:
        """Render ``revision`` unless it (the same commit and tree) is what is held."""
        # A rotated host secret or key file makes the same revision render anew.
        key = (revision.sha, revision.tree, host_fingerprint(app, cluster))
        if self._key == key:
            return
        with telemetry.current().render(app.name, cluster.name, revision) as rendering:
            try:
                state = await builder.render(app, cluster, revision)
            except DesiredStateError as error:
                self.manifests, self.error = [], str(error)
                rendering.error = str(error)
            else:
                self.manifests, self.error = list(state.manifests), None
                rendering.cache_hit = state.cache_hit
        self._key = key

    def tracked(self) -> list[Manifest]:
        """Desired objects that are resources (not hooks, not skipped)."""
        out = []
        for manifest in self.manifests:
            try:
                settings = read_settings(manifest.annotations, manifest.ref, manifest.origin)
            except ValueError:
                continue
            if not settings.is_hook and not settings.ignored and manifest.ref.name:
                out.append(manifest)
        return out


async def read_inventory(
    store: AsyncHistoryStore, app: str, cluster: str, runtime: ClusterRuntime
) -> frozenset[ObjectRef]:
    """What ``app`` owns on the cluster: history's inventory, else the annotations'."""
    stored = await store.get_inventory(app, cluster)
    refs = frozenset(ObjectRef(r.group, r.kind, r.namespace, r.name) for r in stored)
    if refs:
        return refs
    # No inventory (a new app, or a lost database): read ownership back from the
    # cluster's tracking annotations; nothing else is ever pruned.
    return rebuild_inventory(app, runtime.cache.objects_of(app).values())


def watched_kinds(
    desired: Iterable[Manifest], inventory: Iterable[ObjectRef], live: Mapping[ObjectRef, Any]
) -> set[tuple[str, str]]:
    """(apiVersion, kind) of every desired object and of every owned one still live."""
    kinds = {(m.api_version, m.ref.kind) for m in desired}
    live_versions = {
        (ref.group, ref.kind): str(obj.get("apiVersion") or "") for ref, obj in live.items()
    }
    for ref in inventory:
        version = live_versions.get((ref.group, ref.kind))
        if version:
            kinds.add((version, ref.kind))
    return kinds


@dataclass(frozen=True, slots=True)
class Comparison:
    #: Objects out of sync, each as ``ref`` or ``ref (why)``.
    out_of_sync: list[str]
    #: ``Synced`` or ``OutOfSync``.
    sync: str
    health: str
    #: A sync would fix something (a stale object kept on purpose does not count).
    heal_needed: bool


class LiveComparer:
    """Compares an app's desired objects with its cluster's live cache."""

    def __init__(self, app: str, runtime: ClusterRuntime) -> None:
        self.app = app
        self.runtime = runtime
        self._confirmed: dict[tuple[ObjectRef, str, str], bool] = {}
        #: Objects the last comparison found matching, with what they were compared as.
        #: The cache hands out the same dict until the object changes (a new version is
        #: a new dict) and a revision's manifests are kept, so the same manifest, live
        #: dict and ignore rules match again without another walk: after a sync, the
        #: comparisons that follow its watch events re-judge only what changed.
        self._matched: dict[ObjectRef, tuple[Manifest, Mapping[str, Any], object]] = {}

    async def compare(
        self,
        tracked: Sequence[Manifest],
        inventory: frozenset[ObjectRef],
        options: SyncOptions,
        *,
        confirm: bool = True,
    ) -> Comparison:
        """How ``tracked`` (and the stale part of ``inventory``) differ from live.

        A local mismatch is confirmed with the server (a dry-run) unless ``confirm`` is
        off: when a sync follows anyway, its own dry-runs settle it.
        """
        cache = self.runtime.cache
        out_of_sync: list[str] = []
        ignored = options.ignore_differences
        matched: dict[ObjectRef, tuple[Manifest, Mapping[str, Any], object]] = {}
        for manifest in tracked:
            live = cache.get(manifest.ref)
            seen = self._matched.get(manifest.ref)
            if seen is not None and seen[0] is manifest and seen[1] is live and seen[2] == ignored:
                matched[manifest.ref] = seen
                continue
            applied = stamp(manifest.body, self.app, manifest.ref)
            if live_matches(manifest.ref, applied, live, ignored):
                if live is not None:
                    matched[manifest.ref] = (manifest, live, ignored)
                continue
            bounds = options.bounds
            refusal = bounds.refusal(manifest.ref) if bounds is not None else None
            if refusal is not None:
                out_of_sync.append(f"{manifest.ref} ({refusal})")
                continue
            if (
                confirm
                and live is not None
                and await self._confirm_in_sync(manifest, applied, live, options)
            ):
                continue
            newer = cache.get(manifest.ref)
            if newer is not live and (
                live_matches(manifest.ref, applied, newer, options.ignore_differences)
            ):
                # While the server was asked, the watch brought a version that holds what
                # fleet applies (a sync's or someone's fix): the answer is about the past.
                continue
            out_of_sync.append(str(manifest.ref))
        desired_refs = {m.ref for m in tracked}
        # A sync can fix a desired object, and a stale one it would prune; it cannot fix
        # a stale one it must keep (pruning off, Prune=confirm): that one shows, but
        # self-heal must not sync again and again for it. One kept on purpose by its
        # prune annotation, or not ours (a copied label), is no difference from Git.
        heal_needed = bool(out_of_sync)
        for ref in sorted(inventory - desired_refs):
            live = cache.get(ref)
            if live is None:
                continue
            stale = prune_candidate(self.app, ref, live, options)
            if not stale.owned or (stale.settings is not None and stale.settings.prune == "no"):
                continue
            out_of_sync.append(f"{ref} (to prune)")
            heal_needed = heal_needed or stale.prune
        judged = [(m.ref, cache.get(m.ref)) for m in tracked]  # the versions prepared
        await prepare_health(options.custom_health, (live for _, live in judged))
        health = app_health(
            judged,
            options.health_rules,
            options.custom_health,
        )
        self._matched = matched
        sync = "OutOfSync" if out_of_sync else "Synced"
        return Comparison(out_of_sync, sync, str(health.status), heal_needed)

    async def _confirm_in_sync(
        self,
        manifest: Manifest,
        applied: dict[str, Any],
        live: Mapping[str, Any],
        options: SyncOptions,
    ) -> bool:
        """Ask the server (dry-run) whether a suspected difference is real; remember it."""
        rv = str((live.get("metadata") or {}).get("resourceVersion") or "")
        digest = hashlib.sha256(json.dumps(applied, sort_keys=True, default=str).encode())
        key = (manifest.ref, digest.hexdigest(), rv)
        known = self._confirmed.get(key)
        if known is not None:
            return known
        try:
            result = await self.runtime.client.apply(applied, dry_run=True)
        except (KubeError, KindNotServed):
            return False
        in_sync = compare(
            manifest.ref, result, live, options.ignore_differences, options.secret_digest_key
        ).in_sync
        if len(self._confirmed) > CONFIRMED_LIMIT:
            self._confirmed.clear()
        self._confirmed[key] = in_sync
        return in_sync
