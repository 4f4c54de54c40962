"""Small readers for the shapes health rules look at: conditions, counts, generations."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

Obj = Mapping[str, Any]


def section(obj: Obj, key: str) -> Obj:
    value = obj.get(key)
    return value if isinstance(value, Mapping) else {}


def number(mapping: Obj, key: str, default: int = 0) -> int:
    value = mapping.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def conditions(obj: Obj) -> list[Obj]:
    found = section(obj, "status").get("conditions")
    if not isinstance(found, list):
        return []
    return [c for c in found if isinstance(c, Mapping)]


def condition(obj: Obj, type_: str) -> Obj | None:
    for cond in conditions(obj):
        if cond.get("type") == type_:
            return cond
    return None


def condition_is(obj: Obj, type_: str, status: str) -> Obj | None:
    """The condition of that type if its status is ``status`` (``True``, ``False``...)."""
    cond = condition(obj, type_)
    return cond if cond is not None and cond.get("status") == status else None


def reason_message(cond: Obj) -> str:
    reason, message = str(cond.get("reason") or ""), str(cond.get("message") or "")
    return f"{reason}: {message}" if reason and message else reason or message


def generation_lag(obj: Obj) -> tuple[int, int] | None:
    """(generation, observedGeneration) when the controller has not seen the spec yet."""
    generation = number(section(obj, "metadata"), "generation")
    observed = number(section(obj, "status"), "observedGeneration")
    return (generation, observed) if generation > observed else None
