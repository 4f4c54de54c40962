"""Servers that are down or silent: a fast, typed, clear error instead of a hang."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from fleet.adapters.git import GitAuth, GitSourceSpec, GitTimeout, GitTimeouts, GitUnreachable
from tests.adapters.git.conftest import MakeMirror
from tests.support.gitservers import LOOPBACK


@pytest.fixture
def closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that completes the TCP handshake (backlog) and then never says a word."""
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        sock.listen(8)
        yield int(sock.getsockname()[1])


def _url(scheme: str, port: int) -> str:
    return f"{scheme}://{'git@' if scheme == 'ssh' else ''}{LOOPBACK}:{port}/platform.git"


def _known_hosts_for_anything(tmp_path: Path, port: int) -> GitAuth:
    """SSH fetches stop before connecting without an entry; give them a (random) one."""
    key = "AAAAC3NzaC1lZDI1NTE5AAAAIHk3hq1m2cWWz6tEEKi7E1nSR5yxwqDTOi8LT1tXUMWd"
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(f"[{LOOPBACK}]:{port} ssh-ed25519 {key}\n")
    return GitAuth(known_hosts_file=known_hosts, ssh_key_file=tmp_path / "unused")


@pytest.mark.parametrize("scheme", ["git", "http", "https", "ssh"])
def test_a_closed_port_fails_fast_as_unreachable(
    scheme: str, closed_port: int, tmp_path: Path, make_mirror: MakeMirror
) -> None:
    auth = _known_hosts_for_anything(tmp_path, closed_port)
    spec = GitSourceSpec("platform", _url(scheme, closed_port), auth=auth)
    started = time.monotonic()

    with pytest.raises(GitUnreachable) as caught:
        make_mirror(spec).fetch()

    assert time.monotonic() - started < 3
    assert not isinstance(caught.value, GitTimeout)
    assert "refused" in str(caught.value).lower()
    assert f"{LOOPBACK}:{closed_port}" in str(caught.value)


@pytest.mark.parametrize("scheme", ["git", "http", "ssh"])
def test_a_silent_server_times_out(
    scheme: str, silent_port: int, tmp_path: Path, make_mirror: MakeMirror
) -> None:
    auth = _known_hosts_for_anything(tmp_path, silent_port)
    spec = GitSourceSpec("platform", _url(scheme, silent_port), auth=auth)
    started = time.monotonic()

    with pytest.raises(GitTimeout, match=r"(?i)timed out"):
        make_mirror(spec, GitTimeouts(connect=1.0, transfer=0.5)).fetch()

    assert 0.4 < time.monotonic() - started < 5
