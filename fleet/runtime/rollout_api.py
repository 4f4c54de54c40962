"""The daemon's API for rollouts: pins, unpins and rollbacks in waves; status and controls.

The HTTP handlers (fleet.adapters.http.server) call the daemon, which hands these
requests here: a pin or unpin is written to the store and then given to the rollout
coordinator as a change of wanted revisions, like a commit; ``fleet rollback`` finds the
revision to go back to (a recorded sync's, one the user names, or each cluster's last
healthy one, fleet.engine.rollback) and holds the clusters there. ``now`` releases every
cluster at once instead of wave by wave.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from fleet.adapters.git import Revision
from fleet.adapters.http.server import ApiError
from fleet.adapters.store import AsyncHistoryStore, UnknownSyncError
from fleet.engine.rollback import PastSync, RollbackError, revision_of_sync
from fleet.runtime.rollouts import RolloutActionError, RolloutCoordinator
from fleet.runtime.worker import EventSink, Worker

JSON = dict[str, Any]

#: What ``POST /api/v1/apps/{app}/rollout/{action}`` accepts.
ACTIONS = ("resume", "abort", "promote")


class RolloutApi:
    def __init__(
        self,
        coordinator: RolloutCoordinator,
        store: AsyncHistoryStore,
        resolve: Callable[[str, str], Awaitable[Revision]],
        event: EventSink,
    ) -> None:
        self.coordinator = coordinator
        self.store = store
        self.resolve = resolve
        self.event = event

    async def _revision(self, app: str, spec: str) -> Revision:
        try:
            return await self.resolve(app, spec)
        except Exception as error:
            raise ApiError(400, f"revision {spec!r}: {error}") from None

    async def change_pins(
        self,
        app: str,
        cluster: str | None,
        workers: Sequence[Worker],
        revision: str | None,
        clear_pin: bool,
        *,
        dry_run: bool,
        now: bool,
    ) -> JSON | None:
        """Pin or unpin; the answer for the request (None for a dry run: nothing moves)."""
        resolved = await self._revision(app, revision) if revision else None
        if dry_run:
            return None
        if clear_pin:
            await self.store.unpin(app, cluster)
            await self.event(
                "unpinned", f"pin cleared on {cluster or 'every cluster'}", app, cluster, {}
            )
        if resolved is not None:
            for worker in workers:
                await self.store.pin(app, resolved.sha, worker.cluster.name)
            await self.event(
                "pinned",
                f"pinned to {resolved.short_sha}",
                app,
                cluster,
                {"revision": resolved.sha},
            )
        moved = self.coordinator.set_pins(app, [w.cluster.name for w in workers], resolved, now=now)
        return self._answer(app, moved)

    def _answer(self, app: str, moved: Mapping[str, list[str]], **extra: Any) -> JSON:
        return {
            "app": app,
            "queued": [{"cluster": c, "sync_id": None} for c in moved["released"]],
            "waiting": moved["waiting"],
            **extra,
            "rollout": self.coordinator.status(app),
        }

    async def rollback(
        self,
        app: str,
        workers: Sequence[Worker],
        to_sync_id: int | None,
        revision: str | None,
        *,
        now: bool,
    ) -> JSON:
        if to_sync_id is not None and revision:
            raise ApiError(400, "give a sync id or a revision to roll back to, not both")
        targets: dict[str, Revision] = {}
        skipped: dict[str, str] = {}
        if to_sync_id is not None:
            target = await self._revision(app, await self._sync_revision(app, to_sync_id))
            targets = {w.cluster.name: target for w in workers}
        elif revision:
            target = await self._revision(app, revision)
            targets = {w.cluster.name: target for w in workers}
        else:
            for worker in workers:
                name = worker.cluster.name
                leaving = worker.status.revision
                sha = await self.coordinator.last_healthy(app, name, leaving)
                if sha is None:
                    skipped[name] = "no other revision has synced healthy here"
                    continue
                targets[name] = await self._revision(app, sha)
        if not targets:
            reasons = "; ".join(f"{c}: {why}" for c, why in sorted(skipped.items()))
            raise ApiError(409, f"nothing to roll {app} back to ({reasons})")
        moved = await self.coordinator.roll_back(app, targets, now=now)
        return self._answer(
            app,
            moved,
            targets={c: r.sha for c, r in sorted(targets.items())},
            skipped=skipped,
        )

    async def _sync_revision(self, app: str, sync_id: int) -> str:
        try:
            record = await self.store.get_sync(sync_id)
        except UnknownSyncError:
            past = None
        else:
            past = PastSync(
                record.id,
                record.app,
                record.cluster,
                record.revision,
                record.result,
                record.dry_run,
            )
        try:
            return revision_of_sync(past, app, sync_id)
        except RollbackError as error:
            raise ApiError(404 if past is None else 409, str(error)) from None

    def status(self, app: str) -> JSON:
        try:
            return self.coordinator.status(app)
        except KeyError:
            raise ApiError(404, f"no app named {app}") from None

    async def act(self, app: str, action: str) -> JSON:
        self.status(app)  # 404 for an unknown app
        try:
            if action == "resume":
                await self.coordinator.resume(app)
            elif action == "abort":
                await self.coordinator.abort(app)
            elif action == "promote":
                await self.coordinator.promote(app)
            else:
                raise ApiError(404, f"no rollout action {action!r} (one of {', '.join(ACTIONS)})")
        except RolloutActionError as error:
            raise ApiError(409, str(error)) from None
        return self.status(app)
