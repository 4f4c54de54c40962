"""Remote URLs: every form Git accepts is classified, and printing one never leaks a secret."""

from __future__ import annotations

import pytest

from fleet.adapters.git import redact_url
from fleet.adapters.git.urls import Remote, parse_remote


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "file:///srv/git/platform.git",
            Remote("file", "file", "", None, None, False, "/srv/git/platform.git"),
        ),
        (
            "/srv/git/platform.git",
            Remote("file", "file", "", None, None, False, "/srv/git/platform.git"),
        ),
        ("./platform", Remote("file", "file", "", None, None, False, "./platform")),
        (
            "git://git.example.com/platform.git",
            Remote("git", "git", "git.example.com", None, None, False, "/platform.git"),
        ),
        (
            "https://git.example.com:8443/org/platform.git",
            Remote("http", "https", "git.example.com", 8443, None, False, "/org/platform.git"),
        ),
        (
            "ssh://git@git.example.com:2222/platform.git",
            Remote("ssh", "ssh", "git.example.com", 2222, "git", False, "/platform.git"),
        ),
        (
            "git@github.com:org/platform.git",
            Remote("ssh", "ssh", "github.com", None, "git", False, "org/platform.git"),
        ),
        (
            "github.com:org/platform.git",
            Remote("ssh", "ssh", "github.com", None, None, False, "org/platform.git"),
        ),
        (
            "git@[::1]:org/platform.git",
            Remote("ssh", "ssh", "::1", None, "git", False, "org/platform.git"),
        ),
        (
            "ssh://[::1]:2222/platform.git",
            Remote("ssh", "ssh", "::1", 2222, None, False, "/platform.git"),
        ),
        (
            "https://bot:pw@git.example.com/p.git",
            Remote("http", "https", "git.example.com", None, "bot", True, "/p.git"),
        ),
    ],
)
def test_parse_remote_classifies_every_form(url: str, expected: Remote) -> None:
    assert parse_remote(url) == expected


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("ftp://example.com/repo.git", "unsupported URL scheme 'ftp'"),
        ("https:///repo.git", "no host"),
        ("file://otherhost/repo.git", "local path"),
        (" https://example.com/repo.git", "whitespace"),
        ("", "empty"),
        ("https://example.com:99999/repo.git", "invalid port"),
    ],
)
def test_parse_remote_rejects_unusable_urls(url: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_remote(url)


def test_default_ports_are_the_transports_own() -> None:
    assert parse_remote("git@example.com:org/p.git").effective_port == 22
    assert parse_remote("https://example.com/p.git").effective_port == 443
    assert parse_remote("http://example.com/p.git").effective_port == 80
    assert parse_remote("git://example.com/p.git").effective_port == 9418
    assert parse_remote("/srv/p.git").effective_port is None


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://bot:s3cret@git.example.com/p.git", "https://***@git.example.com/p.git"),
        ("https://ghp_tokenAsUser@git.example.com/p.git", "https://***@git.example.com/p.git"),
        ("HTTP://u:p@host/p.git", "HTTP://***@host/p.git"),
        ("https://git.example.com/p.git?private_token=abc", "https://git.example.com/p.git?***"),
        ("https://git.example.com/p.git#frag-secret", "https://git.example.com/p.git"),
        ("ssh://git@git.example.com/p.git", "ssh://git@git.example.com/p.git"),
        ("ssh://git:pw@git.example.com/p.git", "ssh://***@git.example.com/p.git"),
        ("git@github.com:org/p.git", "git@github.com:org/p.git"),
        ("https://git.example.com/p.git", "https://git.example.com/p.git"),
        ("/srv/git/p.git", "/srv/git/p.git"),
    ],
)
def test_redact_url_hides_every_credential(url: str, shown: str) -> None:
    assert redact_url(url) == shown
