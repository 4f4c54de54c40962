"""How a revision is shown short, the same in the CLI and on the dashboard.

A revision is a Git commit id (40 or 64 hex digits), a chart source's
``chart@version@sha256:<digest>``, or for an app with values from other sources the
pair ``own~source@commit``. Cutting those to seven characters would show ``chart@1``
or a bare digest prefix; the short form keeps what a reader recognises: the commit's
first seven digits, the chart's name and version, and which source a commit is of.
"""

from __future__ import annotations


def short_revision(revision: str | None) -> str:
    """``3f2a9c1``, ``web@1.2.0``, ``web@1.2.0~values@9b41e7a`` ("" for none)."""
    if not revision:
        return ""
    if "@" in revision:  # chart@version@digest, or a valuesFrom pair: own~source@commit
        return "~".join(_short_part(part) for part in revision.split("~"))
    return _short_commit(revision)


def is_chart_revision(revision: str | None) -> bool:
    """Whether ``revision`` is a chart source's (``chart@version@digest``, composed or not):
    it has no commit, so no commit subject to show."""
    return bool(revision) and len(str(revision).split("~", 1)[0].split("@")) == 3


def _short_part(part: str) -> str:
    pieces = part.split("@")
    if len(pieces) == 3:  # chart@version@sha256:...
        return f"{pieces[0]}@{pieces[1]}"
    if len(pieces) == 2:  # source@commit
        return f"{pieces[0]}@{pieces[1][:7]}"
    return _short_commit(part)


def _short_commit(commit: str) -> str:
    return commit[:7] if len(commit) >= 40 else commit
