"""Is a live object still what fleet applied? Answered locally, without a request.

Asking the server (a server-side apply dry-run) for every object on every reconcile
would cost one request per object per cluster even when nothing changed. Instead the
applied configuration is checked as a subset of the live object: every field fleet sets
must hold the same value live (fields the server or other managers add are fine, as
they are with server-side apply). Values the server canonicalises are compared by
meaning: quantities (``0.5`` and ``500m``, ``1Gi`` and ``1073741824``) and numbers
written as strings. Ignored differences (JSON pointers, or fields of listed managers)
are removed from both sides first.

A ``False`` here is a suspicion, not a verdict: the runtime confirms it with a dry-run
(``fleet.engine.diff.compare``) before calling the object OutOfSync, and remembers the
answer for that live resourceVersion.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from fleet.engine.diff.ignore import apply_ignores, rules_for
from fleet.engine.diff.normalize import normalize
from fleet.model.ignore_differences import IgnoreDifference
from fleet.model.refs import ObjectRef

_QUANTITY = re.compile(
    r"^([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?$"
)
_SUFFIX = {
    None: Decimal(1),
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
    "Ki": Decimal(2**10),
    "Mi": Decimal(2**20),
    "Gi": Decimal(2**30),
    "Ti": Decimal(2**40),
    "Pi": Decimal(2**50),
    "Ei": Decimal(2**60),
}


def quantity(value: Any) -> Decimal | None:
    """The value of a Kubernetes quantity (or a plain number), or None if it is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return Decimal(str(value))
    if not isinstance(value, str):
        return None
    match = _QUANTITY.match(value.strip())
    if match is None:
        return None
    try:
        return Decimal(match.group(1)) * _SUFFIX[match.group(2)]
    except InvalidOperation:
        return None


_SCALARS = frozenset({str, int, float, bool, type(None)})


def _same_scalar(desired: Any, live: Any) -> bool:
    if desired == live and type(desired) is type(live):
        return True
    if isinstance(desired, bool) or isinstance(live, bool):
        return False
    left, right = quantity(desired), quantity(live)
    return left is not None and left == right


@dataclass(frozen=True, slots=True)
class Mismatch:
    """The first JSON pointers where live differs from what fleet applies."""

    pointers: tuple[str, ...]


def _walk(desired: Any, live: Any, path: str, found: list[str], limit: int) -> None:
    if len(found) >= limit:
        return
    if isinstance(desired, Mapping):
        if not isinstance(live, Mapping):
            found.append(path or "/")
            return
        for key, value in desired.items():
            pointer = f"{path}/{str(key).replace('~', '~0').replace('/', '~1')}"
            if value is None:
                if live.get(key) is not None:
                    found.append(pointer)
                continue
            if key not in live:
                found.append(pointer)
                continue
            _walk(value, live[key], pointer, found, limit)
        return
    if isinstance(desired, list):
        if not isinstance(live, list) or len(live) != len(desired):
            found.append(path)
            return
        for index, (want, have) in enumerate(zip(desired, live, strict=True)):
            _walk(want, have, f"{path}/{index}", found, limit)
        return
    if not _same_scalar(desired, live):
        found.append(path)


def live_mismatch(
    ref: ObjectRef,
    applied: Mapping[str, Any],
    live: Mapping[str, Any] | None,
    rules: Iterable[IgnoreDifference] = (),
    limit: int = 20,
) -> Mismatch | None:
    """None when every field of ``applied`` holds in ``live``; else where it does not."""
    if live is None:
        return Mismatch(("",))
    want, have = _comparable(ref, applied, live, rules)
    found: list[str] = []
    _walk(want, have, "", found, limit)
    return Mismatch(tuple(found)) if found else None


def live_matches(
    ref: ObjectRef,
    applied: Mapping[str, Any],
    live: Mapping[str, Any] | None,
    rules: Iterable[IgnoreDifference] = (),
) -> bool:
    """``live_mismatch(...) is None``, without writing down where (a sync asks this of
    every object it dry-runs, and naming each field it walks was most of the cost)."""
    if live is None:
        return False
    want, have = _comparable(ref, applied, live, rules)
    return _holds(want, have)


def _comparable(
    ref: ObjectRef,
    applied: Mapping[str, Any],
    live: Mapping[str, Any],
    rules: Iterable[IgnoreDifference],
) -> tuple[Any, Any]:
    selected = rules_for(ref, rules)
    # Ignore rules cut fields out in place: only then must the copies be deep.
    want = apply_ignores(normalize(applied, deep=bool(selected)), selected, live)
    have = apply_ignores(normalize(live, deep=bool(selected)), selected, live)
    return want, have


def _holds(desired: Any, live: Any) -> bool:
    """What ``_walk`` finds nothing in: every field of ``desired`` holds in ``live``."""
    if type(desired) in _SCALARS:
        return _same_scalar(desired, live)
    if isinstance(desired, dict | Mapping):
        if not isinstance(live, dict | Mapping):
            return False
        for key, value in desired.items():
            if value is None:
                if live.get(key) is not None:
                    return False
            elif key not in live or not _holds(value, live[key]):
                return False
        return True
    if isinstance(desired, list):
        if not isinstance(live, list) or len(live) != len(desired):
            return False
        return all(_holds(want, have) for want, have in zip(desired, live, strict=True))
    return _same_scalar(desired, live)
