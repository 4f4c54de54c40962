"""Keep a cluster's LiveCache current: list, then watch, per managed kind.

One watch per (cluster, kind), selecting fleet's app label, resumed from the last
resourceVersion (bookmarks keep it fresh on quiet kinds); a 410 Gone means the server no
longer has that history, so the kind is listed again. A full re-list every
``resync_seconds`` (spread, see ``resync_delay``) catches anything a watch could have
missed. Errors back off with jitter and never stop other kinds or clusters.

A watch is also how fleet learns that a cluster went away while nothing happens. A cut
connection fails the watch at once; a silent one (a partition, a frozen API server) is
caught by a deadline: the server is asked to end each watch a little before
``watch_timeout_seconds``, and a watch still open at that timeout counts as the cluster
being unreachable. So a cluster that goes down is reported within one watch timeout.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import anyio

from fleet.adapters.kube.client import ClusterClient
from fleet.adapters.kube.errors import KindNotServed, KubeError
from fleet.model.refs import split_api_version
from fleet.model.tracking import APP_LABEL
from fleet.runtime.livecache import LiveCache

log = logging.getLogger(__name__)

#: The jitter of every watch's re-list and back-off, unless a caller brings its own. One
#: for all: a generator holds 2.5 KiB of state, and with one per watch (four per cluster)
#: that was 10 MiB at 1,000 clusters for draws that need no stream of their own.
_JITTER = random.Random()


@dataclass(frozen=True, slots=True)
class WatchSettings:
    resync_seconds: float = 600.0
    watch_timeout_seconds: int = 290
    backoff_initial: float = 0.5
    backoff_max: float = 30.0


def watch_deadline(timeout: int) -> tuple[int, float]:
    """(timeoutSeconds to ask the server for, seconds after which the watch is silent).

    The server gets a grace of a quarter (1 to 60 s) to end the watch itself; the deadline
    is ``timeout``, so silence is noticed within one watch timeout. The grace must cover
    a busy server's lag at both ends (its timer starts when it gets to the request): at
    1,000 clusters on 2 loaded cores, a 10 s grace made every watch "silent" once a cycle.
    """
    grace = min(60, max(1, timeout // 4))
    asked = max(1, timeout - grace)
    return asked, float(max(timeout, asked + 1))


def resync_delay(period: float, first: bool, draw: float) -> float:
    """Seconds until a kind is listed again; ``draw`` is uniform in [0, 1).

    Every kind of every cluster is first listed within the same few minutes of start-up,
    so with one period for all, their re-lists would come in waves: at 1,000 clusters,
    4,000 lists within a minute every ``period``, which is the daemon's idle CPU then and
    a burst on every API server at once. The first period is drawn from [period/2,
    period) to spread them, and later ones vary by +-10 % so they stay spread.
    """
    if first:
        return period * (0.5 + 0.5 * draw)
    return period * (0.9 + 0.2 * draw)


#: Called with (cluster, error) when a kind cannot be listed; None when it recovers.
HealthReporter = Callable[[str, KubeError | None], None]
#: Returns when the cluster has been reached again (by any watch): a back-off ends early.
Recovery = Callable[[], Awaitable[None]]


async def watch_kind(
    client: ClusterClient,
    cache: LiveCache,
    api_version: str,
    kind: str,
    settings: WatchSettings,
    report: HealthReporter | None = None,
    rng: random.Random | None = None,
    recovered: Recovery | None = None,
) -> None:
    """Run until cancelled, keeping ``kind``'s managed objects in ``cache``."""
    group, _ = split_api_version(api_version)
    rng = rng or _JITTER
    failures = 0
    first = True
    while True:
        try:
            items, version = await client.list_objects(api_version, kind, label_selector=APP_LABEL)
            cache.replace_kind(group, kind, items, version)
            if report is not None:
                report(client.name, None)
            failures = 0
            delay = resync_delay(settings.resync_seconds, first, rng.random())
            first = False
            resync_at = anyio.current_time() + delay
            full_asked, full_deadline = watch_deadline(settings.watch_timeout_seconds)
            while anyio.current_time() < resync_at:
                remaining = int(resync_at - anyio.current_time())
                # The last watch before a re-list is shorter, but the server's lag is not:
                # it keeps the whole grace (a 1 s grace made busy clusters "unreachable").
                asked = max(1, min(full_asked, remaining))
                deadline = asked + full_deadline - full_asked
                opened = anyio.current_time()
                with anyio.move_on_after(deadline) as watching:
                    async for event_type, obj in client.watch(
                        api_version,
                        kind,
                        resource_version=version,
                        label_selector=APP_LABEL,
                        timeout_seconds=asked,
                    ):
                        meta = obj.get("metadata") or {}
                        version = str(meta.get("resourceVersion") or version)
                        if event_type != "BOOKMARK":
                            cache.apply_event(group, kind, event_type, obj)
                if watching.cancelled_caught:
                    raise KubeError(
                        client.name,
                        0,
                        "Unreachable",
                        f"no answer: a watch the API server was asked to end after {asked}s "
                        f"was still silent after {deadline:g}s",
                    )
                if anyio.current_time() - opened < 1.0:
                    # A server that ends watches at once must not make this loop spin.
                    await anyio.sleep(settings.backoff_initial)
        except KindNotServed:
            # No CRD for it (yet): the sync that applies the CRD refreshes discovery.
            cache.forget_kind(group, kind)
            await anyio.sleep(settings.backoff_max)
            await client.refresh_discovery()
        except KubeError as error:
            if error.status == 410:
                log.debug("%s: %s watch expired, listing again", client.name, kind)
                continue
            failures += 1
            if error.unreachable:
                cache.forget_kind(group, kind)
            if report is not None:
                report(client.name, error)
            delay = min(settings.backoff_max, settings.backoff_initial * 2 ** (failures - 1))
            with anyio.move_on_after(delay * (0.5 + rng.random())):
                if recovered is not None and error.unreachable:
                    # Another kind's watch reached the cluster: list again now, so a
                    # cluster that comes back is current within a second, not a back-off.
                    await recovered()
                else:
                    await anyio.sleep_forever()
