"""Helm's version ranges, as tables: which versions a range allows, which one it picks."""

from __future__ import annotations

import pytest

from fleet.engine.semver import Constraint, ConstraintError, Version, is_range

ALLOWS = [
    # (range, version, allowed)
    ("1.2.3", "1.2.3", True),
    ("1.2.3", "1.2.4", False),
    ("=1.2.3", "v1.2.3", True),
    ("v1.2.3", "1.2.3+build.5", True),
    (">=1.4.0 <2.0.0", "1.4.0", True),
    (">=1.4.0 <2.0.0", "1.9.9", True),
    (">=1.4.0 <2.0.0", "2.0.0", False),
    (">=1.4.0 <2.0.0", "1.3.9", False),
    (">=1.4.0, <2.0.0", "1.5.0", True),
    (">= 1.4.0, < 2.0.0", "2.0.1", False),
    (">1.2.3", "1.2.3", False),
    ("<=1.2.3", "1.2.3", True),
    ("!=1.2.3", "1.2.4", True),
    ("!=1.2.3", "1.2.3", False),
    ("^1.2", "1.2.0", True),
    ("^1.2", "1.99.0", True),
    ("^1.2", "2.0.0", False),
    ("^1.2.3", "1.2.2", False),
    ("^0.2.3", "0.2.9", True),
    ("^0.2.3", "0.3.0", False),
    ("^0.0.3", "0.0.4", False),
    ("^0", "0.9.0", True),
    ("^0", "1.0.0", False),
    ("~1.2.3", "1.2.9", True),
    ("~1.2.3", "1.3.0", False),
    ("~1.2", "1.2.0", True),
    ("~1", "1.9.0", True),
    ("~1", "2.0.0", False),
    ("1.2.x", "1.2.7", True),
    ("1.2.x", "1.3.0", False),
    ("1.2.*", "1.2.0", True),
    ("1.2", "1.2.5", True),
    ("1.x", "1.5.5", True),
    ("1.x", "2.0.0", False),
    ("*", "7.0.0", True),
    (">1.2.x", "1.2.9", False),
    (">1.2.x", "1.3.0", True),
    ("<=1.2.x", "1.2.9", True),
    ("<1.2.x", "1.2.0", False),
    ("1.2 - 1.4.5", "1.4.5", True),
    ("1.2 - 1.4.5", "1.4.6", False),
    ("1.2 - 1.4.5", "1.2.0", True),
    ("<1.0.0 || >=2.0.0", "1.5.0", False),
    ("<1.0.0 || >=2.0.0", "2.1.0", True),
    ("<1.0.0 || >=2.0.0", "0.1.0", True),
    # Prereleases: only a group naming one considers them.
    (">=1.0.0", "1.3.0-rc.1", False),
    ("*", "2.0.0-alpha", False),
    (">=1.3.0-0", "1.3.0-rc.1", True),
    (">=1.3.0-0 <2.0.0", "1.4.0-beta", True),
    (">=1.3.0-0 <2.0.0", "2.0.0-beta", True),  # 2.0.0-beta precedes 2.0.0
    (">=1.3.0-0 <2.0.0-0", "2.0.0-beta", False),
    ("<1.0.0 || >=1.3.0-0", "1.3.0-rc.1", True),
    (">=1.2.0 || >=1.3.0-0 <1.3.0", "1.2.5-rc.1", False),
]


@pytest.mark.parametrize(("spec", "version", "allowed"), ALLOWS)
def test_a_range_allows_the_versions_helm_allows(spec: str, version: str, allowed: bool) -> None:
    parsed = Version.parse(version)
    assert parsed is not None
    assert Constraint.parse(spec).allows(parsed) is allowed


BEST = [
    (">=1.4.0 <2.0.0", ["1.3.0", "1.4.0", "1.10.0", "1.9.0", "2.0.0"], "1.10.0"),
    ("^1.2", ["v1.2.0", "v1.3.1", "v2.0.0", "not-a-version"], "v1.3.1"),
    (">=1.0.0", ["1.0.0", "1.1.0-rc.1"], "1.0.0"),
    (">=1.1.0-0", ["1.0.0", "1.1.0-rc.1", "1.1.0-rc.2"], "1.1.0-rc.2"),
    (">=1.1.0-0", ["1.1.0-rc.10", "1.1.0-rc.9", "1.1.0"], "1.1.0"),
    (">=3.0.0", ["1.0.0", "2.0.0"], None),
    ("*", [], None),
]


@pytest.mark.parametrize(("spec", "versions", "chosen"), BEST)
def test_the_highest_allowed_version_is_picked(
    spec: str, versions: list[str], chosen: str | None
) -> None:
    assert Constraint.parse(spec).best(versions) == chosen


@pytest.mark.parametrize(
    ("spec", "needle"),
    [("", "empty"), (">=abc", "abc"), ("1.0.0 ||", "empty alternative"), ("!=1.x", "!=")],
)
def test_unreadable_ranges_are_refused_naming_the_part(spec: str, needle: str) -> None:
    with pytest.raises(ConstraintError, match=needle):
        Constraint.parse(spec)


def test_precedence_follows_semver_org() -> None:
    spelled = ["1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2"]
    spelled += ["1.0.0-beta.11", "1.0.0-rc.1", "1.0.0"]
    versions = [Version.parse(text) for text in spelled]
    assert versions == sorted(versions, key=lambda v: v)  # type: ignore[arg-type,return-value]
    assert [str(v) for v in versions] == spelled
    assert Version.parse("nope") is None


@pytest.mark.parametrize(
    ("tag", "ranged"),
    [
        ("v1.2.3", False),
        ("release-2024", False),
        (">=1.4.0 <2.0.0", True),
        ("^1.2", True),
        ("~1.2.3", True),
        ("1.2.x", True),
        ("1.x", True),
        ("fix-x", False),
        ("*", True),
    ],
)
def test_a_git_tag_setting_is_a_range_when_it_reads_as_one(tag: str, ranged: bool) -> None:
    assert is_range(tag) is ranged
