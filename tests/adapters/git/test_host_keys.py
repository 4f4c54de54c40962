"""SSH host keys: only a key the known_hosts file lists for this host and port is accepted."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from fleet.adapters.git import GitAuth, GitSourceSpec, HostKeyMismatch, HostKeyUnknown
from tests.adapters.git.conftest import MakeMirror
from tests.support.gitrepos import WorkRepo
from tests.support.gitservers import LOOPBACK, SshServer, generate_ssh_key


def _spec(server: SshServer, origin: WorkRepo, key: Path, known_hosts: Path) -> GitSourceSpec:
    auth = GitAuth(ssh_key_file=key, known_hosts_file=known_hosts)
    return GitSourceSpec("platform", server.url(origin.origin), branch="main", auth=auth)


def _public_line(public: Path) -> str:
    return " ".join(public.read_text().split()[:2])


def test_an_unknown_host_is_refused_before_connecting(
    ssh_server: SshServer,
    origin: WorkRepo,
    ssh_client_key: Path,
    tmp_path: Path,
    make_mirror: MakeMirror,
) -> None:
    known_hosts = tmp_path / "other_known_hosts"
    known_hosts.write_text(
        f"git.example.com {_public_line(ssh_server.host_key.with_suffix('.pub'))}\n"
    )

    with pytest.raises(HostKeyUnknown) as caught:
        make_mirror(_spec(ssh_server, origin, ssh_client_key, known_hosts)).fetch()

    assert f"[{LOOPBACK}]:{ssh_server.port}" in str(caught.value)
    assert str(known_hosts) in str(caught.value)
    assert "Accepted publickey" not in ssh_server.log.read_text()


def test_a_changed_host_key_is_refused(
    ssh_server: SshServer,
    origin: WorkRepo,
    ssh_client_key: Path,
    tmp_path: Path,
    make_mirror: MakeMirror,
) -> None:
    impostor = generate_ssh_key(tmp_path / "impostor_host_key")
    known_hosts = tmp_path / "stale_known_hosts"
    known_hosts.write_text(ssh_server.known_hosts_line(impostor.with_suffix(".pub")))

    with pytest.raises(HostKeyMismatch, match="does not match"):
        make_mirror(_spec(ssh_server, origin, ssh_client_key, known_hosts)).fetch()

    assert "Accepted publickey" not in ssh_server.log.read_text()  # the key was never offered


def test_hashed_known_hosts_entries_are_understood(
    ssh_server: SshServer,
    origin: WorkRepo,
    ssh_client_key: Path,
    known_hosts: Path,
    make_mirror: MakeMirror,
) -> None:
    subprocess.run(["ssh-keygen", "-H", "-f", str(known_hosts)], check=True, capture_output=True)
    assert known_hosts.read_text().startswith("|1|")

    revision = make_mirror(_spec(ssh_server, origin, ssh_client_key, known_hosts)).fetch()

    assert revision.sha == origin.head()


def test_an_entry_without_the_port_does_not_vouch_for_another_port(
    ssh_server: SshServer,
    origin: WorkRepo,
    ssh_client_key: Path,
    tmp_path: Path,
    make_mirror: MakeMirror,
) -> None:
    """OpenSSH's rule; libssh2 alone would accept it."""
    known_hosts = tmp_path / "portless_known_hosts"
    known_hosts.write_text(f"{LOOPBACK} {_public_line(ssh_server.host_key.with_suffix('.pub'))}\n")

    with pytest.raises(HostKeyUnknown):
        make_mirror(_spec(ssh_server, origin, ssh_client_key, known_hosts)).fetch()


def test_a_revoked_key_is_refused_even_when_also_listed(
    ssh_server: SshServer,
    origin: WorkRepo,
    ssh_client_key: Path,
    known_hosts: Path,
    make_mirror: MakeMirror,
) -> None:
    line = ssh_server.known_hosts_line()
    known_hosts.write_text(line + "@revoked * " + line.split(" ", 1)[1])

    with pytest.raises(HostKeyUnknown, match="revoked"):
        make_mirror(_spec(ssh_server, origin, ssh_client_key, known_hosts)).fetch()


def test_lines_libssh2_cannot_read_do_not_break_the_file(
    ssh_server: SshServer,
    origin: WorkRepo,
    ssh_client_key: Path,
    known_hosts: Path,
    tmp_path: Path,
    make_mirror: MakeMirror,
) -> None:
    ca = generate_ssh_key(tmp_path / "ca")
    known_hosts.write_text(
        f"# fleet test\n@cert-authority *.example.com {_public_line(ca.with_suffix('.pub'))}\n"
        + ssh_server.known_hosts_line()
    )

    assert make_mirror(_spec(ssh_server, origin, ssh_client_key, known_hosts)).fetch().sha


def test_concurrent_fetches_each_use_their_own_known_hosts(
    ssh_server: SshServer,
    origin: WorkRepo,
    ssh_client_key: Path,
    known_hosts: Path,
    tmp_path: Path,
    make_mirror: MakeMirror,
) -> None:
    """libgit2's known_hosts location is global: a trusting fetch must not lend it out."""
    impostor = generate_ssh_key(tmp_path / "impostor_host_key")
    stale = tmp_path / "stale_known_hosts"
    stale.write_text(ssh_server.known_hosts_line(impostor.with_suffix(".pub")))
    good = make_mirror(_spec(ssh_server, origin, ssh_client_key, known_hosts))
    bad = make_mirror(
        GitSourceSpec(
            "impostor-check",
            ssh_server.url(origin.origin),
            auth=GitAuth(ssh_key_file=ssh_client_key, known_hosts_file=stale),
        )
    )
    outcomes: dict[str, list[str]] = {"good": [], "bad": []}

    def run(name: str, mirror_fetch: Callable[[], object]) -> None:
        for _ in range(4):
            try:
                mirror_fetch()
                outcomes[name].append("ok")
            except HostKeyMismatch:
                outcomes[name].append("mismatch")

    threads = [
        threading.Thread(target=run, args=("good", good.fetch)),
        threading.Thread(target=run, args=("bad", bad.fetch)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert outcomes == {"good": ["ok"] * 4, "bad": ["mismatch"] * 4}
