"""Redaction hides values, not words: prose around secret-sounding keys stays readable."""

from __future__ import annotations

import io
import json
import logging

import pytest

from fleet.adapters.store import redact
from fleet.adapters.telemetry.logs import JsonFormatter, RedactingFilter

CASES = [
    # Prose: a plain word after a secret-sounding key, followed by more words, stays.
    ("app secret: checked out", "app secret: checked out"),
    ("applying Secret web/db-secret: timed out", "applying Secret web/db-secret: timed out"),
    ("Secret default/token: apply failed", "Secret default/token: apply failed"),
    ("token rejected by the server", "token rejected by the server"),
    ("bearer tokenization is off", "bearer tokenization is off"),
    ("the token: expired", "the token: expired"),
    ("password: missing", "password: missing"),
    ("tokens: 3 total", "tokens: 3 total"),
    # References to secrets are not secrets.
    ("secretName: db-creds", "secretName: db-creds"),
    ("api_token_file=/etc/fleet/api-token", "api_token_file=/etc/fleet/api-token"),
    # Values: they go.
    ("password: hunter", "password: ***"),
    ("db_password: hunter2 was rejected", "db_password: *** was rejected"),
    ("{password: abc, user: bob}", "{password: ***, user: bob}"),
    ("stringData:\n  password: abc\n  user: bob", "stringData:\n  password: ***\n  user: bob"),
    ('"token": "two words"', '"token": "***"'),
    ("client_secret=abc&x=1", "client_secret=***&x=1"),
    ("Authorization: Bearer abcdEFGH1234ijkl", "Authorization: Bearer ***"),
    ("token ghp_0123456789abcdefghijABCDEFGHIJ", "token ***"),
]


@pytest.mark.parametrize(("text", "expected"), CASES, ids=[c[0] for c in CASES])
def test_values_not_words(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_log_fields_named_like_secrets_are_masked_whatever_they_hold() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RedactingFilter())
    logger = logging.getLogger("tests.redaction.fields")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning(
            "app secret: %s out",
            "checked",
            extra={"fields": {"token": "plainword", "app": "web"}, "password": "abc"},
        )
    finally:
        logger.removeHandler(handler)
    entry = json.loads(stream.getvalue())
    assert entry["message"] == "app secret: checked out"
    assert (entry["token"], entry["password"], entry["app"]) == ("***", "***", "web")
