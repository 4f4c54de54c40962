"""The health of one live object, and of an app made of many.

``assess`` picks, in order: an object being deleted is Progressing; a user's rule set for
the object's group/kind (fleet.model.health_rules) if one is declared; fleet's built-in
rule for the kind; otherwise the generic kstatus rules.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from fleet.engine.health import others, workloads
from fleet.engine.health.custom import evaluate
from fleet.engine.health.fields import Obj, section
from fleet.engine.health.kstatus import kstatus
from fleet.model.health import Health, HealthStatus, worst
from fleet.model.health_rules import HealthRuleSet, find_rule_set
from fleet.model.refs import ObjectRef

__all__ = ["BUILT_IN", "Health", "HealthStatus", "app_health", "assess", "kstatus", "worst"]

#: (group, kind) -> rule. Kinds under several groups over time are listed under each.
BUILT_IN: dict[tuple[str, str], Callable[[Obj], Health]] = {
    ("apps", "Deployment"): workloads.deployment,
    ("apps", "StatefulSet"): workloads.stateful_set,
    ("apps", "DaemonSet"): workloads.daemon_set,
    ("apps", "ReplicaSet"): workloads.replica_set,
    ("", "Pod"): workloads.pod,
    ("batch", "Job"): workloads.job,
    ("", "Service"): others.service,
    ("networking.k8s.io", "Ingress"): others.ingress,
    ("extensions", "Ingress"): others.ingress,
    ("", "PersistentVolumeClaim"): others.persistent_volume_claim,
    ("apiregistration.k8s.io", "APIService"): others.api_service,
    ("autoscaling", "HorizontalPodAutoscaler"): others.horizontal_pod_autoscaler,
    ("apiextensions.k8s.io", "CustomResourceDefinition"): others.custom_resource_definition,
}


def assess(obj: Obj, rule_sets: tuple[HealthRuleSet, ...] = ()) -> Health:
    """Health of one live object."""
    if section(obj, "metadata").get("deletionTimestamp"):
        return Health(HealthStatus.PROGRESSING, "being deleted")
    ref = ObjectRef.of(dict(obj))
    rule_set = find_rule_set(rule_sets, ref.group, ref.kind) if rule_sets else None
    if rule_set is not None:
        return evaluate(obj, rule_set)
    rule = BUILT_IN.get((ref.group, ref.kind))
    return rule(obj) if rule is not None else kstatus(obj)


def app_health(
    objects: Iterable[tuple[ObjectRef, Obj | None]], rule_sets: tuple[HealthRuleSet, ...] = ()
) -> Health:
    """The worst health of an app's objects, its message naming the object; an expected
    object that is absent is Missing."""
    return worst(_named(ref, obj, rule_sets) for ref, obj in objects)


def _named(ref: ObjectRef, obj: Obj | None, rule_sets: tuple[HealthRuleSet, ...]) -> Health:
    if obj is None:
        return Health(HealthStatus.MISSING, f"{ref}: does not exist")
    health = assess(obj, rule_sets)
    return Health(health.status, f"{ref}: {health.message}" if health.message else str(ref))
