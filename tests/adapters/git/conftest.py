"""Fixtures: a seeded repository, served over file://, git://, HTTP (basic auth) and SSH.

Every server is real and listens on loopback for one test only. ``served`` is
parametrised over the four transports, so a test taking it runs once per transport with
the URL and credentials a user would configure for it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from fleet.adapters.git import GitAuth, GitMirror, GitSourceSpec, GitTimeouts
from tests.support.gitrepos import WorkRepo, init_bare
from tests.support.gitservers import (
    GitDaemon,
    GitHttpServer,
    SshServer,
    generate_ssh_key,
    sshd_missing_reason,
)

HTTP_USER = "fleet-bot"
HTTP_PASSWORD = "hunter2-correct-horse-battery"
DEPLOYMENT = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n"


@dataclass(frozen=True)
class Served:
    """How to reach the seeded repository over one transport."""

    transport: str
    url: str
    auth: GitAuth

    def spec(
        self,
        name: str = "platform",
        *,
        branch: str | None = None,
        tag: str | None = None,
        commit: str | None = None,
    ) -> GitSourceSpec:
        return GitSourceSpec(name, self.url, branch, tag, commit, auth=self.auth)


@pytest.fixture
def served_root(tmp_path: Path) -> Path:
    root = tmp_path / "served"
    root.mkdir()
    return root


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "state"


@pytest.fixture
def origin(served_root: Path, tmp_path: Path) -> WorkRepo:
    """``platform.git`` with one commit on main, an annotated and a lightweight tag."""
    work = WorkRepo(tmp_path / "work", init_bare(served_root / "platform.git"))
    work.write("apps/web/deployment.yaml", DEPLOYMENT)
    work.write("scripts/check.sh", "#!/bin/sh\nexit 0\n", executable=True)
    work.symlink("apps/web/current.yaml", "deployment.yaml")
    work.symlink("apps/escape", "../../../etc/passwd")
    work.commit("first: web deployment")
    work.tag("v1.0.0")
    work.tag("light", annotated=False)
    work.push()
    return work


MakeMirror = Callable[..., GitMirror]


@pytest.fixture
def make_mirror(state_dir: Path) -> Iterator[MakeMirror]:
    """``make_mirror(spec, timeouts=None)``: a mirror in ``state_dir``, closed after the test."""
    opened: list[GitMirror] = []

    def make(spec: GitSourceSpec, timeouts: GitTimeouts | None = None) -> GitMirror:
        mirror = GitMirror(spec, state_dir, timeouts)
        opened.append(mirror)
        return mirror

    yield make
    for mirror in opened:
        mirror.close()


@pytest.fixture
def git_daemon(served_root: Path) -> Iterator[GitDaemon]:
    with GitDaemon(served_root) as daemon:
        yield daemon


@pytest.fixture
def http_server(served_root: Path) -> Iterator[GitHttpServer]:
    with GitHttpServer(served_root, HTTP_USER, HTTP_PASSWORD) as server:
        yield server


@pytest.fixture
def http_auth(tmp_path: Path) -> GitAuth:
    secrets = tmp_path / "secrets"
    secrets.mkdir(exist_ok=True)
    (secrets / "username").write_text(HTTP_USER + "\n")
    (secrets / "password").write_text(HTTP_PASSWORD + "\n")
    return GitAuth(username_file=secrets / "username", password_file=secrets / "password")


@pytest.fixture
def ssh_client_key(tmp_path: Path) -> Path:
    if reason := sshd_missing_reason():
        pytest.skip(reason)
    return generate_ssh_key(tmp_path / "client_key")


@pytest.fixture
def ssh_server(tmp_path: Path, ssh_client_key: Path) -> Iterator[SshServer]:
    public = ssh_client_key.with_name(ssh_client_key.name + ".pub")
    with SshServer(tmp_path / "sshd", public) as server:
        yield server


@pytest.fixture
def known_hosts(tmp_path: Path, ssh_server: SshServer) -> Path:
    path = tmp_path / "known_hosts"
    path.write_text(ssh_server.known_hosts_line())
    return path


@pytest.fixture
def ssh_auth(ssh_client_key: Path, known_hosts: Path) -> GitAuth:
    return GitAuth(ssh_key_file=ssh_client_key, known_hosts_file=known_hosts)


@pytest.fixture(params=["file", "git", "http", "ssh"])
def served(request: pytest.FixtureRequest, origin: WorkRepo) -> Served:
    """The seeded repository over each transport in turn."""
    transport: str = request.param
    if transport == "file":
        return Served(transport, origin.origin.as_uri(), GitAuth())
    if transport == "git":
        daemon: GitDaemon = request.getfixturevalue("git_daemon")
        return Served(transport, daemon.url("platform.git"), GitAuth())
    if transport == "http":
        server: GitHttpServer = request.getfixturevalue("http_server")
        return Served(transport, server.url("platform.git"), request.getfixturevalue("http_auth"))
    sshd: SshServer = request.getfixturevalue("ssh_server")
    return Served(transport, sshd.url(origin.origin), request.getfixturevalue("ssh_auth"))
