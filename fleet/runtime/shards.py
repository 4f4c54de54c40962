"""One shard's part in a fleet split between several active instances (docs/shards.md).

With ``ha.shards``, each instance leads its shard (its own Lease, fleet.runtime
.high_availability) and syncs only the clusters its shard selects
(:func:`owned_clusters`, the same answer on every instance). Two things cross shards:

- **rollouts**: every ``shard_sync_interval`` the leader reads, per app, the shared
  record of the revision being rolled out (fleet.adapters.kube.rollout_records), writes
  its own clusters' progress, the waves it started and the waves users promoted into it
  (a replace under the resourceVersion read; a 409 reads again and decides again), and
  takes the other shards' progress into the coordinator, which then plans over the
  whole fleet and releases only its own clusters (fleet.runtime.rollouts);
- **status**: the leader advertises its API URL on its Lease; ``GET /api/v1/status``
  on any instance adds the other shards' rows, read from their leaders with a short
  timeout; a shard that does not answer shows its clusters as Unknown, naming it.

No write starts outside the leader's term: each record write checks the fence first.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import anyio

from fleet.adapters.http.address import ApiAddress
from fleet.adapters.kube.rollout_records import (
    CoordinationClient,
    PeerAddress,
    RecordConflict,
    RecordError,
)
from fleet.config import FleetConfig
from fleet.config.high_availability import HaSettings
from fleet.engine.rollout import RolloutStatus
from fleet.engine.shards import (
    RecordFormatError,
    assign_clusters,
    recovered_progress,
    remote_progress,
    updated_record,
    waves_started,
)
from fleet.runtime.leadership import Fence, NotLeader
from fleet.runtime.rollout_state import AppRollout
from fleet.runtime.status import AppClusterStatus

log = logging.getLogger(__name__)

JSON = dict[str, Any]
#: How long a peer's status may take before its clusters show as Unknown.
PEER_TIMEOUT = 3.0
#: Records kept per app (the newest revisions'): a shard a few commits behind still
#: finds its revision's record.
RECORDS_KEPT = 5
#: Writes of one record tried in a row when other shards keep winning the race.
CONFLICT_RETRIES = 5


def owned_clusters(ha: HaSettings | None, config: FleetConfig) -> frozenset[str] | None:
    """The clusters this instance syncs (None: every one, no shards); ShardError when
    the shards do not split the config's clusters exactly."""
    owners = shard_owners(ha, config)
    if owners is None or ha is None:
        return None
    return frozenset(c for c, shard in owners.items() if shard == ha.shard)


def shard_owners(ha: HaSettings | None, config: FleetConfig) -> dict[str, str] | None:
    """cluster -> its shard, for every cluster of the config (None: no shards)."""
    if ha is None or ha.shards is None:
        return None
    return assign_clusters(ha.shards, {c.name: dict(c.labels) for c in config.clusters})


def advertised_url(ha: HaSettings, api_address: str) -> str:
    """The URL peers use for this instance's API ("" on a unix socket without
    ``advertise_url``)."""
    if ha.advertise_url:
        return ha.advertise_url.rstrip("/")
    address = ApiAddress.parse(api_address)
    if address.unix_path is not None:
        return ""
    host = address.host if address.host not in ("0.0.0.0", "::", "") else socket.gethostname()
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{address.port}"


