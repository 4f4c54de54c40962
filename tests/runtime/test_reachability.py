"""A cluster that goes silent is reported unreachable within one watch timeout.

A cut connection fails a watch at once (the end-to-end tests take a simulated cluster
down); a silent one does not fail anything: the connection stays open and no byte
comes. This API server lists normally, then answers a watch with headers and nothing
more, never ending it: the watch deadline must call the cluster unreachable, within the
watch timeout, with a readable reason, and the status of its apps turn Unknown.
"""

from __future__ import annotations

import json
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import anyio
import pytest
from aiohttp import web

from fleet.adapters.kube.client import ClusterClient
from fleet.adapters.kube.connection import ClusterEndpoint
from fleet.adapters.kube.errors import KubeError
from fleet.runtime.clusters import ClusterRuntime
from fleet.runtime.livecache import LiveCache
from fleet.runtime.status import AppClusterStatus, unreachable_message
from fleet.runtime.watchers import WatchSettings, resync_delay, watch_deadline, watch_kind

pytestmark = pytest.mark.anyio

RESOURCES = {
    "kind": "APIResourceList",
    "groupVersion": "v1",
    "resources": [{"name": "configmaps", "kind": "ConfigMap", "namespaced": True}],
}


@dataclass
class SilentServer:
    """Lists work; watches are answered with headers, then silence."""

    url: str = ""
    watches: list[dict[str, str]] = field(default_factory=list)
    #: Set: a slow server instead, which ends each watch this many seconds late.
    ends_late_by: float | None = None

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if request.path == "/api/v1":
            return web.json_response(RESOURCES)
        if request.query.get("watch") == "true":
            self.watches.append(dict(request.query))
            response = web.StreamResponse()
            response.content_type = "application/json"
            await response.prepare(request)
            if self.ends_late_by is None:
                await anyio.sleep_forever()
            await anyio.sleep(int(request.query["timeoutSeconds"]) + self.ends_late_by)
            await response.write_eof()
            return response
        body = {"kind": "ConfigMapList", "metadata": {"resourceVersion": "7"}, "items": []}
        return web.Response(text=json.dumps(body), content_type="application/json")


@pytest.fixture
async def silent() -> AsyncIterator[SilentServer]:
    server = SilentServer()
    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", server.handle)
    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield server
    finally:
        await runner.cleanup()


@pytest.mark.parametrize(
    ("timeout", "asked", "deadline"),
    [(290, 230, 290.0), (60, 45, 60.0), (20, 15, 20.0), (3, 2, 3.0), (1, 1, 2.0)],
)
def test_the_server_is_asked_to_end_a_watch_before_the_deadline(
    timeout: int, asked: int, deadline: float
) -> None:
    assert watch_deadline(timeout) == (asked, deadline)


async def test_a_silent_cluster_is_unreachable_within_one_watch_timeout(
    silent: SilentServer,
) -> None:
    settings = WatchSettings(watch_timeout_seconds=3, backoff_initial=0.1, backoff_max=1.0)
    heard: list[tuple[str, bool, str]] = []
    lost = anyio.Event()

    def listen(cluster: str, reachable: bool, reason: str) -> None:
        heard.append((cluster, reachable, reason))
        if not reachable:
            lost.set()

    endpoint = ClusterEndpoint("quiet", server=silent.url)
    async with await ClusterClient.connect(endpoint) as client, anyio.create_task_group() as tg:
        runtime = ClusterRuntime(client, tg, watch_settings=settings)
        runtime.on_reachability(listen)
        status = AppClusterStatus("web", "quiet", sync="Synced", health="Healthy")
        runtime.on_reachability(
            lambda _c, ok, why: (
                None if ok else status.mark_unreachable(runtime.reachability.since, why)
            )
        )
        started = anyio.current_time()
        runtime.ensure_kinds([("v1", "ConfigMap")])
        with anyio.fail_after(10):
            await lost.wait()
        took = anyio.current_time() - started
        runtime.stop()
        tg.cancel_scope.cancel()
    assert heard[0] == ("quiet", True, ""), "listed first: reachable"
    assert took <= settings.watch_timeout_seconds + 0.5, took
    assert silent.watches[0]["timeoutSeconds"] == "2"
    cluster, reachable, reason = heard[-1]
    assert (cluster, reachable) == ("quiet", False)
    assert reason.startswith("unreachable: no answer: a watch"), reason
    assert runtime.reachability.since is not None
    assert (status.sync, status.health, status.reachable) == ("Unknown", "Unknown", False)
    assert status.message.startswith("unreachable since "), status.message
    assert "no answer" in status.message


