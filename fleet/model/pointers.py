"""JSON pointers (RFC 6901) as config values: validated once, read many times."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any

import jsonpointer
from pydantic import AfterValidator


def check_pointer(value: str) -> str:
    try:
        jsonpointer.JsonPointer(value)
    except jsonpointer.JsonPointerException as error:
        raise ValueError(f"{value!r} is not a JSON pointer (RFC 6901): {error}") from None
    return value


#: A JSON pointer such as ``/spec/replicas`` or ``/metadata/labels/app.kubernetes.io~1name``.
JsonPointer = Annotated[str, AfterValidator(check_pointer)]

_MISSING = object()


def pointer_parts(pointer: str) -> tuple[str, ...]:
    """``/a/b~1c`` -> ("a", "b/c")."""
    return tuple(jsonpointer.JsonPointer(pointer).parts)


def resolve(document: Any, parts: Sequence[str], default: Any = None) -> Any:
    """The value at a parsed pointer, or ``default`` if any step is absent."""
    node = document
    for part in parts:
        if isinstance(node, Mapping):
            if part not in node:
                return default
            node = node[part]
        elif isinstance(node, Sequence) and not isinstance(node, str):
            if not part.isdigit() or int(part) >= len(node):
                return default
            node = node[int(part)]
        else:
            return default
    return node
