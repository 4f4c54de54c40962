"""The daemon's answers to the HTTP API (``DaemonApi`` in fleet.adapters.http.server).

Reads (status, diff, plan, history, events, metrics) come from the workers and the
history store; requests (sync, suspend/resume, rollout actions, rollback, webhook
pushes) go to the workers' mailboxes, the hold board (fleet.runtime.holds) and the
rollout API (fleet.runtime.rollout_api), which decide. Unknown apps or clusters answer
404, requests that do not apply now 409, and a daemon still starting 503.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from typing import Any

import anyio

from fleet.adapters.http.server import ApiError
from fleet.adapters.http.webhooks import Push, repository_key
from fleet.adapters.telemetry.metrics import AppClusterState, FleetState
from fleet.engine import compare
from fleet.engine.hooks import stamp
from fleet.runtime.daemon_state import DaemonState
from fleet.runtime.fleet_view import fleet_overview
from fleet.runtime.holds import HoldBoard, HoldRefused
from fleet.runtime.mailbox import Trigger
from fleet.runtime.plan import PlanScope
from fleet.runtime.resource_tree import resource_trees
from fleet.runtime.shards import shard_owners
from fleet.runtime.worker import Worker

log = logging.getLogger(__name__)

JSON = dict[str, Any]

#: How long a manual sync request waits for its syncs to start, to answer with their ids.
MANUAL_START_WAIT = 2.0


class DaemonApiAnswers(DaemonState):
    """Implements ``DaemonApi`` over the daemon's state (see the module docstring)."""

    def ready(self) -> tuple[bool, list[str]]:
        reasons = []
        if not self._started:
            reasons.append("starting")
        reasons += [
            f"source {n} not fetched yet"
            for n, p in self.pollers.items()
            if not p.fetched_once.is_set()
        ]
        if not self.config_state.loaded:
            reasons.append("no fleet config from the config source yet")
        if self._stopping:
            reasons.append("stopping")
        return not reasons, reasons

    def config_status(self) -> JSON:
        """``GET /api/v1/config``: the config in force, where from, the newest refusal."""
        return self.config_state.as_json()

    def generators(self) -> list[JSON]:
        """``GET /api/v1/generators`` (fleet.runtime.generation)."""
        return self.generated.as_json(self.generated.written or self.config)

    async def status(self, *, local: bool = False) -> list[JSON]:
        """Every app on every cluster; with shards, the other shards' rows too (read from
        their leaders, fleet.runtime.shards), unless ``local``."""
        rows = [slot.worker.status.as_json() for _, slot in sorted(self.workers.items())]
        link = self._ha.link if self._ha is not None else None
        if link is None or self.config is None:
            return rows
        rows = [{**row, "shard": link.shard} for row in rows]
        if local:
            return rows
        owners = shard_owners(self.settings.ha, self.config) or {}
        rows += await link.peer_rows(self.config, owners)
        return sorted(rows, key=lambda row: (str(row["app"]), str(row["cluster"])))

    def _worker(self, app: str, cluster: str) -> Worker:
        slot = self.workers.get((app, cluster))
        if slot is None:
            raise ApiError(404, f"app {app} does not run on cluster {cluster}")
        return slot.worker

    def _workers_of(self, app: str, cluster: str | None) -> list[Worker]:
        if self.config is None or app not in {a.name for a in self.config.apps}:
            raise ApiError(404, f"no app named {app}")
        if cluster is not None:
            return [self._worker(app, cluster)]
        return [s.worker for k, s in sorted(self.workers.items()) if k[0] == app]

    async def diff(self, app: str, cluster: str | None) -> list[JSON]:
        out = []
        for worker in self._workers_of(app, cluster):
            out.append(await _diff_of(worker, self._secret_key))
        return out

    async def plan(self, app: str | None, revision: str | None, with_diff: bool) -> JSON:
        if self.config is None or self._ctx is None:
            raise ApiError(503, "the daemon is still starting")
        scope = PlanScope(
            config=self.config,
            workers={key: slot.worker for key, slot in self.workers.items()},
            fetched={name: poller.revision for name, poller in self.pollers.items()},
            builder=self._ctx.builder,
        )
        return await self.planner.plan(scope, app, revision, with_diff)

    async def history(
        self, app: str | None, cluster: str | None, limit: int, before: int | None
    ) -> list[JSON]:
        assert self.store is not None
        records = await self.store.history(app=app, cluster=cluster, limit=limit, before_id=before)
        return [r.as_json() for r in records]

    async def sync_detail(self, sync_id: int) -> JSON:
        assert self.store is not None
        try:
            detail = await self.store.sync_detail(sync_id)
        except KeyError:
            raise ApiError(404, f"no sync with id {sync_id}") from None
        return detail.as_json()

    async def events(
        self, since: int, app: str | None, cluster: str | None, limit: int
    ) -> list[JSON]:
        assert self.store is not None
        records = await self.store.events_after(since, limit=limit, app=app, cluster=cluster)
        return [r.as_json() for r in records]

    async def wait_for_events(self, since: int) -> None:
        changed = self._events_changed
        assert self.store is not None
        if await self.store.last_event_id() > since:
            return  # recorded between the caller's query and now
        await changed.wait()

    async def last_event_id(self) -> int:
        assert self.store is not None
        return await self.store.last_event_id()

    async def fleet_overview(self) -> JSON:
        """Clusters, waves and commit subjects for the Fleet page (fleet.runtime.fleet_view)."""
        if self.config is None:
            raise ApiError(503, "the daemon is still starting")
        return await fleet_overview(self.config, self.clusters, await self.status(), self.commits)

    async def resource_tree(self, app: str, cluster: str | None) -> list[JSON]:
        """The app's resource tree on each cluster (fleet.runtime.resource_tree)."""
        return await resource_trees(self._workers_of(app, cluster))

    async def commit(self, app: str, sha: str) -> JSON:
        """A commit of the app's source: its message and author."""
        self._workers_of(app, None)  # 404 for an unknown app
        found = await self.commits.describe(app, sha)
        if found is None:
            raise ApiError(404, f"no commit {sha[:40]!r} in the source of app {app}")
        return found

    async def refresh(self, app: str, cluster: str | None) -> JSON:
        """Fetch the app's sources and compare the app with its clusters again now (no
        sync is forced: an automated app syncs if the comparison or a new commit says
        so, as after a poll); such a sync is recorded with the trigger ``refresh``."""
        workers = self._workers_of(app, cluster)
        if workers:
            own = workers[0].app
            for name in (own.source, *own.values_sources()):
                poller = self.pollers.get(name)
                if poller is not None:
                    poller.poke("refresh")
        for worker in workers:
            worker.mailbox.post(Trigger("refresh", detail="refresh"))
        return {"app": app, "refreshed": [w.cluster.name for w in workers]}

    async def trigger_sync(
        self,
        app: str,
        cluster: str | None,
        revision: str | None,
        clear_pin: bool,
        dry_run: bool,
        confirm_prune: bool = False,
        force: bool = False,
        now: bool = False,
    ) -> JSON:
        assert self.store is not None
        assert self.config is not None
        if any(g.name == app for g in self.config.generators):
            return self._confirm_generator(app, confirm_prune)
        workers = self._workers_of(app, cluster)
        if self._holds is not None and not dry_run:
            # Suspended, a closed window, a dependency not ready: refused, not queued.
            refusals = self._holds.manual_refusals(workers, force)
            if refusals:
                raise ApiError(409, "sync refused: " + "; ".join(refusals))
        if clear_pin or revision:
            # A pin or unpin moves the clusters in waves, like a commit (fleet.runtime.
            # rollout_api); with ``now`` every cluster syncs at once, as below.
            assert self._rollout_api is not None
            moved = await self._rollout_api.change_pins(
                app, cluster, workers, revision, clear_pin, dry_run=dry_run, now=now
            )
            if moved is not None and not now:
                return moved
        posted = []
        for worker in workers:
            trigger = Trigger("manual", dry_run=dry_run, confirm_prune=confirm_prune)
            posted.append((worker.cluster.name, worker.mailbox.post(trigger)))
        # Answer with each sync's id once it has started, so that a client can follow
        # it; a sync still waiting for its worker or a sync slot is answered without
        # one (the client finds it in history later).
        with anyio.move_on_after(MANUAL_START_WAIT):
            for _, trigger in posted:
                await trigger.reply.wait()
        queued = [
            {"cluster": name, "sync_id": trigger.reply[0] if trigger.reply else None}
            for name, trigger in posted
        ]
        return {"app": app, "queued": queued}

    def _confirm_generator(self, name: str, confirm_prune: bool) -> JSON:
        """``fleet sync GENERATOR --confirm-prune``: let a held generator remove its apps."""
        held = self.generated.held.get(name)
        if held is None:
            raise ApiError(409, f"generator {name} is not held: nothing to confirm")
        if not confirm_prune:
            raise ApiError(409, f"{held} (add --confirm-prune)")
        self.generated.confirm(name)
        log.warning("generator %s: removal confirmed by a user", name)
        return {"generator": name, "confirmed": True, "was": held}

    async def suspend(self, app: str | None, cluster: str | None, reason: str) -> JSON:
        """``fleet suspend`` / ``fleet cluster suspend`` (fleet.runtime.holds)."""
        holds = self._scoped_holds(app, cluster)
        try:
            return await holds.suspend(app, cluster, reason)
        except HoldRefused as error:
            raise ApiError(409, str(error)) from None

    async def resume(self, app: str | None, cluster: str | None) -> JSON:
        holds = self._scoped_holds(app, cluster)
        try:
            return await holds.resume(app, cluster)
        except HoldRefused as error:
            raise ApiError(409, str(error)) from None

    def _scoped_holds(self, app: str | None, cluster: str | None) -> HoldBoard:
        if self._holds is None or self.config is None:
            raise ApiError(503, "the daemon is still starting")
        if app is not None:
            self._workers_of(app, cluster)  # 404 for an unknown app or cluster
        elif cluster not in {c.name for c in self.config.clusters}:
            raise ApiError(404, f"no cluster named {cluster}")
        return self._holds

    async def rollout_status(self, app: str) -> JSON:
        assert self._rollout_api is not None
        return self._rollout_api.status(app)

    async def rollout_action(self, app: str, action: str) -> JSON:
        assert self._rollout_api is not None
        return await self._rollout_api.act(app, action)

    async def rollback(
        self,
        app: str,
        cluster: str | None,
        to_sync_id: int | None,
        revision: str | None,
        now: bool,
    ) -> JSON:
        """``fleet rollback`` (fleet.runtime.rollout_api)."""
        assert self._rollout_api is not None
        workers = self._workers_of(app, cluster)
        return await self._rollout_api.rollback(app, workers, to_sync_id, revision, now=now)

    def webhook_secrets(self, forge: str) -> list[bytes]:
        path = self.settings.webhook_secret_file
        if path is None:
            return []
        try:
            return [path.read_bytes().strip()]
        except OSError:
            log.error("cannot read the webhook secret file %s", path)
            return []

    async def push(self, push: Push) -> JSON:
        assert self.config is not None
        keys = {repository_key(url) for url in push.repository_urls}
        poked = []
        for name, poller in self.pollers.items():
            if not keys or repository_key(poller.source.location) in keys:
                poller.poke()
                poked.append(name)
        watcher = self.config_watcher
        if watcher is not None and (not keys or repository_key(watcher.url) in keys):
            watcher.poke()
            poked.append(watcher.source.name)
        return {"sources": poked}

    def metrics(self) -> tuple[bytes, str]:
        return self.telemetry.metrics.exposition()

    def _metric_state(self) -> FleetState:
        """What the state gauges of /metrics show, read at scrape time."""
        statuses = [slot.worker.status for slot in self.workers.values()]
        slots = self._ctx.sync_slots.statistics() if self._ctx is not None else None
        return FleetState(
            apps=[
                AppClusterState(
                    s.app,
                    s.cluster,
                    s.sync,
                    s.health,
                    suspended=s.suspended,
                    held=str(s.hold["kind"]) if s.hold else "",
                )
                for s in statuses
            ],
            clusters={name: runtime.reachable for name, runtime in self.clusters.items()},
            reconciles_queued=sum(1 for s in self.workers.values() if s.worker.mailbox.pending()),
            syncs_waiting=slots.tasks_waiting if slots is not None else 0,
            syncs_running=self._ctx.running if self._ctx is not None else 0,
            notifications={n: asdict(s) for n, s in self.notifications.stats.items()},
        )


async def _diff_of(worker: Worker, key: bytes) -> JSON:
    cache = worker.runtime.cache
    items: list[JSON] = []
    for manifest in worker.tracked():
        live = cache.get(manifest.ref)
        applied = stamp(manifest.body, worker.app.name, manifest.ref)
        try:
            result = await worker.runtime.client.apply(applied, dry_run=True)
        except Exception as error:
            items.append({"object": str(manifest.ref), "error": str(error)})
            continue
        diff = compare(manifest.ref, result, live, worker.options().ignore_differences, key)
        if not diff.in_sync:
            items.append(
                {"object": str(manifest.ref), "text": diff.text, "patch": list(diff.patch)}
            )
    return {
        "app": worker.app.name,
        "cluster": worker.cluster.name,
        "revision": worker.status.target_revision,
        "objects": items,
    }
