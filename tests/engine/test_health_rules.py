"""User-declared health rules: the format (validation) and what they decide."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from fleet.engine.health import assess
from fleet.engine.hooks import HookOutcome, hook_state
from fleet.model.health import HealthStatus
from fleet.model.health_rules import HealthRuleSet

POSTGRES = HealthRuleSet.model_validate(
    yaml.safe_load(
        """
        group: databases.example.com
        kind: Postgres
        rules:
          - when: [{condition: Failed, status: True}]
            health: Degraded
            message: "{condition.reason}: {condition.message}"
          - when: [{field: /status/phase, in: [Paused, Hibernating]}]
            health: Suspended
            message: "phase {/status/phase}"
          - when: [{field: /status/readyInstances, lessThan: {field: /spec/instances}}]
            health: Progressing
            message: "{/status/readyInstances} of {/spec/instances} ready"
          - when:
              - {condition: Ready, status: "True"}
              - {field: /status/primary, exists: true}
            health: Healthy
            message: "primary {/status/primary}"
        default: {health: Progressing, message: waiting for the operator}
        """
    )
)


def pg(
    status: dict[str, Any] | None = None, instances: int = 2, generation: int = 1, **meta: Any
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "apiVersion": "databases.example.com/v1",
        "kind": "Postgres",
        "metadata": {"name": "db", "namespace": "web", "generation": generation, **meta},
        "spec": {"instances": instances},
    }
    if status is not None:
        out["status"] = status
    return out


def cond(type_: str, status: str, reason: str = "", message: str = "") -> dict[str, str]:
    return {"type": type_, "status": status, "reason": reason, "message": message}


EVALUATION: list[tuple[str, dict[str, Any], HealthStatus, str]] = [
    (
        "first matching rule decides: a failed condition",
        pg(
            {
                "conditions": [
                    cond("Failed", "True", "DiskFull", "volume full"),
                    cond("Ready", "True"),
                ],
                "primary": "db-0",
            }
        ),
        HealthStatus.DEGRADED,
        "DiskFull: volume full",
    ),
    (
        "condition with another status does not match",
        pg(
            {
                "conditions": [cond("Failed", "False"), cond("Ready", "True")],
                "primary": "db-0",
                "readyInstances": 2,
            }
        ),
        HealthStatus.HEALTHY,
        "primary db-0",
    ),
    (
        "a field in a list of values",
        pg({"phase": "Hibernating"}),
        HealthStatus.SUSPENDED,
        "phase Hibernating",
    ),
    (
        "a field compared with another field",
        pg({"readyInstances": 1}),
        HealthStatus.PROGRESSING,
        "1 of 2 ready",
    ),
    (
        "every check of a rule must match (no primary yet)",
        pg({"readyInstances": 2, "conditions": [cond("Ready", "True")]}),
        HealthStatus.PROGRESSING,
        "waiting for the operator",
    ),
    ("no rule matches: the default", pg({}), HealthStatus.PROGRESSING, "waiting for the operator"),
    (
        "a lagging observedGeneration comes before the rules",
        pg({"observedGeneration": 1, "conditions": [cond("Failed", "True")]}, generation=2),
        HealthStatus.PROGRESSING,
        "latest generation",
    ),
    (
        "being deleted comes before the rules",
        pg({"conditions": [cond("Failed", "True")]}, deletionTimestamp="2026-01-01T00:00:00Z"),
        HealthStatus.PROGRESSING,
        "deleted",
    ),
]


@pytest.mark.parametrize(
    ("live", "status", "message"),
    [(o, s, m) for _, o, s, m in EVALUATION],
    ids=[row[0] for row in EVALUATION],
)
def test_rules_decide(live: dict[str, Any], status: HealthStatus, message: str) -> None:
    health = assess(live, (POSTGRES,))
    assert health.status is status
    assert message in health.message


def rule_set(*rules: dict[str, Any], **extra: Any) -> HealthRuleSet:
    return HealthRuleSet.model_validate({"kind": "*", "rules": list(rules), **extra})


def test_without_default_the_kstatus_rules_apply() -> None:
    rules = rule_set({"when": [{"field": "/status/phase", "equals": "Done"}], "health": "Healthy"})
    stalled = {
        "apiVersion": "x.io/v1",
        "kind": "Thing",
        "metadata": {"name": "t"},
        "status": {"conditions": [cond("Stalled", "True", "Broken")]},
    }
    assert assess(stalled, (rules,)).status is HealthStatus.DEGRADED


CHECKS: list[tuple[str, dict[str, Any], dict[str, Any], bool]] = [
    ("equals a string", {"field": "/status/phase", "equals": "Ready"}, {"phase": "Ready"}, True),
    (
        "equals compares YAML booleans with strings",
        {"field": "/status/ok", "equals": True},
        {"ok": "true"},
        True,
    ),
    ("equals a number", {"field": "/status/n", "equals": 3}, {"n": 3}, True),
    (
        "equals on a missing field never matches",
        {"field": "/status/phase", "equals": None},
        {},
        False,
    ),
    (
        "equals another field",
        {"field": "/status/v", "equals": {"field": "/spec/v"}},
        {"v": "1.2"},
        True,
    ),
    ("notIn", {"field": "/status/phase", "notIn": ["Failed"]}, {"phase": "Ready"}, True),
    (
        "notIn on a missing field does not match",
        {"field": "/status/phase", "notIn": ["Failed"]},
        {},
        False,
    ),
    ("exists: false", {"field": "/status/error", "exists": False}, {}, True),
    ("exists: true", {"field": "/status/error", "exists": True}, {"error": None}, True),
    ("greaterThan a constant", {"field": "/status/n", "greaterThan": 2}, {"n": 3}, True),
    ("greaterThan is strict", {"field": "/status/n", "greaterThan": 3}, {"n": 3}, False),
    (
        "lessThan with a non-number never matches",
        {"field": "/status/n", "lessThan": 5},
        {"n": "4"},
        False,
    ),
    (
        "a pointer into a list",
        {"field": "/status/items/1/name", "equals": "b"},
        {"items": [{"name": "a"}, {"name": "b"}]},
        True,
    ),
    (
        "a pointer past a list's end",
        {"field": "/status/items/5", "exists": True},
        {"items": []},
        False,
    ),
    ("a pointer through a scalar", {"field": "/status/n/deeper", "exists": True}, {"n": 1}, False),
    ("a pointer with an escaped slash", {"field": "/status/a~1b", "equals": 1}, {"a/b": 1}, True),
    (
        "condition by type only",
        {"condition": "Ready"},
        {"conditions": [cond("Ready", "False")]},
        True,
    ),
    (
        "condition with a reason",
        {"condition": "Ready", "reason": "Done"},
        {"conditions": [cond("Ready", "True", "Other")]},
        False,
    ),
]


@pytest.mark.parametrize(
    ("check", "status", "matches"),
    [(c, s, m) for _, c, s, m in CHECKS],
    ids=[row[0] for row in CHECKS],
)
def test_checks(check: dict[str, Any], status: dict[str, Any], matches: bool) -> None:
    rules = rule_set({"when": [check], "health": "Degraded"}, default={"health": "Healthy"})
    live = {
        "apiVersion": "x.io/v1",
        "kind": "Thing",
        "metadata": {"name": "t"},
        "spec": {"v": "1.2"},
        "status": status,
    }
    expected = HealthStatus.DEGRADED if matches else HealthStatus.HEALTHY
    assert assess(live, (rules,)).status is expected


def test_rule_sets_match_by_group_and_kind_globs_first_declared_wins() -> None:
    first = HealthRuleSet.model_validate(
        {"group": "*.example.com", "kind": "Post*", "rules": [{"health": "Suspended"}]}
    )
    second = HealthRuleSet.model_validate({"kind": "*", "rules": [{"health": "Degraded"}]})
    assert assess(pg({}), (first, second)).status is HealthStatus.SUSPENDED
    other = {"apiVersion": "other.io/v1", "kind": "Postgres", "metadata": {"name": "x"}}
    assert assess(other, (first, second)).status is HealthStatus.DEGRADED


def test_a_rule_set_replaces_the_built_in_rule() -> None:
    rules = HealthRuleSet.model_validate(
        {
            "group": "apps",
            "kind": "Deployment",
            "checkObservedGeneration": False,
            "rules": [
                {"when": [{"field": "/metadata/labels/ok", "equals": "yes"}], "health": "Healthy"}
            ],
            "default": {"health": "Degraded", "message": "no"},
        }
    )
    live = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "d", "generation": 5, "labels": {"ok": "yes"}},
        "status": {"observedGeneration": 1},
    }
    assert assess(live, (rules,)).status is HealthStatus.HEALTHY


def test_templates_never_show_secret_data() -> None:
    rules = HealthRuleSet.model_validate(
        {
            "kind": "Secret",
            "group": "",
            "rules": [{"health": "Degraded", "message": "value {/data/password} type {/type}"}],
        }
    )
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "s"},
        "type": "Opaque",
        "data": {"password": "aHVudGVyMg=="},
    }
    message = assess(secret, (rules,)).message
    assert "aHVudGVyMg" not in message
    assert message == "value <hidden> type Opaque"


def test_templates_render_missing_and_structured_values() -> None:
    rules = rule_set(
        {
            "health": "Progressing",
            "message": "[{/status/missing}] {/status/counts} {condition.reason}",
        }
    )
    live = {
        "apiVersion": "x.io/v1",
        "kind": "T",
        "metadata": {"name": "t"},
        "status": {"counts": {"b": 2, "a": 1}},
    }
    assert assess(live, (rules,)).message == '[] {"a": 1, "b": 2} '


def test_custom_rules_decide_hook_completion_for_other_kinds() -> None:
    rules = rule_set(
        {"when": [{"field": "/status/phase", "equals": "Succeeded"}], "health": "Healthy"},
        {
            "when": [{"field": "/status/phase", "equals": "Failed"}],
            "health": "Degraded",
            "message": "workflow failed",
        },
        default={"health": "Progressing"},
    )
    workflow = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": "w"},
        "status": {"phase": "Failed"},
    }
    assert hook_state(workflow, (rules,)).outcome is HookOutcome.FAILED


INVALID: list[tuple[str, dict[str, Any], str]] = [
    (
        "a check needs a subject",
        {"kind": "X", "rules": [{"when": [{}], "health": "Healthy"}]},
        "exactly one of 'condition' or 'field'",
    ),
    (
        "not both subjects",
        {
            "kind": "X",
            "rules": [{"when": [{"condition": "Ready", "field": "/status"}], "health": "Healthy"}],
        },
        "exactly one",
    ),
    (
        "a field check takes one comparison",
        {
            "kind": "X",
            "rules": [
                {"when": [{"field": "/a", "equals": 1, "exists": True}], "health": "Healthy"}
            ],
        },
        "one comparison",
    ),
    (
        "status belongs to conditions",
        {
            "kind": "X",
            "rules": [{"when": [{"field": "/a", "status": "True"}], "health": "Healthy"}],
        },
        "belong to a condition",
    ),
    (
        "comparisons belong to fields",
        {
            "kind": "X",
            "rules": [{"when": [{"condition": "Ready", "equals": 1}], "health": "Healthy"}],
        },
        "takes 'status'",
    ),
    (
        "pointers start with a slash",
        {
            "kind": "X",
            "rules": [{"when": [{"field": "status.phase", "exists": True}], "health": "Healthy"}],
        },
        "not a JSON pointer",
    ),
    (
        "Missing is not a status a rule may give",
        {"kind": "X", "rules": [{"health": "Missing"}]},
        "health",
    ),
    (
        "unknown keys are errors",
        {"kind": "X", "rules": [{"health": "Healthy", "colour": "red"}]},
        "colour",
    ),
    ("at least one rule", {"kind": "X", "rules": []}, "at least 1"),
    (
        "templates take pointers",
        {"kind": "X", "rules": [{"health": "Healthy", "message": "{status.phase}"}]},
        "use a JSON pointer",
    ),
    (
        "template pointers are checked",
        {"kind": "X", "rules": [{"health": "Healthy", "message": "{/a~2}"}]},
        "not a JSON pointer",
    ),
    (
        "condition status is True, False or Unknown",
        {
            "kind": "X",
            "rules": [{"when": [{"condition": "Ready", "status": "yes"}], "health": "Healthy"}],
        },
        "status",
    ),
]


@pytest.mark.parametrize(
    ("data", "message"), [(d, m) for _, d, m in INVALID], ids=[row[0] for row in INVALID]
)
def test_invalid_rule_sets_are_refused(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        HealthRuleSet.model_validate(data)


def test_rule_sets_are_frozen_and_round_trip() -> None:
    dumped = POSTGRES.model_dump(by_alias=True, exclude_unset=True)
    assert HealthRuleSet.model_validate(dumped) == POSTGRES
    with pytest.raises(ValidationError):
        POSTGRES.kind = "Other"  # type: ignore[misc]
