"""The health of one live object, and of an app made of many.

``explain`` picks, in order, and says which one decided:

1. an object being deleted is Progressing;
2. the app's declarative rule set for the object's group/kind (fleet.model.health_rules);
3. a custom check handed in by the caller (the fleet-wide Lua checks, run by
   fleet.adapters.health; the engine only calls it and never learns it is Lua);
4. fleet's built-in rule for the kind;
5. otherwise the generic kstatus rules.

User configuration beats built-ins, as in Argo CD (its Lua checks run before its Go
ones); the app's own rules beat the fleet-wide checks, being the narrower scope.
``assess`` is ``explain`` without the explanation.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from fleet.engine.health import others, workloads
from fleet.engine.health.custom import evaluate
from fleet.engine.health.fields import Obj, section
from fleet.engine.health.kstatus import kstatus
from fleet.model.health import Health, HealthStatus, worst
from fleet.model.health_rules import HealthRuleSet, find_rule_set
from fleet.model.refs import ObjectRef

__all__ = [
    "BUILT_IN",
    "CustomHealth",
    "Health",
    "HealthStatus",
    "HealthVerdict",
    "app_health",
    "assess",
    "explain",
    "kstatus",
    "worst",
]

#: (group, kind) -> rule. Kinds under several groups over time are listed under each.
BUILT_IN: dict[tuple[str, str], Callable[[Obj], Health]] = {
    ("apps", "Deployment"): workloads.deployment,
    ("apps", "StatefulSet"): workloads.stateful_set,
    ("apps", "DaemonSet"): workloads.daemon_set,
    ("apps", "ReplicaSet"): workloads.replica_set,
    ("extensions", "Deployment"): workloads.deployment,
    ("extensions", "DaemonSet"): workloads.daemon_set,
    ("extensions", "ReplicaSet"): workloads.replica_set,
    ("", "Pod"): workloads.pod,
    ("batch", "Job"): workloads.job,
    ("", "Service"): others.service,
    ("networking.k8s.io", "Ingress"): others.ingress,
    ("extensions", "Ingress"): others.ingress,
    ("", "PersistentVolumeClaim"): others.persistent_volume_claim,
    ("apiregistration.k8s.io", "APIService"): others.api_service,
    ("autoscaling", "HorizontalPodAutoscaler"): others.horizontal_pod_autoscaler,
    ("apiextensions.k8s.io", "CustomResourceDefinition"): others.custom_resource_definition,
    ("argoproj.io", "Workflow"): others.argo_workflow,
}


@dataclass(frozen=True, slots=True)
class HealthVerdict:
    """A health and the check that decided it (for people: ``fleet health``)."""

    health: Health
    decided_by: str


#: A check the caller hands in: a verdict for the objects it covers, None for the rest.
CustomHealth = Callable[[Obj], HealthVerdict | None]


def explain(
    obj: Obj, rule_sets: tuple[HealthRuleSet, ...] = (), custom: CustomHealth | None = None
) -> HealthVerdict:
    """Health of one live object, and which check decided it."""
    if section(obj, "metadata").get("deletionTimestamp"):
        return HealthVerdict(Health(HealthStatus.PROGRESSING, "being deleted"), "deletion")
    group, kind = _group_kind(obj)
    rule_set = find_rule_set(rule_sets, group, kind) if rule_sets else None
    if rule_set is not None:
        return HealthVerdict(
            evaluate(obj, rule_set), f"rule set for group {rule_set.group} kind {rule_set.kind}"
        )
    if custom is not None:
        verdict = custom(obj)
        if verdict is not None:
            return verdict
    rule = BUILT_IN.get((group, kind))
    if rule is not None:
        return HealthVerdict(rule(obj), f"built-in {group or 'core'}/{kind}")
    return HealthVerdict(kstatus(obj), "generic (kstatus)")


def _group_kind(obj: Obj) -> tuple[str, str]:
    """(group, kind) of a live object, without building its whole reference (this runs
    for every object at every health look)."""
    api_version = str(obj.get("apiVersion") or "")
    return api_version.rpartition("/")[0], str(obj.get("kind") or "")


def assess(
    obj: Obj, rule_sets: tuple[HealthRuleSet, ...] = (), custom: CustomHealth | None = None
) -> Health:
    """Health of one live object."""
    return explain(obj, rule_sets, custom).health


def app_health(
    objects: Iterable[tuple[ObjectRef, Obj | None]],
    rule_sets: tuple[HealthRuleSet, ...] = (),
    custom: CustomHealth | None = None,
) -> Health:
    """The worst health of an app's objects, its message naming the object; an expected
    object that is absent is Missing."""
    return worst(_named(ref, obj, rule_sets, custom) for ref, obj in objects)


def _named(
    ref: ObjectRef,
    obj: Obj | None,
    rule_sets: tuple[HealthRuleSet, ...],
    custom: CustomHealth | None,
) -> Health:
    if obj is None:
        return Health(HealthStatus.MISSING, f"{ref}: does not exist")
    health = assess(obj, rule_sets, custom)
    return Health(health.status, f"{ref}: {health.message}" if health.message else str(ref))
