"""Evaluate the declarative health rules users put in the fleet config.

See fleet.model.health_rules for the format. Evaluation is total: a missing field or an
odd type makes a check not match; it never raises. Secret data is never substituted into
a message.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

from fleet.engine.health.fields import Obj, generation_lag, section
from fleet.engine.health.kstatus import kstatus
from fleet.model.health import Health, HealthStatus
from fleet.model.health_rules import (
    TEMPLATE_FIELD,
    Check,
    FieldRef,
    HealthRuleSet,
    RuleOutcome,
    Scalar,
)
from fleet.model.pointers import pointer_parts, resolve

_MISSING = object()
_SECRET_FIELDS = ("data", "stringData")


@lru_cache(maxsize=1024)
def _parts(pointer: str) -> tuple[str, ...]:
    return pointer_parts(pointer)


def _read(obj: Obj, pointer: str) -> Any:
    return resolve(obj, _parts(pointer), _MISSING)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value).lower()


def _same(value: Any, expected: Any) -> bool:
    if value is _MISSING:
        return False
    if value == expected:
        return True
    scalar = (str, int, float, bool)
    return (
        isinstance(value, scalar)
        and isinstance(expected, scalar)
        and (_text(value) == _text(expected))
    )


def _operand(obj: Obj, value: Scalar | FieldRef) -> Any:
    return _read(obj, value.field) if isinstance(value, FieldRef) else value


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _field_matches(obj: Obj, check: Check) -> bool:
    assert check.field is not None
    value = _read(obj, check.field)
    if check.exists is not None:
        return (value is not _MISSING) == check.exists
    if check.in_ is not None:
        return any(_same(value, option) for option in check.in_)
    if check.not_in is not None:
        return value is not _MISSING and not any(_same(value, o) for o in check.not_in)
    for bound, below in ((check.less_than, True), (check.greater_than, False)):
        if bound is not None:
            limit = _operand(obj, bound)
            if not (_is_number(value) and _is_number(limit)):
                return False
            return bool(value < limit) if below else bool(value > limit)
    return _same(value, _operand(obj, check.equals))


def _condition_matches(conditions: Sequence[Obj], check: Check) -> Obj | None:
    for cond in conditions:
        if cond.get("type") != check.condition:
            continue
        if check.status is not None and cond.get("status") != check.status:
            return None
        if check.reason is not None and cond.get("reason") != check.reason:
            return None
        return cond
    return None


def _render(template: str, obj: Obj, matched: Obj | None) -> str:
    is_secret = obj.get("kind") == "Secret" and obj.get("apiVersion") == "v1"

    def substitute(match: Any) -> str:
        name: str = match.group(1)
        if name.startswith("condition."):
            return str((matched or {}).get(name.removeprefix("condition."), ""))
        if is_secret and _parts(name)[:1] and _parts(name)[0] in _SECRET_FIELDS:
            return "<hidden>"
        value = _read(obj, name)
        if value is _MISSING or value is None:
            return ""
        return value if isinstance(value, str) else json.dumps(value, sort_keys=True)

    return TEMPLATE_FIELD.sub(substitute, template)


def _outcome(outcome: RuleOutcome, obj: Obj, matched: Obj | None) -> Health:
    return Health(outcome.status, _render(outcome.message, obj, matched))


def _observed_lags(obj: Obj) -> bool:
    """kstatus' reading: only a status that reports observedGeneration can lag."""
    return "observedGeneration" in section(obj, "status") and generation_lag(obj) is not None


def evaluate(obj: Obj, rule_set: HealthRuleSet) -> Health:
    """The health an object gets under a user's rule set."""
    if rule_set.check_observed_generation and _observed_lags(obj):
        return Health(
            HealthStatus.PROGRESSING, "waiting for the controller to observe the latest generation"
        )
    found = _read(obj, rule_set.conditions_path)
    conditions = (
        [c for c in found if isinstance(c, Mapping)]
        if isinstance(found, Sequence) and not isinstance(found, str)
        else []
    )
    for rule in rule_set.rules:
        matched: Obj | None = None
        for check in rule.when:
            if check.condition is not None:
                cond = _condition_matches(conditions, check)
                if cond is None:
                    break
                matched = matched or cond
            elif not _field_matches(obj, check):
                break
        else:
            return _outcome(rule, obj, matched)
    if rule_set.default is not None:
        return _outcome(rule_set.default, obj, None)
    return kstatus(obj)
