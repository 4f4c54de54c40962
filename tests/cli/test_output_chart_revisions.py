"""How chart revisions and valuesFrom pairs are shortened in the CLI's tables."""

from __future__ import annotations

import pytest

from fleet.cli.output import short_sha

DIGEST = "sha256:" + "ab" * 32
COMMIT = "0123456789" * 4


@pytest.mark.parametrize(
    ("revision", "shown"),
    [
        (f"podinfo@6.1.0@{DIGEST}", "podinfo@6.1.0"),
        (f"podinfo@6.1.0@{DIGEST}~platform@{COMMIT}", "podinfo@6.1.0~platform@0123456"),
        (f"{COMMIT}~values@{COMMIT}", "0123456~values@0123456"),
        (COMMIT, "0123456"),
    ],
)
def test_chart_revisions_show_chart_and_version(revision: str, shown: str) -> None:
    assert short_sha(revision) == shown
