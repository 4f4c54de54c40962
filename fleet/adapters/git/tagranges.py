"""A source's ``tag`` written as a version range: the highest tag of the mirror it matches.

The mirror fetches every tag (``refs/tags/*``) on each poll, so choosing needs no network:
the tag names that read as semantic versions (``v1.4.2`` or ``1.4.2``) are matched
against the range with Helm's rules (fleet.engine.semver: prereleases only when the range
names one) and the highest wins. The chosen ref becomes the revision's ``ref``, which
status and history show. No tag in range is an error naming the source and the field;
the apps keep the revision they have.
"""

from __future__ import annotations

import pygit2

from fleet.adapters.git.errors import GitRefNotFound
from fleet.engine.semver import Constraint, ConstraintError

_PREFIX = "refs/tags/"


def highest_tag(repo: pygit2.Repository, spec: str, source: str, shown_url: str) -> str:
    """``refs/tags/<name>`` of the highest tag ``spec`` allows; raises GitRefNotFound."""
    try:
        constraint = Constraint.parse(spec)
    except ConstraintError as error:
        raise GitRefNotFound(source, shown_url, f"tag: {error}") from None
    names = [ref[len(_PREFIX) :] for ref in repo.references if ref.startswith(_PREFIX)]
    chosen = constraint.best(names)
    if chosen is None:
        versions = sorted((n for n in names if n[:1].isdigit() or n[:1] in "vV"), reverse=True)
        seen = ", ".join(versions[:8]) or "none"
        raise GitRefNotFound(
            source, shown_url, f"tag: no tag matches the range {spec!r} (tags: {seen})"
        )
    return _PREFIX + chosen
