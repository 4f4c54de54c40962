"""Messages are stripped of credentials before they reach the history file."""

from __future__ import annotations

import time

import pytest

from fleet.adapters.store import HistoryStore, ResourceResult, redact
from fleet.adapters.store.redaction import MAX_MESSAGE_CHARS, redact_details

SECRETS = [
    ("clone https://x-access-token:ghs_AAAAAAAAAAAAAAAAAAAAAAAA@github.com/o/r failed", "ghs_"),
    ("fetch https://deploy:Pa55w0rd@git.example/r.git: 403", "Pa55w0rd"),
    ("GET https://api.k8s:6443/api?token=eyJhbGciOi.abc", "eyJhbGciOi"),
    ("401: Authorization: Bearer abcdEFGH1234ijkl", "abcdEFGH1234ijkl"),
    ("header bearer 0123456789abcdef0123", "0123456789abcdef0123"),
    ('apply failed: {"password": "correct horse battery"}', "correct horse"),
    ("client_secret=verysecretvalue&grant_type=x", "verysecretvalue"),
    ("db_password: hunter2", "hunter2"),
    ("key AKIAIOSFODNN7EXAMPLE leaked", "AKIAIOSFODNN7EXAMPLE"),
    ("age AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQ in value", "AGE-SECRET-KEY-1QQ"),
    ("pat github_pat_11ABCDEFG0123456789_abcdefghijkl in url", "github_pat_11"),
    (
        "jwt eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJmbGVldCJ9.c2lnbmF0dXJl expired",
        "eyJzdWIiOiJmbGVldCJ9",
    ),
    (
        "bad key -----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk\n"
        "-----END OPENSSH PRIVATE KEY-----",
        "b3BlbnNzaC1rZXk",
    ),
]


@pytest.mark.parametrize(("text", "secret"), SECRETS)
def test_secrets_are_masked(text: str, secret: str) -> None:
    cleaned = redact(text)
    assert secret not in cleaned
    assert "***" in cleaned


@pytest.mark.parametrize(
    "text",
    [
        "Deployment web/frontend: 3/3 replicas available",
        "ConfigMap default/app-config configured",
        "Job web/migrate failed: BackoffLimitExceeded",
        "fetch https://github.com/org/repo.git at 1a2b3c4d",
        "wave 2 waiting for Service web/api (LoadBalancer ingress)",
    ],
)
def test_ordinary_messages_are_kept(text: str) -> None:
    assert redact(text) == text


def test_huge_messages_are_cut() -> None:
    cleaned = redact("x" * (MAX_MESSAGE_CHARS + 500))
    assert cleaned.startswith("x" * MAX_MESSAGE_CHARS)
    assert cleaned.endswith("[500 chars cut]")


def test_details_mask_secret_keys_at_any_depth() -> None:
    cleaned = redact_details(
        {"apiToken": "abc", "nested": {"password": "p", "user": "bob"}, "items": [{"secret": 1}]}
    )
    assert cleaned == {
        "apiToken": "***",
        "nested": {"password": "***", "user": "bob"},
        "items": [{"secret": "***"}],
    }


def test_every_stored_message_is_redacted(store: HistoryStore) -> None:
    leak = "token=abcdef123456"
    sync_id = store.start_sync("web", "dev", "abc", "poll")
    store.record_results(
        sync_id, [ResourceResult("Sync", 0, "", "Secret", "web", "db", "failed", message=leak)]
    )
    store.finish_sync(sync_id, "Failed", leak)
    store.add_event("drift", leak)
    store.set_status("web", "dev", message=leak)
    dump = "\n".join(store.db.iterdump())
    assert "abcdef123456" not in dump
    assert "token=***" in dump


@pytest.mark.parametrize(
    "text",
    [
        "x" * 20_000,
        "a." * 10_000,
        "https" * 4000,
        "token" * 4000,
        '"password": "' + "z" * 20_000,
    ],
)
def test_long_hostile_messages_are_handled_quickly(text: str) -> None:
    """A guard against quadratic patterns (these inputs took seconds before bounding them)."""
    started = time.perf_counter()
    cleaned = redact(text)
    assert len(cleaned) < MAX_MESSAGE_CHARS + 40
    assert time.perf_counter() - started < 0.5
