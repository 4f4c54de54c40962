"""JSON values as the API server sees them: equality, copying, ordering and rendering.

Python's ``==`` says ``True == 1`` and ``1 == 1.0``; JSON (and Go's ``interface{}``
comparisons used by the API machinery) keeps booleans apart from numbers, so every
comparison in this package goes through :func:`json_equal`. Canonical JSON follows Go's
``encoding/json`` (compact, HTML characters escaped) because it ends up inside
``managedFields`` keys such as ``k:{"name":"web"}``, which clients compare byte for byte.
"""

from __future__ import annotations

import json
from typing import Any

JSONObject = dict[str, Any]


class _Missing:
    """The absence of a value (as opposed to JSON ``null``)."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Any = _Missing()


def json_equal(a: Any, b: Any) -> bool:
    """Deep equality of two JSON values; booleans never equal numbers."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a is b
    if isinstance(a, dict):
        if not isinstance(b, dict) or len(a) != len(b):
            return False
        return all(k in b and json_equal(v, b[k]) for k, v in a.items())
    if isinstance(a, list):
        if not isinstance(b, list) or len(a) != len(b):
            return False
        return all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if type(a) is not type(b):
        return False
    return bool(a == b)


def copy_json(value: Any) -> Any:
    """A deep copy of a JSON value (faster than ``copy.deepcopy`` for plain data)."""
    if isinstance(value, dict):
        return {k: copy_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [copy_json(v) for v in value]
    return value


_GO_ESCAPES = str.maketrans(
    {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
)


def canonical_json(value: Any) -> str:
    """Compact JSON with sorted object keys, escaped the way Go's encoder escapes."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=True)
    return text.translate(_GO_ESCAPES)


def value_sort_key(value: Any) -> tuple[Any, ...]:
    """A total order over JSON values: numbers, strings, booleans, lists, objects, null.

    This is the order structured-merge-diff uses to sort set items (``v:``) and key
    values (``k:``) when it writes ``managedFields``.
    """
    if isinstance(value, bool):
        return (2, value)
    if isinstance(value, int | float):
        return (0, value)
    if isinstance(value, str):
        return (1, value)
    if isinstance(value, list):
        return (3, tuple(value_sort_key(v) for v in value))
    if isinstance(value, dict):
        return (4, tuple((k, value_sort_key(value[k])) for k in sorted(value)))
    return (5,)


def value_to_string(value: Any) -> str:
    """Human-readable rendering used in field paths: strings quoted, others bare."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ",".join(value_to_string(v) for v in value) + "]"
    if isinstance(value, dict):
        return "".join(f"{k}={value_to_string(value[k])}" for k in sorted(value))
    return str(value)


def strip_nulls(value: Any) -> Any:
    """``value`` without object members whose value is ``null`` (recursively).

    A typed API server decodes ``null`` into an absent field; this is the same effect on
    plain JSON.
    """
    if isinstance(value, dict):
        return {k: strip_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [strip_nulls(v) for v in value]
    return value
