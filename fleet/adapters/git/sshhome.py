"""The home directory libssh2 reads known_hosts from, lent to one SSH connection at a time.

libgit2 checks an SSH server's key against ``<home>/.ssh/known_hosts``, where ``<home>``
is a process-wide libgit2 setting. fleet points it at a private directory holding only
the keys selected for the source being fetched (see :mod:`.known_hosts`), so a source's
known_hosts never vouches for another source's host. Because the setting is global, a
lease holds a lock from just before the connection until libgit2 has compared the host
key (the certificate callback, which releases it) or the fetch ends: SSH fetches of many
sources overlap except for that short handshake.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from types import TracebackType

import pygit2

from fleet.adapters.git.known_hosts import KnownHostKeys

_HOMEDIR_LOCK = threading.Lock()


def prepare_ssh_home(home: Path, keys: KnownHostKeys) -> Path:
    """Write ``home/.ssh/known_hosts`` with exactly ``keys``; returns ``home``."""
    ssh_dir = home / ".ssh"
    ssh_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    staged = ssh_dir / "known_hosts.tmp"
    staged.write_text(keys.libssh2_file())
    os.replace(staged, ssh_dir / "known_hosts")
    return home


class SshHomeLease:
    """Points libgit2's home at ``home`` while held; idempotent :meth:`release`."""

    def __init__(self, home: Path) -> None:
        self._home = home
        self._previous: str | None = None
        self._held = False

    def __enter__(self) -> SshHomeLease:
        _HOMEDIR_LOCK.acquire()
        self._held = True
        try:
            self._previous = pygit2.settings.homedir
            pygit2.settings.homedir = str(self._home)
        except BaseException:
            self.release()
            raise
        return self

    def release(self) -> None:
        """Give the home setting back; called once the host key is checked, and on exit."""
        if not self._held:
            return
        self._held = False
        try:
            if self._previous is not None:
                pygit2.settings.homedir = self._previous
        finally:
            _HOMEDIR_LOCK.release()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
