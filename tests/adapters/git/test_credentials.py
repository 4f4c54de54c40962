"""Credentials by file over HTTP and SSH: accepted, refused, and never leaked."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from fleet.adapters.git import (
    GitAuth,
    GitAuthFailed,
    GitError,
    GitSetupError,
    GitSourceSpec,
)
from tests.adapters.git.conftest import HTTP_PASSWORD, MakeMirror
from tests.support.gitrepos import WorkRepo
from tests.support.gitservers import GitHttpServer, SshServer, generate_ssh_key

TOKEN = "ghp_T0kenThatMustNeverBePrinted"


def _files_containing(root: Path, needle: str) -> list[Path]:
    return [
        path
        for path in root.rglob("*")
        if path.is_file() and not path.is_symlink() and needle.encode() in path.read_bytes()
    ]


def _assert_secret_free(error: BaseException, *secrets: str) -> None:
    shown = " ".join([str(error), repr(error), *map(str, error.args)])
    for secret in secrets:
        assert secret not in shown
    assert error.__cause__ is None
    assert error.__context__ is None or error.__suppress_context__


@pytest.mark.parametrize("token_username", ["x-access-token", "oauth2"])
def test_a_token_is_sent_as_the_basic_auth_password(
    served_root: Path,
    origin: WorkRepo,
    tmp_path: Path,
    make_mirror: MakeMirror,
    state_dir: Path,
    token_username: str,
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    auth = GitAuth(token_file=token_file, token_username=token_username)
    with GitHttpServer(served_root, token_username, TOKEN) as server:
        spec = GitSourceSpec("platform", server.url("platform.git"), branch="main", auth=auth)
        revision = make_mirror(spec).fetch()

    assert revision.sha == origin.head()
    assert _files_containing(state_dir, TOKEN) == []


def test_a_wrong_password_fails_fast_without_leaking_either_password(
    http_server: GitHttpServer, origin: WorkRepo, http_auth: GitAuth, make_mirror: MakeMirror
) -> None:
    assert http_auth.password_file is not None
    http_auth.password_file.write_text("wrong-Password-42\n")
    spec = GitSourceSpec("platform", http_server.url("platform.git"), auth=http_auth)

    with pytest.raises(GitAuthFailed) as caught:
        make_mirror(spec).fetch()

    assert str(http_auth.password_file) in str(caught.value)
    assert "rejected" in str(caught.value)
    _assert_secret_free(caught.value, "wrong-Password-42", HTTP_PASSWORD)
    assert 1 <= http_server.rejected <= 3  # one retry, not a loop


def test_a_server_asking_for_credentials_the_source_lacks_says_what_to_set(
    http_server: GitHttpServer, origin: WorkRepo, make_mirror: MakeMirror
) -> None:
    spec = GitSourceSpec("platform", http_server.url("platform.git"))

    with pytest.raises(GitAuthFailed, match=r"auth\.tokenFile"):
        make_mirror(spec).fetch()


def test_a_missing_credentials_file_is_named(
    http_server: GitHttpServer, origin: WorkRepo, tmp_path: Path, make_mirror: MakeMirror
) -> None:
    auth = GitAuth(token_file=tmp_path / "no-such-token")
    spec = GitSourceSpec("platform", http_server.url("platform.git"), auth=auth)

    with pytest.raises(GitSetupError, match="no-such-token"):
        make_mirror(spec).fetch()


def test_a_password_in_the_url_is_refused_and_not_repeated(make_mirror: MakeMirror) -> None:
    spec = GitSourceSpec("platform", f"https://bot:{TOKEN}@git.example.com/platform.git")

    with pytest.raises(GitSetupError) as caught:
        make_mirror(spec)

    assert "https://***@git.example.com/platform.git" in str(caught.value)
    _assert_secret_free(caught.value, TOKEN)


def test_an_ssh_key_the_server_does_not_accept_is_refused(
    ssh_server: SshServer,
    origin: WorkRepo,
    known_hosts: Path,
    tmp_path: Path,
    make_mirror: MakeMirror,
) -> None:
    stranger = generate_ssh_key(tmp_path / "stranger_key")
    auth = GitAuth(ssh_key_file=stranger, known_hosts_file=known_hosts)
    spec = GitSourceSpec("platform", ssh_server.url(origin.origin), auth=auth)

    with pytest.raises(GitAuthFailed, match="rejected the SSH key"):
        make_mirror(spec).fetch()


def test_ssh_without_a_key_says_what_to_set(
    ssh_server: SshServer, origin: WorkRepo, known_hosts: Path, make_mirror: MakeMirror
) -> None:
    spec = GitSourceSpec(
        "platform", ssh_server.url(origin.origin), auth=GitAuth(known_hosts_file=known_hosts)
    )

    with pytest.raises(GitAuthFailed, match=r"auth\.sshKeyFile"):
        make_mirror(spec).fetch()


def test_ssh_works_without_the_public_key_file(
    ssh_server: SshServer, origin: WorkRepo, ssh_auth: GitAuth, make_mirror: MakeMirror
) -> None:
    assert ssh_auth.ssh_key_file is not None
    ssh_auth.ssh_key_file.with_name(ssh_auth.ssh_key_file.name + ".pub").unlink()
    spec = GitSourceSpec("platform", ssh_server.url(origin.origin), auth=ssh_auth)

    assert make_mirror(spec).fetch().sha == origin.head()


def test_errors_name_the_source_and_the_redacted_url(
    http_server: GitHttpServer, origin: WorkRepo, http_auth: GitAuth, make_mirror: MakeMirror
) -> None:
    url = http_server.url("platform.git").replace("http://", "http://someone@")
    spec = replace(
        GitSourceSpec("platform", url, auth=http_auth), auth=replace(http_auth, password_file=None)
    )

    with pytest.raises(GitError) as caught:
        make_mirror(spec).fetch()

    assert caught.value.source == "platform"
    assert caught.value.url == url.replace("someone@", "***@")
    assert str(caught.value).startswith(f"source 'platform' ({caught.value.url}): ")
