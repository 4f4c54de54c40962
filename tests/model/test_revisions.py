"""A revision's short form: commits, chart versions and valuesFrom pairs."""

from __future__ import annotations

import pytest

from fleet.model.revisions import short_revision

COMMIT = "3f2a9c1d" + "0" * 32
VALUES_COMMIT = "9b41e7aa" + "1" * 32
DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("revision", "shown"),
    [
        (None, ""),
        ("", ""),
        (COMMIT, "3f2a9c1"),
        ("c" * 64, "ccccccc"),  # a SHA-256 repository
        ("v1.2.0", "v1.2.0"),  # not a commit id: kept whole
        (f"web@1.2.0@{DIGEST}", "web@1.2.0"),
        (f"web@1.2.0-rc.1+build.5@{DIGEST}", "web@1.2.0-rc.1+build.5"),
        (f"web@1.2.0@{DIGEST}~values@{VALUES_COMMIT}", "web@1.2.0~values@9b41e7a"),
        (f"{COMMIT}~values@{VALUES_COMMIT}", "3f2a9c1~values@9b41e7a"),
    ],
)
def test_the_short_form_keeps_what_a_reader_recognises(revision: str | None, shown: str) -> None:
    assert short_revision(revision) == shown
