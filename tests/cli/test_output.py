"""The output helpers: durations, relative times, cutting, tables with and without colour."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest

from fleet.cli.output import (
    Cell,
    Output,
    ago,
    between,
    duration,
    render_table,
    short_sha,
    truncate,
    wants_color,
)
from tests.cli.harness import FakeTerminal

NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.25, "250ms"), (8.9, "8s"), (59, "59s"), (125, "2m05s"), (3720, "1h02m"), (3 * 86400, "3d")],
)
def test_duration(seconds: float, text: str) -> None:
    assert duration(seconds) == text


@pytest.mark.parametrize(
    ("moment", "text"),
    [
        (NOW - timedelta(seconds=42), "42s ago"),
        (NOW - timedelta(hours=2, minutes=3), "2h03m ago"),
        (NOW - timedelta(milliseconds=300), "just now"),
        (NOW + timedelta(seconds=2), "just now"),
        (NOW + timedelta(minutes=5), "in the future"),
    ],
)
def test_ago(moment: datetime, text: str) -> None:
    assert ago(moment.isoformat(), now=NOW) == text


def test_missing_or_naive_times() -> None:
    assert ago(None) == "-"
    assert ago("not a time") == "-"
    assert ago("2024-05-01T11:59:00", now=NOW) == "1m00s ago", "naive times are UTC"
    assert between("2024-05-01T11:00:00+00:00", None) == "-"
    assert between("2024-05-01T11:00:00+00:00", "2024-05-01T11:00:09.5+00:00") == "9s"


def test_truncate_and_short_sha() -> None:
    assert truncate("a  b\nc", 10) == "a b c"
    assert truncate("abcdefghij", 5) == "ab..."
    assert short_sha("0123456789" * 4) == "0123456"
    assert short_sha("v1.2.0") == "v1.2.0"
    assert short_sha(None) == "-"


def test_colour_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert wants_color("auto", FakeTerminal())
    assert not wants_color("auto", io.StringIO())
    assert wants_color("always", io.StringIO())
    assert not wants_color("never", FakeTerminal())
    monkeypatch.setenv("NO_COLOR", "1")
    assert not wants_color("auto", FakeTerminal())
    assert wants_color("always", io.StringIO())


def test_table_aligns_plain_text_and_paints_after_padding() -> None:
    rows: list[list[Cell]] = [
        ["web", ("Synced", "green"), "ok"],
        ["platform", ("OutOfSync", "yellow"), "x"],
    ]
    plain = render_table(["APP", "SYNC", "MESSAGE"], rows, Output(io.StringIO(), False, False, 0))
    assert plain == [
        "APP       SYNC       MESSAGE",
        "web       Synced     ok",
        "platform  OutOfSync  x",
    ]
    coloured = render_table(["APP", "SYNC", "MESSAGE"], rows, Output(io.StringIO(), True, False, 0))
    assert coloured[1] == "web       \x1b[32mSynced\x1b[0m     ok"


def test_last_column_is_cut_to_the_terminal_only() -> None:
    rows: list[list[Cell]] = [["web", "x" * 200]]
    wide = render_table(["APP", "MESSAGE"], rows, Output(io.StringIO(), False, False, 0))
    assert len(wide[1]) == 5 + 200
    cut = render_table(["APP", "MESSAGE"], rows, Output(FakeTerminal(), False, True, 60))
    assert len(cut[1]) == 59
    assert cut[1].endswith("...")
