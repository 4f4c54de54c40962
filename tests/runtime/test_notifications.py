"""The notification dispatcher, delivering to real receivers on loopback.

Rules choose events; each destination has its own bounded queue; delivery retries with
back-off; repeats are grouped; a destination that hangs slows neither submit() nor the
other destinations; nothing is lost without a log line and a counter.
"""

from __future__ import annotations

import itertools
import json
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest

from fleet.adapters.notify import Notification
from fleet.config import FleetConfig
from fleet.config.notifications import Destination
from fleet.runtime.notifications import NotificationDispatcher
from tests.adapters.notify.receivers import free_port, http_receiver, smtp_server

pytestmark = pytest.mark.anyio

ABOUT = {
    "revision": "3f2a1bc9d0e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8",
    "commit_message": "Bump web to 1.4.2",
    "author": "Jane Doe <jane@example.com>",
    "sync_id": 42,
}
FAST_RETRY = {"limit": 8, "backoff": {"duration": "50ms", "factor": 2, "maxDuration": "200ms"}}


def fleet(notifications: dict[str, Any]) -> FleetConfig:
    def cluster(name: str, env: str) -> dict[str, Any]:
        return {
            "name": name,
            "server": "https://127.0.0.1:6443",
            "tokenFile": "/nonexistent/token",
            "labels": {"env": env},
        }

    return FleetConfig.model_validate(
        {
            "clusters": [
                cluster("prod-eu-1", "prod"),
                cluster("prod-us-1", "prod"),
                cluster("dev-1", "dev"),
            ],
            "sources": [{"name": "platform", "url": "file:///srv/p.git", "branch": "main"}],
            "apps": [
                {"name": "web", "source": "platform", "path": "apps/web"},
                {
                    "name": "api",
                    "source": "platform",
                    "path": "apps/api",
                    "clusters": {"names": ["prod-us-1"]},
                },
            ],
            "notifications": notifications,
        }
    )


def hook(name: str, url: str) -> dict[str, Any]:
    return {"name": name, "webhook": {"url": url}}


def rule(destinations: list[str], **conditions: Any) -> dict[str, Any]:
    return {"name": "r", "events": ["*"], "destinations": destinations, **conditions}


@asynccontextmanager
async def running(dispatcher: NotificationDispatcher) -> AsyncIterator[NotificationDispatcher]:
    async with anyio.create_task_group() as tasks:
        await tasks.start(dispatcher.run)
        try:
            yield dispatcher
        finally:
            tasks.cancel_scope.cancel()


class Recorder:
    """A sender that keeps what it is given (for rule matching, which is pure logic)."""

    def __init__(self, destination: Destination, timeout: float) -> None:
        self.name = destination.name
        self.sent: list[Notification] = []

    async def send(self, notification: Notification) -> None:
        self.sent.append(notification)

    async def aclose(self) -> None:
        pass


MATCHES: list[tuple[str, dict[str, Any], tuple[str, str | None, str | None], bool]] = [
    ("kind listed", {"events": ["sync_failed"]}, ("sync_failed", "web", "dev-1"), True),
    ("kind not listed", {"events": ["sync_failed"]}, ("sync_succeeded", "web", "dev-1"), False),
    ("kind glob", {"events": ["sync_*"]}, ("sync_succeeded", "web", "dev-1"), True),
    ("app by name", {"apps": ["web"]}, ("drift", "web", "dev-1"), True),
    ("other app", {"apps": ["web"]}, ("drift", "api", "prod-us-1"), False),
    ("app glob", {"apps": ["a*"]}, ("drift", "api", "prod-us-1"), True),
    ("cluster glob", {"clusters": ["prod-*"]}, ("drift", "web", "dev-1"), False),
    ("cluster glob hit", {"clusters": ["prod-*"]}, ("drift", "web", "prod-eu-1"), True),
    (
        "label selector miss",
        {"clusterSelector": {"matchLabels": {"env": "prod"}}},
        ("drift", "web", "dev-1"),
        False,
    ),
    (
        "label selector hit",
        {
            "clusterSelector": {
                "matchExpressions": [{"key": "env", "operator": "In", "values": ["prod"]}]
            }
        },
        ("drift", "web", "prod-us-1"),
        True,
    ),
    (
        "cluster event where a selected app runs",
        {"apps": ["api"]},
        ("cluster_unreachable", None, "prod-us-1"),
        True,
    ),
    (
        "cluster event where no selected app runs",
        {"apps": ["api"]},
        ("cluster_unreachable", None, "prod-eu-1"),
        False,
    ),
    ("fleet-wide event passes app filters", {"apps": ["web"]}, ("source_failed", None, None), True),
    (
        "every condition must hold",
        {"apps": ["web"], "clusters": ["dev-1"]},
        ("drift", "web", "prod-eu-1"),
        False,
    ),
]


