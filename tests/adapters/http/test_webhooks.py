"""Push webhooks: only a correctly signed request is believed."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest

from fleet.adapters.http.webhooks import (
    Push,
    WebhookRejected,
    parse_push,
    repository_key,
    verify,
)

SECRET = b"s3cret"
GITHUB_BODY = json.dumps(
    {
        "ref": "refs/heads/main",
        "after": "a" * 40,
        "repository": {
            "clone_url": "https://git.example.com/platform/apps.git",
            "ssh_url": "git@git.example.com:platform/apps.git",
        },
    }
).encode()


def sign(body: bytes, secret: bytes = SECRET) -> str:
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


VERIFY_CASES = [
    ("github: right signature", "github", {"X-Hub-Signature-256": sign(GITHUB_BODY)}, None),
    (
        "github: signed with another secret",
        "github",
        {"X-Hub-Signature-256": sign(GITHUB_BODY, b"other")},
        "does not match",
    ),
    ("github: no signature", "github", {}, "missing X-Hub-Signature-256"),
    (
        "github: sha1 is not accepted",
        "github",
        {"X-Hub-Signature-256": "sha1=abc"},
        "must be sha256",
    ),
    ("gitlab: right token", "gitlab", {"X-Gitlab-Token": "s3cret"}, None),
    ("gitlab: wrong token", "gitlab", {"X-Gitlab-Token": "guess"}, "does not match"),
    ("gitlab: no token", "gitlab", {}, "missing X-Gitlab-Token"),
    ("generic: right signature", "generic", {"X-Fleet-Signature": sign(GITHUB_BODY)}, None),
    (
        "generic: header names are case-insensitive",
        "generic",
        {"x-fleet-signature": sign(GITHUB_BODY)},
        None,
    ),
    (
        "generic: tampered body",
        "generic",
        {"X-Fleet-Signature": sign(GITHUB_BODY + b" ")},
        "does not match",
    ),
    (
        "gitea: right signature (bare hex)",
        "gitea",
        {"X-Gitea-Signature": sign(GITHUB_BODY).removeprefix("sha256=")},
        None,
    ),
    (
        "gitea: another secret",
        "gitea",
        {"X-Gitea-Signature": sign(GITHUB_BODY, b"other").removeprefix("sha256=")},
        "does not match",
    ),
    ("gitea: no signature", "gitea", {}, "missing X-Gitea-Signature"),
    ("unknown forge", "bitbucket", {}, "unknown webhook kind"),
]


@pytest.mark.parametrize(
    ("behaviour", "forge", "headers", "error"), VERIFY_CASES, ids=[c[0] for c in VERIFY_CASES]
)
def test_verify(behaviour: str, forge: str, headers: dict[str, str], error: str | None) -> None:
    if error is None:
        verify(forge, headers, GITHUB_BODY, SECRET)
    else:
        with pytest.raises(WebhookRejected, match=error):
            verify(forge, headers, GITHUB_BODY, SECRET)


def test_gitlab_standard_webhook_signature() -> None:
    signed = b"msg_1.1700000000." + GITHUB_BODY
    value = base64.b64encode(hmac.new(SECRET, signed, hashlib.sha256).digest()).decode()
    headers = {
        "webhook-id": "msg_1",
        "webhook-timestamp": "1700000000",
        "webhook-signature": f"v1,{value}",
    }
    verify("gitlab", headers, GITHUB_BODY, SECRET)
    headers["webhook-timestamp"] = "1700000001"
    with pytest.raises(WebhookRejected):
        verify("gitlab", headers, GITHUB_BODY, SECRET)


def test_parse_github_push() -> None:
    assert parse_push("github", GITHUB_BODY) == Push(
        forge="github",
        repository_urls=(
            "https://git.example.com/platform/apps.git",
            "git@git.example.com:platform/apps.git",
        ),
        ref="refs/heads/main",
        after="a" * 40,
    )


def test_parse_gitea_push_like_github() -> None:
    push = parse_push("gitea", GITHUB_BODY)
    assert push.forge == "gitea"
    assert push.repository_urls[0] == "https://git.example.com/platform/apps.git"
    with pytest.raises(WebhookRejected, match="repository must be an object"):
        parse_push("gitea", b'{"repository": "x"}')


def test_parse_gitlab_push() -> None:
    body = json.dumps(
        {
            "ref": "refs/heads/main",
            "checkout_sha": "b" * 40,
            "project": {"git_http_url": "https://gl.example.com/g/r.git"},
        }
    ).encode()
    push = parse_push("gitlab", body)
    assert push.repository_urls == ("https://gl.example.com/g/r.git",)
    assert push.after == "b" * 40


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]"])
def test_bad_bodies_are_400(body: bytes) -> None:
    with pytest.raises(WebhookRejected) as caught:
        parse_push("generic", body)
    assert caught.value.status == 400


KEY_CASES = [
    ("https://git.example.com/platform/apps.git", "git.example.com/platform/apps"),
    ("https://user:token@Git.Example.com/platform/apps", "git.example.com/platform/apps"),
    ("git@git.example.com:platform/apps.git", "git.example.com/platform/apps"),
    ("ssh://git@git.example.com:2222/platform/apps.git", "git.example.com/platform/apps"),
    ("file:///srv/git/apps.git", "/srv/git/apps"),
]


@pytest.mark.parametrize(("url", "key"), KEY_CASES)
def test_repository_key_ignores_scheme_credentials_and_suffix(url: str, key: str) -> None:
    assert repository_key(url) == key
