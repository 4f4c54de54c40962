"""What a log line keeps of an exception: every leaf of a group, and where it was raised."""

from __future__ import annotations

import io
import json
import logging

import pytest

from fleet.adapters.telemetry.logs import JsonFormatter, RedactingFilter, describe_error


def _raise_key_error() -> None:
    raise KeyError("metadata")


def _raise_timeout() -> None:
    raise TimeoutError("no answer in time")


def _group() -> BaseExceptionGroup[Exception]:
    caught: list[Exception] = []
    for fail in (_raise_key_error, _raise_timeout):
        try:
            fail()
        except Exception as error:
            caught.append(error)
    return ExceptionGroup("unhandled errors in a TaskGroup", caught)


def test_a_plain_error_names_its_type_message_and_place() -> None:
    try:
        _raise_key_error()
    except KeyError as error:
        text = describe_error(error)
    assert text.startswith("KeyError: 'metadata' (at ")
    assert "tests/adapters/telemetry/test_logs.py:" in text
    assert text.endswith("in _raise_key_error)")


def test_a_group_names_every_leaf_not_only_the_count() -> None:
    nested = ExceptionGroup("outer", [_group(), ValueError("bad body")])
    text = describe_error(nested)
    assert "sub-exceptions" not in text
    parts = text.split("; ")
    assert [p.split(":")[0] for p in parts] == ["KeyError", "TimeoutError", "ValueError"]
    assert "in _raise_timeout)" in parts[1]
    assert parts[2] == "ValueError: bad body", "never raised: no place to name"


def test_a_long_group_is_cut_saying_how_many_more() -> None:
    group = ExceptionGroup("many", [ValueError(str(n)) for n in range(8)])
    assert describe_error(group, limit=3).endswith("; ValueError: 2; and 5 more")


@pytest.mark.parametrize("secret", ["Bearer abc.def.ghi-token-value-0123456789"])
def test_a_logged_group_is_described_and_still_redacted(secret: str) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RedactingFilter())
    log = logging.getLogger("test_logs")
    log.addHandler(handler)
    log.propagate = False
    try:
        try:
            raise ExceptionGroup("unhandled", [_group(), PermissionError(f"header {secret}")])
        except ExceptionGroup:
            log.exception("reconcile failed")
    finally:
        log.removeHandler(handler)
    entry = json.loads(stream.getvalue())
    assert entry["message"].startswith("reconcile failed: KeyError: 'metadata' (at ")
    assert "TimeoutError: no answer in time" in entry["message"]
    assert "PermissionError: header " in entry["message"]
    assert "abc.def.ghi" not in entry["message"]
    assert "Traceback" not in stream.getvalue()
