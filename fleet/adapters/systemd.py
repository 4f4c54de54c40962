"""Telling systemd how the daemon is doing: the sd_notify protocol, in a few lines.

Under ``Type=notify`` systemd passes a datagram socket in ``NOTIFY_SOCKET`` and waits for
``READY=1`` before it considers the service started (so ``systemctl start`` returns once
fleet really serves). The daemon also sends ``RELOADING=1`` (with ``MONOTONIC_USEC``,
which systemd 253+ requires for ``Type=notify-reload``) before a SIGHUP reload and
``READY=1`` after it, ``STOPPING=1`` when it begins to shut down, ``STATUS=`` lines that
``systemctl status`` shows, and ``WATCHDOG=1`` pings every half ``WATCHDOG_USEC`` so that
systemd restarts a daemon whose event loop has hung.

Without ``NOTIFY_SOCKET`` (run by hand, in a container) every call does nothing.

Why not a library: ``sdnotify`` has had no release since 2017 and has no watchdog
helper; ``systemd-python`` compiles against libsystemd headers, a build dependency for
every install. The protocol itself is one ``sendto`` on an AF_UNIX datagram socket.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Mapping

import anyio

log = logging.getLogger(__name__)

#: A send that cannot complete within this time is abandoned (systemd reads promptly).
SEND_TIMEOUT = 2.0


class SystemdNotifier:
    """Sends sd_notify messages to one socket, or nowhere when ``address`` is None."""

    def __init__(self, address: str | None, watchdog_usec: int | None = None) -> None:
        self.address = address
        self.watchdog_usec = watchdog_usec

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> SystemdNotifier:
        """The notifier systemd asked for through ``NOTIFY_SOCKET`` and ``WATCHDOG_*``.

        The watchdog applies only if ``WATCHDOG_PID`` is unset or names this process
        (a child that inherited the variables must not feed its parent's watchdog).
        """
        env = os.environ if environ is None else environ
        address = env.get("NOTIFY_SOCKET") or None
        watchdog_usec = _positive_int(env.get("WATCHDOG_USEC"))
        watchdog_pid = _positive_int(env.get("WATCHDOG_PID"))
        if watchdog_pid is not None and watchdog_pid != os.getpid():
            watchdog_usec = None
        return cls(address, watchdog_usec)

    @property
    def enabled(self) -> bool:
        return self.address is not None

    @property
    def watchdog_interval(self) -> float | None:
        """Seconds between watchdog pings (half the timeout), or None if no watchdog."""
        if self.address is None or self.watchdog_usec is None:
            return None
        return self.watchdog_usec / 2_000_000

    def notify(self, **fields: str | int) -> bool:
        """Send ``KEY=value`` lines (keyword names upper-cased); True if delivered."""
        if self.address is None:
            return False
        message = "".join(f"{key.upper()}={_one_line(value)}\n" for key, value in fields.items())
        target = "\0" + self.address[1:] if self.address.startswith("@") else self.address
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.settimeout(SEND_TIMEOUT)
                sock.sendto(message.encode(), target)
        except OSError as error:
            # Never fatal: a daemon must not stop serving because its supervisor went away.
            log.warning("cannot notify systemd at %s: %s", self.address, error)
            return False
        return True

    def ready(self, status: str | None = None) -> bool:
        """The daemon serves (at start, and again after a reload)."""
        return self.notify(ready=1, **_status(status))

    def reloading(self, status: str | None = None) -> bool:
        """A reload begins; ``ready()`` must follow when it is done (or has failed)."""
        monotonic_usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        return self.notify(reloading=1, monotonic_usec=monotonic_usec, **_status(status))

    def stopping(self, status: str | None = None) -> bool:
        """Shutdown begins."""
        return self.notify(stopping=1, **_status(status))

    def status(self, text: str) -> bool:
        """A one-line state shown by ``systemctl status``."""
        return self.notify(status=text)

    def watchdog(self) -> bool:
        """ "Still alive": must arrive within ``WATCHDOG_USEC`` of the previous one."""
        return self.notify(watchdog=1)

    async def feed_watchdog(self) -> None:
        """Ping the watchdog forever at half its timeout; returns at once if there is none.

        Run it in the daemon's task group: if the event loop hangs, the pings stop and
        systemd restarts fleet.
        """
        interval = self.watchdog_interval
        if interval is None:
            return
        while True:
            self.watchdog()
            await anyio.sleep(interval)


def _status(text: str | None) -> dict[str, str]:
    return {} if text is None else {"status": text}


def _one_line(value: str | int) -> str:
    """Protocol values end at a newline; keep a multi-line status on one line."""
    return " ".join(str(value).splitlines())


def _positive_int(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        value = int(text)
    except ValueError:
        return None
    return value if value > 0 else None