@pytest.mark.parametrize(
    ("behaviour", "conditions", "event", "sent"), MATCHES, ids=[m[0] for m in MATCHES]
)
async def test_rules_choose_events(
    behaviour: str,
    conditions: dict[str, Any],
    event: tuple[str, str | None, str | None],
    sent: bool,
) -> None:
    recorders: list[Recorder] = []

    def factory(destination: Destination, timeout: float) -> Recorder:
        recorders.append(Recorder(destination, timeout))
        return recorders[-1]

    config = fleet(
        {"destinations": [hook("d", "http://x.invalid/")], "rules": [rule(["d"], **conditions)]}
    )
    dispatcher = NotificationDispatcher(config, sender_factory=factory)
    async with running(dispatcher):
        kind, app, cluster = event
        dispatcher.submit(kind, "something happened", app, cluster, ABOUT)
        await dispatcher.drain()
    assert [n.kind for n in recorders[0].sent] == ([kind] if sent else [])


async def test_each_event_kind_reaches_a_webhook_with_its_facts() -> None:
    kinds = [
        "sync_failed",
        "sync_succeeded",
        "health_degraded",
        "drift",
        "cluster_unreachable",
        "prune_refused",
    ]
    async with http_receiver() as receiver:
        config = fleet(
            {
                "link": "https://grafana.example.com/d/fleet?var-app={app}&var-cluster={cluster}&rev={revision}",
                "destinations": [hook("ops", receiver.url())],
                "rules": [rule(["ops"], events=kinds)],
            }
        )
        async with running(NotificationDispatcher(config)) as dispatcher:
            for kind in kinds:
                app = None if kind == "cluster_unreachable" else "web"
                dispatcher.submit(kind, f"{kind} happened", app, "prod-eu-1", ABOUT, event_id=9)
            dispatcher.submit("config_reloaded", "not in the rule", None, None, {})
            requests = await receiver.wait_for(len(kinds))
            await dispatcher.drain()
    bodies = [json.loads(r.body) for r in requests]
    assert sorted(b["kind"] for b in bodies) == sorted(kinds)
    failed = next(b for b in bodies if b["kind"] == "sync_failed")
    assert failed["title"] == "Sync failed: web on prod-eu-1 at 3f2a1bc9d0e4"
    assert failed["message"] == "sync_failed happened"
    assert failed["commitMessage"] == "Bump web to 1.4.2"
    assert failed["author"] == "Jane Doe <jane@example.com>"
    assert failed["eventId"] == 9
    assert failed["link"] == (
        "https://grafana.example.com/d/fleet?var-app=web&var-cluster=prod-eu-1"
        f"&rev={ABOUT['revision']}"
    )
    unreachable = next(b for b in bodies if b["kind"] == "cluster_unreachable")
    assert unreachable["link"] == (
        f"https://grafana.example.com/d/fleet?var-app=&var-cluster=prod-eu-1&rev={ABOUT['revision']}"
    )
    assert dispatcher.stats["ops"].sent == len(kinds)


async def test_one_rule_sends_to_slack_and_email(tmp_path: Path) -> None:
    async with http_receiver() as slack, smtp_server(tmp_path) as smtp:
        url_file = tmp_path / "slack-url"
        url_file.write_text(slack.url("/services/T0/B0/XYZ") + "\n")
        (tmp_path / "user").write_text("fleet\n")
        (tmp_path / "password").write_text("pw-0123\n")
        config = fleet(
            {
                "link": "https://fleet.example.com/apps/{app}/{cluster}/syncs/{syncId}",
                "destinations": [
                    {"name": "chat", "slack": {"urlFile": str(url_file)}},
                    {
                        "name": "mail",
                        "email": {
                            "host": "127.0.0.1",
                            "port": smtp.port,
                            "caFile": str(smtp.ca_file),
                            "usernameFile": str(tmp_path / "user"),
                            "passwordFile": str(tmp_path / "password"),
                            "from": "fleet@example.com",
                            "to": ["oncall@example.com"],
                        },
                    },
                ],
                "rules": [rule(["chat", "mail"], events=["sync_failed"])],
            }
        )
        async with running(NotificationDispatcher(config)) as dispatcher:
            dispatcher.submit(
                "sync_failed", "wave 0: Deployment web/web Degraded", "web", "dev-1", ABOUT
            )
            (request,) = await slack.wait_for(1)
            (mail,) = await smtp.wait_for(1)
            await dispatcher.drain()
    link = "https://fleet.example.com/apps/web/dev-1/syncs/42"
    attachment = json.loads(request.body)["attachments"][0]
    assert attachment["title_link"] == link
    assert attachment["text"] == "wave 0: Deployment web/web Degraded"
    assert mail.message["Subject"] == "[fleet] Sync failed: web on dev-1 at 3f2a1bc9d0e4"
    assert f"Link: {link}" in mail.message.get_content()
    assert {n: (s.sent, s.failed) for n, s in dispatcher.stats.items()} == {
        "chat": (1, 0),
        "mail": (1, 0),
    }


