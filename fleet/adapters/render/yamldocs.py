"""YAML documents with the line each one starts on, read the way Kubernetes reads them.

PyYAML is close to what kubectl and the API server accept (YAML 1.1 through go-yaml),
with two differences fixed here: an unquoted date stays a string (go-yaml only makes a
timestamp when decoding into a time field, and JSON has no dates), and a key repeated in
one mapping is an error, as kubectl reports it, instead of the last value silently
winning. Lines are kept so that every later error can point at the document.

Aliases are bounded the way go-yaml bounds them (see ``aliasing.py``), before any value
is constructed, and a caller can bound the number of documents: hostile input costs
at most its own size.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import yaml

from fleet.adapters.render.aliasing import AliasBudget, ExcessiveAliasing
from fleet.adapters.render.errors import InvalidYamlError
from fleet.adapters.render.limits import LimitExceededError

_Base: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _KubeLoader(_Base):  # type: ignore[valid-type,misc]
    """Safe loader without timestamps and with duplicate-key detection."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, yaml.Node] = {}
        for key_node, _ in node.value:
            if (
                not isinstance(key_node, yaml.ScalarNode)
                or key_node.tag == "tag:yaml.org,2002:merge"
            ):
                continue
            key = self.construct_object(key_node)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping",
                    node.start_mark,
                    f"key {key!r} is repeated (first on line {seen[key].start_mark.line + 1})",
                    key_node.start_mark,
                )
            seen[key] = key_node
        mapping: dict[Any, Any] = super().construct_mapping(node, deep=deep)
        return mapping


_KubeLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in _Base.yaml_implicit_resolvers.items()
}


@dataclass(frozen=True, slots=True)
class Document:
    """One YAML document: its value, the 1-based line it starts on, and its node."""

    value: Any
    line: int
    node: yaml.Node


def load_documents(
    text: str, path: str, *, line_offset: int = 0, max_documents: int | None = None
) -> list[Document]:
    """Every non-empty document of ``text``; ``path`` names the file in errors.

    ``line_offset`` shifts reported lines, for text cut out of a larger file. More than
    ``max_documents`` documents is a :class:`LimitExceededError` (render.max_objects).
    """
    loader = _KubeLoader(text)
    documents: list[Document] = []
    aliases = AliasBudget()
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            line = node.start_mark.line + 1 + line_offset
            try:
                aliases.check(node)
            except ExcessiveAliasing as error:
                raise InvalidYamlError(str(error), path=path, line=line) from None
            if max_documents is not None and len(documents) >= max_documents:
                raise LimitExceededError(
                    f"more than {max_documents} objects, over the limit per app "
                    "(setting render.max_objects)",
                    path=path,
                    line=line,
                )
            value = loader.construct_document(node)
            if value is None:
                continue
            documents.append(Document(value, line, node))
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 + line_offset if mark else None
        problem = error.problem or error.context or "malformed"
        column = f"column {mark.column + 1}: " if mark else ""
        raise InvalidYamlError(f"invalid YAML: {column}{problem}", path=path, line=line) from None
    except yaml.YAMLError as error:
        raise InvalidYamlError(f"invalid YAML: {error}", path=path) from None
    finally:
        loader.dispose()
    return documents


def load_one(text: str, path: str) -> Document | None:
    """The single document of a configuration file (a kustomization, a Chart.yaml)."""
    documents = load_documents(text, path)
    if len(documents) > 1:
        raise InvalidYamlError(
            "expected one YAML document, found several", path=path, line=documents[1].line
        )
    return documents[0] if documents else None


def child_node(node: yaml.Node, key: str) -> yaml.Node | None:
    """The value node under ``key`` in a mapping node, or None."""
    if not isinstance(node, yaml.MappingNode):
        return None
    for key_node, value_node in node.value:
        if isinstance(key_node, yaml.ScalarNode) and key_node.value == key:
            found: yaml.Node = value_node
            return found
    return None


def item_lines(node: yaml.Node | None) -> Iterator[int]:
    """The 1-based start line of each item of a sequence node (nothing for other nodes)."""
    if isinstance(node, yaml.SequenceNode):
        for item in node.value:
            yield item.start_mark.line + 1


def line_of(node: yaml.Node | None, default: int) -> int:
    """The 1-based line a node starts on."""
    return node.start_mark.line + 1 if node is not None else default
