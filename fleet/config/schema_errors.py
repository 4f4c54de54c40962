"""Turning pydantic's validation errors into issues that point at the YAML.

pydantic reports ``loc`` (a path through the data, keys by alias) and a message meant
for programmers. This module finds the node the path names, picks the key or the value
to point at, rewrites the common messages for people editing YAML, and adds near-miss
suggestions for unknown keys and enum values.
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from fleet.config.documents import YamlDocument
from fleet.config.issues import ConfigIssue, DocPath
from fleet.config.suggest import did_you_mean, unknown_key_message

_PLAIN_MESSAGES = {
    "dict_type": "expected a mapping (key: value)",
    "model_type": "expected a mapping (key: value)",
    "model_attributes_type": "expected a mapping (key: value)",
    "list_type": "expected a list",
    "string_type": "expected a string (quote it if it looks like a number or a date)",
    "bool_type": "expected true or false",
    "bool_parsing": "expected true or false",
    "int_type": "expected a whole number",
    "int_parsing": "expected a whole number",
    "int_from_float": "expected a whole number",
    "float_type": "expected a number",
    "float_parsing": "expected a number",
    "path_type": "expected a file path",
}


def issues_from_error(
    error: ValidationError,
    document: YamlDocument,
    model: type[BaseModel],
    prefix: DocPath = (),
) -> list[ConfigIssue]:
    """One issue per pydantic error; ``prefix`` is where the validated data sits."""
    return [
        issue_for_error(detail, document, model, prefix)
        for detail in error.errors()
        if not is_echo(detail)
    ]


def is_echo(detail: ErrorDetails) -> bool:
    """An error that only repeats others: a list "too short" because its items failed."""
    given = detail.get("input")
    minimum = (detail.get("ctx") or {}).get("min_length")
    return (
        detail["type"] == "too_short"
        and isinstance(given, list | tuple)
        and isinstance(minimum, int)
        and len(given) >= minimum
    )


def issue_for_error(
    detail: ErrorDetails, document: YamlDocument, model: type[BaseModel], prefix: DocPath = ()
) -> ConfigIssue:
    """The issue for one pydantic error, pointing at the key or value at fault."""
    loc = _document_path(detail["loc"], _get(document.data, prefix))
    path = (*prefix, *loc)
    kind = detail["type"]
    if kind == "missing":
        return document.issue(path[:-1], describe_error(detail, model))
    if kind == "extra_forbidden":
        return document.issue(path, describe_error(detail, model), at_key=True)
    at = (detail.get("ctx") or {}).get("at")
    if isinstance(at, str) and document.has((*path, at)):
        return document.issue((*path, at), describe_error(detail, model), at_key=True)
    return document.issue(path, describe_error(detail, model))


def describe_error(detail: ErrorDetails, model: type[BaseModel]) -> str:
    """The message for one pydantic error, in words for someone editing YAML."""
    loc = detail["loc"]
    kind = detail["type"]
    if kind == "extra_forbidden":
        return unknown_key_message(str(loc[-1]), _keys_at(model, tuple(loc[:-1])))
    if kind == "missing":
        return f"missing required key '{loc[-1]}'"
    return _message(detail, detail.get("ctx") or {})


def _message(detail: ErrorDetails, ctx: Mapping[str, Any]) -> str:
    kind = detail["type"]
    if kind in _PLAIN_MESSAGES:
        return _PLAIN_MESSAGES[kind]
    message = detail["msg"]
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    if kind in ("literal_error", "enum"):
        expected = re.findall(r"'([^']*)'", str(ctx.get("expected", "")))
        given = detail.get("input")
        hint = did_you_mean(str(given), expected) if isinstance(given, str) else ""
        return f"{given!r} is not one of {', '.join(expected)}{hint}"
    if kind == "too_short" and ctx.get("min_length") == 1:
        return "must not be empty"
    return message


def _get(data: Any, path: DocPath) -> Any:
    for part in path:
        if not _has(data, part):
            return None
        data = data[part]
    return data


def _has(data: Any, part: str | int) -> bool:
    if isinstance(data, Mapping):
        return part in data
    return isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data)


def _document_path(loc: Sequence[str | int], data: Any) -> DocPath:
    """The part of ``loc`` that names real keys and indexes (union tags are dropped)."""
    path: list[str | int] = []
    for position, part in enumerate(loc):
        last = position == len(loc) - 1
        if _has(data, part):
            data = data[part]
        elif last and isinstance(data, Mapping):
            pass  # a missing or unknown key: keep it, the caller points at its parent
        else:
            continue  # a union member's tag, not a place in the document
        path.append(part)
    return tuple(path)


def _keys_at(model: type[BaseModel], path: DocPath) -> list[str]:
    """The keys allowed in the mapping at ``path`` below ``model`` (aliases)."""
    current: Any = model
    for part in path:
        current = _child_type(current, part)
        if current is None:
            return []
    current = _unwrap(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return [f.alias or name for name, f in current.model_fields.items()]
    return []


def _child_type(annotation: Any, part: str | int) -> Any:
    annotation = _unwrap(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        for name, info in annotation.model_fields.items():
            if part in (info.alias, name):
                return info.annotation
        return None
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (list, tuple, Sequence) and args:
        return args[0]
    if origin in (dict, Mapping) and len(args) == 2:
        return args[1]
    return None


def _unwrap(annotation: Any) -> Any:
    """``Annotated[X, ...]`` -> X; ``X | None`` -> X."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            members = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(members) != 1:
                return annotation
            annotation = members[0]
        else:
            return annotation