class _Draws(random.Random):
    """Every draw the same: the re-list spread made predictable."""

    def __init__(self, value: float) -> None:
        super().__init__()
        self.value = value

    def random(self) -> float:
        return self.value


async def test_the_last_watch_before_a_relist_keeps_the_whole_grace(
    silent: SilentServer,
) -> None:
    """A busy server ends a watch late; the short watch before a re-list is no exception.

    8 s watches give the server 2 s of grace; a re-list every 1.9 s leaves room for 1 s
    watches only. This server ends each 1.5 s late: within the grace, so not silent.
    The re-list spread draws 0 (its shortest periods, 0.95 s then 1.71 s): a later draw
    can leave 2 s before a re-list, and the second watch would be asked for 2.
    """
    silent.ends_late_by = 1.5
    settings = WatchSettings(
        resync_seconds=1.9, watch_timeout_seconds=8, backoff_initial=0.1, backoff_max=1.0
    )
    errors: list[KubeError] = []

    def report(_cluster: str, error: KubeError | None) -> None:
        if error is not None:
            errors.append(error)

    endpoint = ClusterEndpoint("busy", server=silent.url)
    async with await ClusterClient.connect(endpoint) as client:
        with anyio.move_on_after(6):
            await watch_kind(
                client, LiveCache("busy"), "v1", "ConfigMap", settings, report, _Draws(0.0)
            )
    assert [w["timeoutSeconds"] for w in silent.watches][:2] == ["1", "1"], silent.watches
    assert errors == [], [str(e) for e in errors]


def test_unreachable_status_then_reachable_again() -> None:
    status = AppClusterStatus("web", "prod", sync="Synced", health="Healthy", message="")
    since = datetime(2026, 5, 1, 12, 0, 3, tzinfo=UTC)
    status.mark_unreachable(since, "unreachable: connection refused")
    assert status.message == "unreachable since 2026-05-01 12:00:03 UTC: connection refused"
    assert status.as_json()["unreachable_since"] == "2026-05-01T12:00:03+00:00"
    assert (status.sync, status.health, status.reachable) == ("Unknown", "Unknown", False)
    later = datetime(2026, 5, 1, 12, 5, tzinfo=UTC)
    status.mark_unreachable(later, "unreachable: timed out")
    assert status.unreachable_since == later
    status.mark_reachable()
    assert (status.reachable, status.unreachable_since, status.message) == (True, None, "")


def test_a_reachable_cluster_keeps_a_message_that_is_not_about_reachability() -> None:
    status = AppClusterStatus("web", "prod", reachable=True, message="out of sync: x")
    status.mark_reachable()
    assert status.message == "out of sync: x"
    assert unreachable_message(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), "") == (
        "unreachable since 2026-01-02 03:04:05 UTC"
    )


def test_a_kube_error_sentence_is_what_reachability_says() -> None:
    """A 403 on a list makes the cluster unreachable for fleet, with the server's words."""
    error = KubeError("prod", 403, "Forbidden", "configmaps is forbidden: User x cannot list")
    assert (
        error.sentence == "forbidden (403 Forbidden): configmaps is forbidden: User x cannot list"
    )


@pytest.mark.parametrize(
    ("first", "draw", "expected"),
    [
        (True, 0.0, 300.0),  # the first re-list: anywhere in the second half of a period
        (True, 0.5, 450.0),
        (True, 0.999, 599.7),
        (False, 0.0, 540.0),  # later ones: the period +-10 %, so they stay spread
        (False, 0.5, 600.0),
        (False, 0.999, 659.88),
    ],
)
def test_re_lists_are_spread_over_the_period(first: bool, draw: float, expected: float) -> None:
    assert resync_delay(600.0, first, draw) == pytest.approx(expected)


def test_kinds_listed_together_are_listed_again_apart() -> None:
    """4,000 kinds listed at start-up would be listed again within one minute, every
    period; spread, no minute of the first period holds more than a few percent."""
    rng = random.Random(7)
    firsts = [resync_delay(600.0, True, rng.random()) for _ in range(4000)]
    busiest_minute = max(sum(1 for d in firsts if m * 60 <= d < (m + 1) * 60) for m in range(10))
    assert busiest_minute < 4000 * 0.25
    assert min(firsts) >= 300.0
    assert max(firsts) < 600.0