async def test_delivery_retries_until_the_receiver_is_up() -> None:
    port = free_port()
    config = fleet(
        {
            "retry": FAST_RETRY,
            "destinations": [hook("ops", f"http://127.0.0.1:{port}/hook")],
            "rules": [rule(["ops"])],
        }
    )
    async with running(NotificationDispatcher(config)) as dispatcher:
        dispatcher.submit("sync_failed", "boom", "web", "dev-1", ABOUT)
        await anyio.sleep(0.3)  # attempts at about 0, 50 ms and 150 ms are refused
        assert dispatcher.stats["ops"].retried >= 1
        assert dispatcher.stats["ops"].sent == 0
        async with http_receiver(port) as receiver:
            (request,) = await receiver.wait_for(1)
            await dispatcher.drain()
    assert json.loads(request.body)["kind"] == "sync_failed"
    stats = dispatcher.stats["ops"]
    assert (stats.sent, stats.failed, stats.dropped) == (1, 0, 0)
    assert stats.retried >= 1


async def test_busy_receiver_gets_the_same_delivery_again() -> None:
    async with http_receiver() as receiver:
        receiver.statuses = [503, 429]
        config = fleet(
            {
                "retry": FAST_RETRY,
                "destinations": [hook("ops", receiver.url())],
                "rules": [rule(["ops"])],
            }
        )
        async with running(NotificationDispatcher(config)) as dispatcher:
            dispatcher.submit("sync_failed", "boom", "web", "dev-1", ABOUT)
            requests = await receiver.wait_for(3)
            await dispatcher.drain()
    ids = {r.headers["X-Fleet-Delivery"] for r in requests}
    assert len(ids) == 1
    gaps = [b.at - a.at for a, b in itertools.pairwise(requests)]
    assert all(gap >= 0.03 for gap in gaps), gaps  # backed off (50 ms +- 20 % jitter, then 100)
    assert (dispatcher.stats["ops"].sent, dispatcher.stats["ops"].retried) == (1, 2)


async def test_final_failure_is_logged_and_counted(caplog: pytest.LogCaptureFixture) -> None:
    async with http_receiver() as receiver:
        receiver.statuses = [400]
        config = fleet(
            {
                "retry": FAST_RETRY,
                "destinations": [hook("ops", receiver.url())],
                "rules": [rule(["ops"])],
            }
        )
        with caplog.at_level(logging.INFO, logger="fleet.runtime.notifications"):
            async with running(NotificationDispatcher(config)) as dispatcher:
                dispatcher.submit("sync_failed", "boom", "web", "dev-1", ABOUT)
                await receiver.wait_for(1)
                await dispatcher.drain()
    assert len(receiver.requests) == 1  # a 400 is not retried
    assert (dispatcher.stats["ops"].failed, dispatcher.stats["ops"].retried) == (1, 0)
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert errors == [
        "notification to ops failed after 1 attempt(s), giving up: HTTP 400: busy "
        "(Sync failed: web on dev-1 at 3f2a1bc9d0e4)"
    ]


async def test_repeats_are_grouped_then_summarised() -> None:
    async with http_receiver() as receiver:
        config = fleet(
            {
                "groupWindow": "400ms",
                "destinations": [hook("ops", receiver.url())],
                "rules": [rule(["ops"])],
            }
        )
        async with running(NotificationDispatcher(config)) as dispatcher:
            started = time.monotonic()
            for _ in range(5):
                dispatcher.submit("sync_failed", "boom", "web", "dev-1", ABOUT)
            dispatcher.submit("sync_failed", "another reason", "web", "dev-1", ABOUT)
            dispatcher.submit("sync_failed", "boom", "web", "prod-eu-1", ABOUT)
            first = list(await receiver.wait_for(3))
            assert time.monotonic() - started < 0.3  # sent at once, not held for the window
            assert dispatcher.stats["ops"].grouped == 4
            requests = await receiver.wait_for(4)
            summary = json.loads(requests[3].body)
            assert time.monotonic() - started >= 0.38
            # A window that closes without repeats ends the group: the next one goes at once.
            await anyio.sleep(0.9)
            dispatcher.submit("sync_failed", "boom", "web", "dev-1", ABOUT)
            requests = await receiver.wait_for(5)
            await dispatcher.drain()
    assert sorted(json.loads(r.body)["message"] for r in first) == [
        "another reason",
        "boom",
        "boom",
    ]
    assert summary["repeats"] == 4
    assert summary["title"] == "4 more like this in 0.4s: Sync failed: web on dev-1 at 3f2a1bc9d0e4"
    assert summary["cluster"] == "dev-1"
    assert json.loads(requests[4].body)["repeats"] == 0
    assert len(requests) == 5
    assert dispatcher.stats["ops"].sent == 5


