"""YAML documents that remember where each value was written.

PyYAML's ``safe_load`` forgets positions, and pydantic reports an error by its path in
the data (``("apps", 2, "source")``). Composing the node tree first keeps the start mark
of every key and value, so each error can be printed as ``file:line:col``. The same walk
catches duplicate keys, which PyYAML would otherwise resolve silently (last one wins).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from fleet.config.issues import ConfigError, ConfigIssue, DocPath, Severity

_MERGE_TAG = "tag:yaml.org,2002:merge"


@dataclass(frozen=True, slots=True)
class Mark:
    """A 1-based line and column."""

    line: int
    column: int

    @classmethod
    def of(cls, mark: yaml.Mark) -> Mark:
        return cls(mark.line + 1, mark.column + 1)


@dataclass(frozen=True, slots=True)
class Located:
    """Where a value starts, and where its key starts when it is a mapping entry."""

    value: Mark
    key: Mark | None = None


@dataclass(slots=True)
class YamlDocument:
    """Parsed data, the position of every node in it, and problems found while parsing."""

    file: str
    data: Any
    positions: dict[DocPath, Located] = field(default_factory=dict)
    issues: list[ConfigIssue] = field(default_factory=list)

    def mark_of(self, path: DocPath, *, at_key: bool = False) -> Mark:
        """Position of ``path``, or of its closest ancestor that exists in the file."""
        for end in range(len(path), -1, -1):
            located = self.positions.get(path[:end])
            if located is None:
                continue
            if at_key and end == len(path) and located.key is not None:
                return located.key
            return located.value
        return Mark(1, 1)

    def issue(
        self,
        path: DocPath,
        message: str,
        *,
        severity: Severity = "error",
        at_key: bool = False,
    ) -> ConfigIssue:
        mark = self.mark_of(path, at_key=at_key)
        return ConfigIssue(self.file, mark.line, mark.column, path, message, severity)

    def has(self, path: DocPath) -> bool:
        return path in self.positions


def parse_yaml(text: str, file: str) -> YamlDocument:
    """Parse one YAML document; a syntax error raises ConfigError naming its line."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        duplicates = list(_duplicate_keys(node, ())) if node is not None else []
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        raise ConfigError([_syntax_issue(exc, file)]) from None
    except yaml.YAMLError as exc:  # unmarked errors are rare (reader problems)
        raise ConfigError([ConfigIssue(file, 1, 1, (), f"invalid YAML: {exc}")]) from None
    finally:
        loader.dispose()
    document = YamlDocument(file=file, data=data)
    if node is not None:
        _record_positions(node, (), None, document.positions)
    for path, first, again in duplicates:
        document.issues.append(
            ConfigIssue(
                file,
                again.line,
                again.column,
                path,
                f"duplicate key (first given at line {first.line})",
            )
        )
    return document


def load_yaml_file(path: Path, display_name: str | None = None) -> YamlDocument:
    """Read and parse ``path``; an unreadable file raises ConfigError."""
    name = display_name or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([ConfigIssue(name, 0, 0, (), "file not found")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError([ConfigIssue(name, 0, 0, (), f"cannot read: {reason}")]) from None
    return parse_yaml(text, name)


def _syntax_issue(exc: yaml.MarkedYAMLError, file: str) -> ConfigIssue:
    mark = exc.problem_mark or exc.context_mark
    line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
    problem = exc.problem or "syntax error"
    context = f" ({exc.context})" if exc.context else ""
    return ConfigIssue(file, line, column, (), f"invalid YAML: {problem}{context}")


def _key_of(node: yaml.Node) -> str | int:
    if isinstance(node, yaml.ScalarNode):
        return str(node.value)
    return f"<{type(node).__name__} key>"


def _duplicate_keys(
    node: yaml.Node, path: DocPath, enclosing: frozenset[int] = frozenset()
) -> Iterator[tuple[DocPath, Mark, Mark]]:
    """(path, first mark, repeated mark) for every key given twice in one mapping."""
    if id(node) in enclosing:
        return
    inside = enclosing | {id(node)}
    if isinstance(node, yaml.MappingNode):
        seen: dict[str | int, Mark] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                continue
            key = _key_of(key_node)
            mark = Mark.of(key_node.start_mark)
            if key in seen:
                yield (*path, key), seen[key], mark
            else:
                seen[key] = mark
            yield from _duplicate_keys(value_node, (*path, key), inside)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            yield from _duplicate_keys(item, (*path, index), inside)


def _record_positions(
    node: yaml.Node,
    path: DocPath,
    key: Mark | None,
    positions: dict[DocPath, Located],
    enclosing: frozenset[int] = frozenset(),
) -> None:
    # Aliases share node objects; a node that contains itself is not walked again.
    if id(node) in enclosing:
        return
    inside = enclosing | {id(node)}
    positions[path] = Located(value=Mark.of(node.start_mark), key=key)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            child = (*path, _key_of(key_node))
            _record_positions(value_node, child, Mark.of(key_node.start_mark), positions, inside)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _record_positions(item, (*path, index), None, positions, inside)
