"""HTTPS: a certificate that does not validate is refused; a trusted one is used."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pygit2
import pytest

from fleet.adapters.git import CertificateInvalid, GitAuth, GitSourceSpec
from tests.adapters.git.conftest import HTTP_PASSWORD, HTTP_USER, MakeMirror
from tests.support.gitrepos import WorkRepo
from tests.support.gitservers import GitHttpServer, self_signed_certificate


@pytest.fixture
def https_server(served_root: Path, tmp_path: Path) -> Iterator[GitHttpServer]:
    tls = self_signed_certificate(tmp_path / "tls")
    with GitHttpServer(served_root, HTTP_USER, HTTP_PASSWORD, tls=tls) as server:
        yield server


@pytest.fixture
def trusting(https_server: GitHttpServer) -> Iterator[None]:
    """Trust the test certificate process-wide (libgit2's CA locations are global)."""
    assert https_server.tls is not None
    cert_file, cert_dir = pygit2.settings.ssl_cert_file, pygit2.settings.ssl_cert_dir
    if cert_file is None or cert_dir is None:
        pytest.skip("this machine has no system CA store for libgit2 to restore afterwards")
    pygit2.settings.set_ssl_cert_locations(str(https_server.tls[0]), None)
    yield
    pygit2.settings.set_ssl_cert_locations(cert_file, cert_dir)


def test_a_self_signed_certificate_is_refused(
    https_server: GitHttpServer, origin: WorkRepo, http_auth: GitAuth, make_mirror: MakeMirror
) -> None:
    spec = GitSourceSpec("platform", https_server.url("platform.git"), auth=http_auth)

    with pytest.raises(CertificateInvalid, match=r"TLS certificate of 127\.0\.0\.1"):
        make_mirror(spec).fetch()


def test_a_certificate_from_a_trusted_authority_is_accepted(
    https_server: GitHttpServer,
    trusting: None,
    origin: WorkRepo,
    http_auth: GitAuth,
    make_mirror: MakeMirror,
) -> None:
    spec = GitSourceSpec("platform", https_server.url("platform.git"), auth=http_auth)

    assert make_mirror(spec).fetch().sha == origin.head()
