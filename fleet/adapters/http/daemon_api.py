"""What the HTTP API asks of the daemon: the ``DaemonApi`` protocol and ``ApiError``.

The runtime implements the protocol (fleet.runtime.api); the JSON handlers
(fleet.adapters.http.server) and the dashboard (fleet.adapters.http.dashboard) call it,
so neither knows how fleet works, and the runtime raises ``ApiError`` to answer with a
status and a message.
"""

from __future__ import annotations

from typing import Any, Protocol

from fleet.adapters.http.webhooks import Push

JSON = dict[str, Any]


class ApiError(Exception):
    """Raised by DaemonApi methods to answer with a status and a message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class DaemonApi(Protocol):
    """What the HTTP API asks of the daemon."""

    def ready(self) -> tuple[bool, list[str]]: ...

    async def status(self, *, local: bool = False) -> list[JSON]: ...

    def config_status(self) -> JSON: ...

    def generators(self) -> list[JSON]:
        """Each app generator: its source revision, the apps it made, its hold if any."""

    async def diff(self, app: str, cluster: str | None) -> list[JSON]: ...

    async def plan(self, app: str | None, revision: str | None, with_diff: bool) -> JSON:
        """What ``revision`` would do to every cluster ``app`` targets (dry-runs only)."""

    async def history(
        self, app: str | None, cluster: str | None, limit: int, before: int | None
    ) -> list[JSON]: ...

    async def sync_detail(self, sync_id: int) -> JSON: ...

    async def events(
        self, since: int, app: str | None, cluster: str | None, limit: int
    ) -> list[JSON]: ...

    async def wait_for_events(self, since: int) -> None:
        """Return when an event newer than ``since`` may exist."""

    # The dashboard's reads (docs/dashboard.md): the newest event id; clusters, waves
    # and commit subjects; resource trees by owner references; a commit; a re-compare.
    async def last_event_id(self) -> int: ...

    async def fleet_overview(self) -> JSON: ...

    async def resource_tree(self, app: str, cluster: str | None) -> list[JSON]: ...

    async def commit(self, app: str, sha: str) -> JSON: ...

    async def refresh(self, app: str, cluster: str | None) -> JSON: ...

    async def trigger_sync(
        self,
        app: str,
        cluster: str | None,
        revision: str | None,
        clear_pin: bool,
        dry_run: bool,
        confirm_prune: bool,
        force: bool = False,
        now: bool = False,
    ) -> JSON:
        """Queue manual syncs; ``force`` overrides a suspension or a dependency not ready
        (not a sync window); refused syncs answer 409. A pin or unpin goes wave by wave
        unless ``now``."""

    async def suspend(self, app: str | None, cluster: str | None, reason: str) -> JSON:
        """Suspend an app (everywhere, or on ``cluster``), or with ``app`` None a cluster."""

    async def resume(self, app: str | None, cluster: str | None) -> JSON:
        """Lift what ``suspend`` with the same arguments set."""

    async def rollout_status(self, app: str) -> JSON:
        """Where ``app``'s rollout stands, wave by wave."""

    async def rollout_action(self, app: str, action: str) -> JSON:
        """``resume``, ``abort`` or ``promote`` the app's rollout; its status after."""

    async def rollback(
        self,
        app: str,
        cluster: str | None,
        to_sync_id: int | None,
        revision: str | None,
        now: bool,
    ) -> JSON:
        """Take the app back to a recorded sync's revision, or another, in waves."""

    def webhook_secrets(self, forge: str) -> list[bytes]: ...

    async def push(self, push: Push) -> JSON: ...

    def metrics(self) -> tuple[bytes, str]: ...
