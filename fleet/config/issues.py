"""Problems found in a config file, each pointing at the line and key that caused it.

A config is checked in several passes (YAML syntax, schema, cross references, files on
disk), and every pass reports into the same list, so that a user sees all mistakes of
one edit at once instead of fixing them one run at a time.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning"]

#: A location in a document: mapping keys and sequence indexes from the root.
DocPath = tuple[str | int, ...]

_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def format_doc_path(path: Sequence[str | int]) -> str:
    """``("apps", 2, "source")`` -> ``apps[2].source``; odd keys are quoted."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        elif _PLAIN_KEY.match(part):
            text += f".{part}" if text else part
        else:
            text += f'["{part}"]'
    return text or "<root>"


@dataclass(frozen=True, slots=True)
class ConfigIssue:
    """One problem: where (file, 1-based line and column, document path) and what."""

    file: str
    line: int
    column: int
    path: DocPath
    message: str
    severity: Severity = "error"

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}" if self.line else self.file
        prefix = "" if self.severity == "error" else "warning: "
        doc = f"{format_doc_path(self.path)}: " if self.path else ""
        return f"{where}: {prefix}{doc}{self.message}"

    def as_dict(self) -> dict[str, object]:
        return {
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "path": format_doc_path(self.path) if self.path else "",
            "message": self.message,
            "severity": self.severity,
        }


class ConfigError(Exception):
    """A config could not be loaded; ``errors`` holds every problem found (warnings too)."""

    def __init__(self, errors: Iterable[ConfigIssue]) -> None:
        self.errors: list[ConfigIssue] = sorted(errors, key=_issue_order)
        super().__init__("\n".join(str(issue) for issue in self.errors))


def _issue_order(issue: ConfigIssue) -> tuple[str, int, int, str]:
    return (issue.file, issue.line, issue.column, issue.message)


def sort_issues(issues: Iterable[ConfigIssue]) -> list[ConfigIssue]:
    """Issues in reading order: by file, line, column."""
    return sorted(issues, key=_issue_order)