class ShardLink:
    """The leader's link to the other shards: shared rollout records and peer status."""

    def __init__(self, ha: HaSettings, coordination: CoordinationClient, fence: Fence) -> None:
        assert ha.shard is not None
        assert ha.shards is not None
        self.ha = ha
        self.shard: str = ha.shard
        self.coordination = coordination
        self.fence = fence
        self.peers: dict[str, PeerAddress] = {}
        self._token = _read_token(ha.peer_token_file)
        #: Record writes that lost a race (409) and were decided again (tests read it).
        self.conflicts = 0
        #: app -> (revision, own progress) at the last exchange: a complete rollout
        #: whose own part has not moved is not read again.
        self._settled: dict[str, tuple[str, tuple[Any, ...]]] = {}
        self._last_error = ""

    # -- rollouts ----------------------------------------------------------------------

    async def run(
        self,
        rollouts: dict[str, AppRollout],
        owned: Callable[[], frozenset[str]],
        step: Callable[[AppRollout], object],
    ) -> None:
        """Forever: exchange every rollout's progress, and find the peers.

        ``owned`` returns the clusters this shard owns now (a reload may change them),
        ``step`` is the coordinator's: called when another shard's progress moved."""
        interval = self.ha.shard_sync_interval.total_seconds()
        while True:
            try:
                for rollout in list(rollouts.values()):
                    await self.exchange(rollout, owned(), step)
                await self._find_peers()
                self._last_error = ""
            except (RecordError, RecordFormatError) as error:
                if str(error) != self._last_error:
                    log.warning("shard %s: rollout records: %s", self.shard, error)
                self._last_error = str(error)
            except NotLeader:
                return  # deposed: the daemon is being stopped
            await anyio.sleep(interval)

    async def exchange(
        self, rollout: AppRollout, owned: frozenset[str], step: Callable[[AppRollout], object]
    ) -> None:
        """Write this shard's part of ``rollout``'s record; take the others' part in."""
        revision = rollout.revision
        if revision is None:
            return
        clusters = [c for wave in rollout.plan.waves for c in wave.clusters]
        if all(c in owned for c in clusters):
            return  # nothing of it is anyone else's
        mine = tuple(sorted((c, p) for c, p in rollout.progress.items() if c in owned))
        settled = (revision.sha, mine)
        if (
            rollout.status == str(RolloutStatus.COMPLETE)
            and self._settled.get(rollout.app) == settled
        ):
            return  # complete everywhere, and nothing here moved since: nothing to say
        timeout = PEER_TIMEOUT
        moved = False
        for _ in range(CONFLICT_RETRIES):
            stored = await self.coordination.read(rollout.app, revision.sha, timeout)
            if stored is not None and rollout.revision is revision:
                # A new leader of this shard: when its clusters really finished.
                recovered = recovered_progress(stored.record, rollout.progress, owned)
                rollout.progress.update(recovered)
                moved = moved or bool(recovered)
            local = {c: p for c, p in rollout.progress.items() if c in owned and c in clusters}
            change = updated_record(
                stored.record if stored is not None else None,
                app=rollout.app,
                revision=revision.sha,
                shard=self.shard,
                local=local,
                started_waves=waves_started(rollout.plan, rollout.progress, owned),
                promoted=rollout.promoted,
                now=time.time(),
            )
            if change is not None:
                self.fence.check()
                created = stored is None
                try:
                    stored = await self.coordination.write(
                        change, stored.resource_version if stored is not None else "", timeout
                    )
                except RecordConflict:
                    self.conflicts += 1
                    continue  # another shard wrote first: read again, decide again
                if created:  # a new revision's record: the oldest ones go
                    await self.coordination.prune(rollout.app, RECORDS_KEPT, timeout)
            break
        else:
            return  # lost every race this round: the next round tries again
        if stored is None or rollout.revision is None or rollout.revision.sha != revision.sha:
            return  # the rollout moved on while we were away: that record is old news
        for cluster, progress in remote_progress(stored.record, owned).items():
            if cluster in clusters and rollout.progress.get(cluster) != progress:
                rollout.progress[cluster] = progress
                moved = True
        promoted = stored.record.promoted - rollout.promoted
        if promoted:
            rollout.promoted |= promoted
            moved = True
        if moved:
            step(rollout)
        self._settled[rollout.app] = settled

    # -- peers -------------------------------------------------------------------------

    async def _find_peers(self) -> None:
        assert self.ha.shards is not None
        for shard in sorted(self.ha.shards):
            if shard != self.shard:
                lease = self.ha.shard_lease_name(shard)
                self.peers[shard] = await self.coordination.peer(shard, lease, PEER_TIMEOUT)

    async def peer_rows(self, config: FleetConfig, owners: dict[str, str]) -> list[JSON]:
        """The other shards' status rows; Unknown rows for a shard that does not answer."""
        assert self.ha.shards is not None
        others = sorted(s for s in self.ha.shards if s != self.shard)
        answers: dict[str, list[JSON] | str] = {}

        async def ask(shard: str) -> None:
            answers[shard] = await self._ask(shard)

        async with anyio.create_task_group() as tasks:
            for shard in others:
                tasks.start_soon(ask, shard)
        rows: list[JSON] = []
        for shard in others:
            answer = answers.get(shard, "no answer")
            if isinstance(answer, list):
                rows += [{**row, "shard": shard} for row in answer if isinstance(row, dict)]
                continue
            for app in config.apps:
                for cluster in config.targets(app):
                    if owners.get(cluster.name) == shard:
                        unknown = AppClusterStatus(app.name, cluster.name)
                        unknown.message = f"shard {shard}: {answer}"
                        rows.append({**unknown.as_json(), "shard": shard})
        return rows

    async def _ask(self, shard: str) -> list[JSON] | str:
        peer = self.peers.get(shard)
        if peer is None or not peer.holder:
            return "no instance leads this shard"
        if not peer.api_url:
            return f"its leader {peer.holder} advertises no API URL"
        headers = {"Authorization": f"Bearer {self._token}"} if self._token else {}
        url = f"{peer.api_url}/api/v1/status?scope=local"
        try:
            timeout = aiohttp.ClientTimeout(total=PEER_TIMEOUT)
            async with (
                aiohttp.ClientSession(timeout=timeout, trust_env=False) as session,
                session.get(url, headers=headers) as response,
            ):
                if response.status != 200:
                    return f"its leader {peer.holder} answered {response.status}"
                body = await response.json()
        except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as error:
            return f"its leader {peer.holder} cannot be reached ({type(error).__name__})"
        if not isinstance(body, list):
            return f"its leader {peer.holder} answered something else than status rows"
        return body


def _read_token(path: Path | None) -> str:
    """The peer token (never logged); a file that cannot be read is a clear error."""
    if path is None:
        return ""
    try:
        token = path.read_text().strip()
    except OSError as error:
        raise RecordError(f"ha.peer_token_file {path}: {error.strerror or error}") from None
    if not token:
        raise RecordError(f"ha.peer_token_file {path} is empty")
    return token
