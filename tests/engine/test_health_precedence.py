"""Which check decides an object's health, in order, and that it says so.

Deletion, then the app's declarative rule set, then the custom (Lua) check the caller
hands in, then the built-in rule, then the generic kstatus rules.
"""

from __future__ import annotations

from typing import Any

import pytest

from fleet.engine.health import HealthVerdict, explain
from fleet.engine.hooks import HookOutcome, hook_state
from fleet.model.health import Health, HealthStatus
from fleet.model.health_rules import HealthRuleSet

DEPLOYMENT: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "shop", "generation": 1},
    "spec": {"replicas": 1},
    "status": {
        "observedGeneration": 1,
        "replicas": 1,
        "updatedReplicas": 1,
        "availableReplicas": 1,
    },
}
WIDGET: dict[str, Any] = {
    "apiVersion": "example.com/v1",
    "kind": "Widget",
    "metadata": {"name": "w", "namespace": "shop"},
}
DELETED = {
    **WIDGET,
    "metadata": {**WIDGET["metadata"], "deletionTimestamp": "2026-01-01T00:00:00Z"},
}


def rule_set(group: str, kind: str) -> HealthRuleSet:
    return HealthRuleSet.model_validate(
        {
            "group": group,
            "kind": kind,
            "checkObservedGeneration": False,
            "rules": [{"when": [], "health": "Suspended", "message": "rule"}],
        }
    )


def lua(kinds: set[str]) -> Any:
    def custom(obj: Any) -> HealthVerdict | None:
        if obj["kind"] not in kinds:
            return None
        return HealthVerdict(Health(HealthStatus.DEGRADED, "lua"), "Lua test.lua")

    return custom


@pytest.mark.parametrize(
    ("obj", "rules", "custom", "status", "decided_by"),
    [
        (
            DELETED,
            (rule_set("*", "Widget"),),
            lua({"Widget"}),
            HealthStatus.PROGRESSING,
            "deletion",
        ),
        (
            WIDGET,
            (rule_set("example.com", "Widget"),),
            lua({"Widget"}),
            HealthStatus.SUSPENDED,
            "rule set for group example.com kind Widget",
        ),
        (
            WIDGET,
            (rule_set("other.com", "Widget"),),
            lua({"Widget"}),
            HealthStatus.DEGRADED,
            "Lua test.lua",
        ),
        (DEPLOYMENT, (), lua({"Deployment"}), HealthStatus.DEGRADED, "Lua test.lua"),
        (DEPLOYMENT, (), lua({"Widget"}), HealthStatus.HEALTHY, "built-in apps/Deployment"),
        (DEPLOYMENT, (), None, HealthStatus.HEALTHY, "built-in apps/Deployment"),
        (WIDGET, (), lua(set()), HealthStatus.HEALTHY, "generic (kstatus)"),
    ],
    ids=[
        "deletion before everything",
        "the app's rule set before a Lua check",
        "a Lua check when no rule set covers the kind",
        "a Lua check before the built-in rule",
        "the built-in rule when no Lua check covers the kind",
        "the built-in rule without custom checks",
        "kstatus last",
    ],
)
def test_order(
    obj: dict[str, Any],
    rules: tuple[HealthRuleSet, ...],
    custom: Any,
    status: HealthStatus,
    decided_by: str,
) -> None:
    verdict = explain(obj, rules, custom)
    assert verdict.health.status is status
    assert verdict.decided_by == decided_by


def test_a_custom_check_decides_when_a_hook_of_its_kind_has_ended() -> None:
    assert hook_state(WIDGET, (), lua({"Widget"})).outcome is HookOutcome.FAILED
    assert hook_state(WIDGET).outcome is HookOutcome.SUCCEEDED
