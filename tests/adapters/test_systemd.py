"""sd_notify against a real AF_UNIX datagram socket, as systemd would listen on it."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from fleet.adapters.systemd import SystemdNotifier


class Listener:
    """A bound datagram socket standing in for systemd's notify socket."""

    def __init__(self, sock: socket.socket, address: str) -> None:
        self.sock = sock
        self.address = address

    def receive(self) -> dict[str, str]:
        data = self.sock.recv(4096).decode()
        assert data.endswith("\n")
        return dict(line.split("=", 1) for line in data.splitlines())

    def nothing_waiting(self) -> bool:
        self.sock.setblocking(False)
        try:
            self.sock.recv(4096)
        except BlockingIOError:
            return True
        finally:
            self.sock.settimeout(5)
        return False


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[Listener]:
    path = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        sock.settimeout(5)
        yield Listener(sock, str(path))


@pytest.fixture
def abstract_listener() -> Iterator[Listener]:
    name = f"fleet-test-{os.getpid()}-{time.monotonic_ns()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(5)
        yield Listener(sock, "@" + name)


def test_ready_with_status(listener: Listener) -> None:
    notifier = SystemdNotifier(listener.address)
    assert notifier.ready("watching 3 clusters")
    assert listener.receive() == {"READY": "1", "STATUS": "watching 3 clusters"}


def test_reloading_carries_the_monotonic_clock(listener: Listener) -> None:
    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    SystemdNotifier(listener.address).reloading()
    message = listener.receive()
    after = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    assert message["RELOADING"] == "1"
    assert before <= int(message["MONOTONIC_USEC"]) <= after


def test_stopping_status_and_watchdog(listener: Listener) -> None:
    notifier = SystemdNotifier(listener.address)
    notifier.stopping("draining 2 syncs")
    notifier.status("line one\nline two")
    notifier.watchdog()
    assert listener.receive() == {"STOPPING": "1", "STATUS": "draining 2 syncs"}
    assert listener.receive() == {"STATUS": "line one line two"}
    assert listener.receive() == {"WATCHDOG": "1"}


def test_abstract_socket_names(abstract_listener: Listener) -> None:
    assert SystemdNotifier(abstract_listener.address).ready()
    assert abstract_listener.receive() == {"READY": "1"}


def test_without_notify_socket_nothing_is_sent() -> None:
    notifier = SystemdNotifier.from_environment({})
    assert not notifier.enabled
    assert notifier.ready() is False
    assert notifier.watchdog_interval is None


def test_a_vanished_socket_is_not_fatal(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    notifier = SystemdNotifier(str(tmp_path / "gone.sock"))
    assert notifier.ready() is False
    assert "cannot notify systemd" in caplog.text


@pytest.mark.parametrize(
    ("environ", "interval"),
    [
        ({"WATCHDOG_USEC": "30000000"}, 15.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}, 15.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}, None),
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "soon"}, None),
        ({}, None),
    ],
)
def test_watchdog_interval_is_half_the_timeout(
    listener: Listener, environ: dict[str, str], interval: float | None
) -> None:
    notifier = SystemdNotifier.from_environment({"NOTIFY_SOCKET": listener.address, **environ})
    assert notifier.watchdog_interval == interval


@pytest.mark.anyio
async def test_feed_watchdog_pings_until_cancelled(listener: Listener) -> None:
    notifier = SystemdNotifier(listener.address, watchdog_usec=100_000)  # ping every 50 ms
    with anyio.move_on_after(0.5):
        await notifier.feed_watchdog()
    pings = 0
    while not listener.nothing_waiting():
        pings += 1
    assert 5 <= pings <= 11


@pytest.mark.anyio
async def test_feed_watchdog_returns_when_there_is_no_watchdog(listener: Listener) -> None:
    with anyio.fail_after(1):
        await SystemdNotifier(listener.address).feed_watchdog()
    assert listener.nothing_waiting()