async def test_a_hanging_destination_slows_neither_submit_nor_the_others(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with http_receiver() as stuck, http_receiver() as healthy:
        stuck.hang = True
        config = fleet(
            {
                "timeout": "400ms",
                "retry": {"limit": 0},
                "groupWindow": "0s",
                "destinations": [hook("stuck", stuck.url()), hook("healthy", healthy.url())],
                "rules": [rule(["stuck", "healthy"])],
            }
        )
        async with running(NotificationDispatcher(config)) as dispatcher:
            # A sync-like loop: a step every 10 ms, an event after each.
            slowest = 0.0
            started = time.monotonic()
            for step in range(20):
                await anyio.sleep(0.01)
                before = time.perf_counter()
                dispatcher.submit("sync_failed", f"step {step}", "web", "dev-1", ABOUT)
                slowest = max(slowest, time.perf_counter() - before)
            loop_time = time.monotonic() - started
            await healthy.wait_for(20)
            with anyio.fail_after(10):
                await dispatcher.drain()  # until every attempt to "stuck" has timed out
    assert slowest < 0.05  # submit never waits for a delivery (one would take >= 400 ms)
    assert loop_time < 1.5  # the loop kept its pace: 20 x 10 ms, not 20 x 400 ms
    assert dispatcher.stats["healthy"].sent == 20
    assert dispatcher.stats["stuck"].failed == 20
    assert "giving up: no answer within 0.4s" in caplog.text


async def test_a_full_queue_drops_and_counts(caplog: pytest.LogCaptureFixture) -> None:
    async with http_receiver() as stuck:
        stuck.hang = True
        config = fleet(
            {
                "queueSize": 2,
                "groupWindow": "0s",
                "destinations": [hook("stuck", stuck.url())],
                "rules": [rule(["stuck"])],
            }
        )
        async with running(NotificationDispatcher(config)) as dispatcher:
            for step in range(10):
                dispatcher.submit("drift", f"object {step} differs", "web", "dev-1", {})
            assert dispatcher.stats["stuck"].dropped == 8
            assert dispatcher.queued("stuck") == 2
    assert caplog.text.count("notification to stuck dropped: 2 already queued") == 8
    # Stopping with two in flight (and nothing else queued) counts those too.
    assert dispatcher.stats["stuck"].dropped == 10


async def test_reload_adds_a_destination_and_keeps_counters() -> None:
    async with http_receiver() as first, http_receiver() as second:
        config = fleet({"destinations": [hook("a", first.url())], "rules": [rule(["a"])]})
        async with running(NotificationDispatcher(config)) as dispatcher:
            dispatcher.submit("drift", "one", "web", "dev-1", {})
            await first.wait_for(1)
            dispatcher.configure(
                fleet(
                    {
                        "destinations": [hook("a", first.url()), hook("b", second.url())],
                        "rules": [rule(["a", "b"])],
                    }
                )
            )
            dispatcher.submit("drift", "two", "web", "dev-1", {})
            await first.wait_for(2)
            await second.wait_for(1)
            await dispatcher.drain()
    assert dispatcher.stats["a"].sent == 2
    assert dispatcher.stats["b"].sent == 1


async def test_drain_sends_pending_summaries_now() -> None:
    async with http_receiver() as receiver:
        config = fleet(
            {
                "groupWindow": "1h",
                "destinations": [hook("ops", receiver.url())],
                "rules": [rule(["ops"])],
            }
        )
        async with running(NotificationDispatcher(config)) as dispatcher:
            for _ in range(3):
                dispatcher.submit("cluster_unreachable", "timed out", None, "dev-1", {})
            await dispatcher.drain()
    bodies = [json.loads(r.body) for r in receiver.requests]
    assert [b["repeats"] for b in bodies] == [0, 2]


async def test_no_secret_reaches_the_logs(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async with http_receiver() as receiver:
        receiver.statuses = [500, 403]
        url_file = tmp_path / "slack-url"
        url_file.write_text(receiver.url("/services/T0/B0/TOPSECRET") + "\n")
        config = fleet(
            {
                "retry": FAST_RETRY,
                "destinations": [{"name": "chat", "slack": {"urlFile": str(url_file)}}],
                "rules": [rule(["chat"])],
            }
        )
        with caplog.at_level(logging.DEBUG):
            async with running(NotificationDispatcher(config)) as dispatcher:
                dispatcher.submit("sync_failed", "boom", "web", "dev-1", ABOUT)
                await receiver.wait_for(2)
                await dispatcher.drain()
    assert dispatcher.stats["chat"].failed == 1
    assert "HTTP 403" in caplog.text
    assert "TOPSECRET" not in caplog.text
