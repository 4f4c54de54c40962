"""Semantic versions and Helm's version constraints: which of these versions does a range pick.

Helm (and so Argo CD and Flux) reads a chart ``version`` with Masterminds/semver v3, and
users copy those ranges into fleet, so fleet reads them the same way:

- comparators ``=``, ``!=``, ``>``, ``>=``, ``<``, ``<=``; a bare version is ``=``;
- ``~1.2.3`` (>=1.2.3 <1.3.0), ``~1.2`` (>=1.2.0 <1.3.0), ``~1`` (>=1.0.0 <2.0.0);
- ``^1.2.3`` (>=1.2.3 <2.0.0), ``^0.2.3`` (>=0.2.3 <0.3.0), ``^0.0.3`` (>=0.0.3 <0.0.4);
- wildcards ``1.2.x``, ``1.2.*``, ``1.2``, ``*``; hyphen ranges ``1.2 - 1.4.5``;
- comparators joined by spaces or commas must all hold; ``||`` joins alternatives;
- a ``v`` before a version is ignored; build metadata (``+build``) never matters;
- a prerelease (``1.3.0-rc.1``) is picked only by an alternative that itself names a
  prerelease (``>=1.3.0-0``), so ``>=1.0.0`` never moves anyone onto a release candidate.

Written here rather than taken from PyPI: the maintained Python libraries implement npm's
ranges (``node-semver``, ``semantic_version.NpmSpec``) or single comparisons
(``semver``), which differ from Helm's on commas, ``!=``, ``v`` prefixes and the
prerelease rule; a range must pick the same chart in fleet as in ``helm pull``.
Pure: no I/O, table-tested in tests/engine/test_semver.py.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import total_ordering

_VERSION = re.compile(
    r"^v?(?P<major>0|[1-9]\d*)(?:\.(?P<minor>0|[1-9]\d*))?(?:\.(?P<patch>0|[1-9]\d*))?"
    r"(?:-(?P<pre>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+(?P<build>[0-9A-Za-z.-]+))?$"
)
_PARTIAL = re.compile(
    r"^v?(?P<major>\d+|[xX*])(?:\.(?P<minor>\d+|[xX*]))?(?:\.(?P<patch>\d+|[xX*]))?"
    r"(?:-(?P<pre>[0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$"
)
_COMPARATOR = re.compile(r"^(?P<op>!=|>=|<=|=>|=<|>|<|=|~>|~|\^)?\s*(?P<version>\S+)$")
_HYPHEN = re.compile(r"^(?P<low>\S+)\s+-\s+(?P<high>\S+)$")
_WILDCARD = frozenset({"x", "X", "*"})
#: Characters that make a Git ``tag`` a range rather than a tag name.
_RANGE_MARKS = re.compile(r"[<>=^~*|, ]|(^|\.)[xX](\.|$)")


class ConstraintError(ValueError):
    """A range fleet cannot read; the message says which part."""


@total_ordering
@dataclass(frozen=True, slots=True)
class Version:
    """A semantic version; ordered by precedence (semver.org section 11)."""

    major: int
    minor: int
    patch: int
    prerelease: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str) -> Version | None:
        """The version ``text`` spells (``v1.2.3``, ``1.2``, ``1.0.0-rc.1+b5``), or None."""
        match = _VERSION.match(text.strip())
        if match is None:
            return None
        pre = match.group("pre")
        return cls(
            int(match.group("major")),
            int(match.group("minor") or 0),
            int(match.group("patch") or 0),
            tuple(pre.split(".")) if pre else (),
        )

    def _key(self) -> tuple[int, int, int, int, tuple[tuple[int, int, str], ...]]:
        # A release sorts after its prereleases; numeric identifiers before alphanumeric.
        identifiers = tuple(
            (0, int(part), "") if part.isdigit() else (1, 0, part) for part in self.prerelease
        )
        return (self.major, self.minor, self.patch, 0 if self.prerelease else 1, identifiers)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self._key() < other._key()

    def __str__(self) -> str:
        core = f"{self.major}.{self.minor}.{self.patch}"
        return f"{core}-{'.'.join(self.prerelease)}" if self.prerelease else core


@dataclass(frozen=True, slots=True)
class _Bound:
    op: str  # one of = != > >= < <=
    version: Version

    def holds(self, candidate: Version) -> bool:
        if self.op == "=":
            return candidate == self.version
        if self.op == "!=":
            return candidate != self.version
        if self.op == ">":
            return candidate > self.version
        if self.op == ">=":
            return candidate >= self.version
        if self.op == "<":
            return candidate < self.version
        return candidate <= self.version


@dataclass(frozen=True, slots=True)
class _Group:
    """Comparators that must all hold; prereleases only when one of them names one."""

    bounds: tuple[_Bound, ...]
    allows_prerelease: bool

    def holds(self, candidate: Version) -> bool:
        if candidate.prerelease and not self.allows_prerelease:
            return False
        return all(bound.holds(candidate) for bound in self.bounds)


@dataclass(frozen=True, slots=True)
class Constraint:
    """A parsed range: alternatives (``||``), each a group of comparators."""

    text: str
    groups: tuple[_Group, ...]

    @classmethod
    def parse(cls, text: str) -> Constraint:
        """Read ``text`` as Helm does; raise :class:`ConstraintError` naming the bad part."""
        stripped = text.strip()
        if not stripped:
            raise ConstraintError("empty version range")
        groups = tuple(_parse_group(part.strip(), text) for part in stripped.split("||"))
        return cls(text, groups)

    def allows(self, candidate: Version) -> bool:
        return any(group.holds(candidate) for group in self.groups)

    def best(self, versions: Iterable[str]) -> str | None:
        """The spelling (as given) of the highest version the range allows, or None."""
        chosen: tuple[Version, str] | None = None
        for spelled in versions:
            version = Version.parse(spelled)
            if version is None or not self.allows(version):
                continue
            if chosen is None or version > chosen[0]:
                chosen = (version, spelled)
        return chosen[1] if chosen else None


def is_range(tag: str) -> bool:
    """Whether a Git ``tag`` setting is a range (``>=1.4.0 <2.0.0``, ``^1.2``, ``1.2.x``)."""
    return bool(_RANGE_MARKS.search(tag))


def _parse_group(text: str, whole: str) -> _Group:
    if not text:
        raise ConstraintError(f"empty alternative in {whole!r}")
    hyphen = _HYPHEN.match(text)
    if hyphen is not None:
        low, high = _partial(hyphen.group("low"), whole), _partial(hyphen.group("high"), whole)
        span = (*_expand(">=", low), *_expand("<=", high))
        return _Group(span, bool(low.pre or high.pre))
    tokens = _tokens(text)
    bounds: list[_Bound] = []
    prerelease = False
    for token in tokens:
        match = _COMPARATOR.match(token)
        if match is None:
            raise ConstraintError(f"cannot read {token!r} in {whole!r}")
        op = {"=>": ">=", "=<": "<=", "~>": "~"}.get(match.group("op") or "=", match.group("op"))
        partial = _partial(match.group("version"), whole)
        prerelease = prerelease or bool(partial.pre)
        bounds.extend(_expand(op or "=", partial))
    return _Group(tuple(bounds), prerelease)


def _tokens(text: str) -> list[str]:
    """Comparators of a group: split on commas and spaces, an operator joined to its version."""
    words = [word for word in re.split(r"[\s,]+", text) if word]
    tokens: list[str] = []
    for word in words:
        if tokens and re.fullmatch(r"!=|>=|<=|=>|=<|>|<|=|~>|~|\^", tokens[-1]):
            tokens[-1] += word
        else:
            tokens.append(word)
    return tokens


@dataclass(frozen=True, slots=True)
class _Partial:
    """A version in a range, where missing or wildcard parts are None."""

    major: int | None
    minor: int | None
    patch: int | None
    pre: tuple[str, ...]

    def floor(self) -> Version:
        return Version(self.major or 0, self.minor or 0, self.patch or 0, self.pre)


def _partial(text: str, whole: str) -> _Partial:
    match = _PARTIAL.match(text)
    if match is None:
        raise ConstraintError(f"{text!r} in {whole!r} is not a version")
    parts: list[int | None] = []
    wild = False
    for name in ("major", "minor", "patch"):
        value = match.group(name)
        wild = wild or value is None or value in _WILDCARD
        parts.append(None if wild else int(value))
    pre = match.group("pre")
    return _Partial(parts[0], parts[1], parts[2], tuple(pre.split(".")) if pre else ())


def _next_up(partial: _Partial) -> Version | None:
    """The first version past what ``partial`` covers (1.2 -> 1.3.0), None for ``*``."""
    if partial.major is None:
        return None
    if partial.minor is None:
        return Version(partial.major + 1, 0, 0)
    return Version(partial.major, partial.minor + 1, 0)


def _expand(op: str, partial: _Partial) -> tuple[_Bound, ...]:
    """One comparator as plain bounds (``~1.2`` -> ``>=1.2.0``, ``<1.3.0``)."""
    low = partial.floor()
    exact = partial.patch is not None
    if op == "~":
        if partial.major is None:
            return ()
        if partial.minor is None:
            top = Version(partial.major + 1, 0, 0)
        else:
            top = Version(partial.major, partial.minor + 1, 0)
        return (_Bound(">=", low), _Bound("<", top))
    if op == "^":
        if partial.major is None:
            return ()
        if partial.major > 0 or partial.minor is None:
            top = Version(partial.major + 1, 0, 0)
        elif partial.minor > 0 or partial.patch is None:
            top = Version(0, partial.minor + 1, 0)
        else:
            top = Version(0, 0, partial.patch + 1)
        return (_Bound(">=", low), _Bound("<", top))
    if exact:
        return (_Bound(op, low),)
    # A wildcard or a version with parts missing covers a span [low, up).
    up = _next_up(partial)
    if op == "=":
        return (_Bound(">=", low),) + ((_Bound("<", up),) if up else ())
    if op == "!=":
        raise ConstraintError(f"'!=' needs a full version, not {_shown(partial)!r}")
    if op in (">=", "<"):
        return (_Bound(op, low),) if partial.major is not None else ()
    if op == ">":
        return (_Bound(">=", up),) if up else (_Bound("<", Version(0, 0, 0)),)
    return (_Bound("<", up),) if up else ()  # "<="


def _shown(partial: _Partial) -> str:
    parts = [partial.major, partial.minor, partial.patch]
    return ".".join("x" if part is None else str(part) for part in parts)
