"""Health rules that users declare in the fleet config for kinds fleet does not know.

Argo CD asks for Lua and Flux for CEL; fleet asks for data. A rule set names the kinds it
covers (group and kind globs) and lists rules, tried in order; the first rule whose every
check matches decides the status, with a message built from a template. Nothing runs user
code: checks read a condition or a field by JSON pointer and compare it with constants or
with another field, and templates only substitute values. Example (YAML, as in the config)::

    health:
      - group: databases.example.com
        kind: Postgres
        rules:
          - when: [{condition: Failed, status: "True"}]
            health: Degraded
            message: "{condition.reason}: {condition.message}"
          - when: [{field: /status/readyInstances, lessThan: {field: /spec/instances}}]
            health: Progressing
            message: "{/status/readyInstances} of {/spec/instances} instances ready"
          - when: [{condition: Ready, status: "True"}]
            health: Healthy
        default: {health: Progressing, message: waiting for the operator}

A rule set replaces fleet's built-in rule for the kinds it matches. Before its rules, an
object being deleted is Progressing, and (unless ``checkObservedGeneration: false``) so
is an object whose status.observedGeneration, when reported, lags metadata.generation.
When no rule matches, ``default`` decides, or, without one, the generic kstatus rules.
"""

from __future__ import annotations

import re
from fnmatch import fnmatchcase
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

from fleet.model.health import HealthStatus
from fleet.model.pointers import JsonPointer, check_pointer

Scalar = str | int | float | bool | None
RuleHealth = Literal["Healthy", "Progressing", "Degraded", "Suspended", "Unknown"]

#: ``{/json/pointer}`` or ``{condition.message}`` (also reason, type, status).
TEMPLATE_FIELD = re.compile(r"\{([^{}]*)\}")
CONDITION_FIELDS = ("condition.type", "condition.status", "condition.reason", "condition.message")


class _Frozen(BaseModel):
    model_config = ConfigDict(
        frozen=True, extra="forbid", alias_generator=to_camel, populate_by_name=True
    )


class FieldRef(_Frozen):
    """Compare with another field of the same object instead of a constant."""

    field: JsonPointer


class Check(_Frozen):
    """One test on the object: a condition (by type) or a field (by JSON pointer)."""

    condition: str | None = Field(default=None, description="condition type, e.g. Ready")
    status: Literal["True", "False", "Unknown"] | None = None
    reason: str | None = None
    field: JsonPointer | None = None
    equals: Scalar | FieldRef = None
    in_: tuple[Scalar, ...] | None = Field(default=None, alias="in")
    not_in: tuple[Scalar, ...] | None = None
    exists: bool | None = None
    less_than: float | FieldRef | None = None
    greater_than: float | FieldRef | None = None

    @field_validator("status", mode="before")
    @classmethod
    def _yaml_booleans(cls, value: Any) -> Any:
        # YAML reads an unquoted True as a boolean; a condition status is a string.
        return str(value) if isinstance(value, bool) else value

    @model_validator(mode="after")
    def _one_subject(self) -> Check:
        field_ops = {
            "equals": "equals" in self.model_fields_set,
            "in": self.in_ is not None,
            "notIn": self.not_in is not None,
            "exists": self.exists is not None,
            "lessThan": self.less_than is not None,
            "greaterThan": self.greater_than is not None,
        }
        used = [name for name, present in field_ops.items() if present]
        if (self.condition is None) == (self.field is None):
            raise ValueError("a check names exactly one of 'condition' or 'field'")
        if self.condition is not None and used:
            raise ValueError(f"a condition check takes 'status' and 'reason', not {used}")
        if self.field is not None:
            if self.status is not None or self.reason is not None:
                raise ValueError("'status' and 'reason' belong to a condition check")
            if len(used) > 1:
                raise ValueError(f"a field check takes one comparison, got {used}")
        return self


class RuleOutcome(_Frozen):
    health: RuleHealth
    message: str = ""

    @field_validator("message")
    @classmethod
    def _template(cls, value: str) -> str:
        for name in TEMPLATE_FIELD.findall(value):
            if name in CONDITION_FIELDS:
                continue
            if not name.startswith("/"):
                raise ValueError(
                    f"template field {{{name}}}: use a JSON pointer such as {{/status/phase}}"
                    f" or one of {', '.join('{' + f + '}' for f in CONDITION_FIELDS)}"
                )
            check_pointer(name)
        return value

    @property
    def status(self) -> HealthStatus:
        return HealthStatus(self.health)


class HealthRule(RuleOutcome):
    """All checks in ``when`` must match (an empty list always matches)."""

    when: tuple[Check, ...] = ()


class HealthRuleSet(_Frozen):
    """Rules for the kinds matching ``group`` and ``kind`` (shell globs)."""

    group: str = "*"
    kind: str
    conditions_path: JsonPointer = "/status/conditions"
    check_observed_generation: bool = True
    rules: tuple[HealthRule, ...] = Field(min_length=1)
    default: RuleOutcome | None = None

    def matches(self, group: str, kind: str) -> bool:
        return fnmatchcase(group, self.group) and fnmatchcase(kind, self.kind)


def find_rule_set(
    rule_sets: tuple[HealthRuleSet, ...], group: str, kind: str
) -> HealthRuleSet | None:
    """The first rule set declared for a kind (the config's order decides)."""
    for rule_set in rule_sets:
        if rule_set.matches(group, kind):
            return rule_set
    return None
