"""The built-in kinds: for each (group, version, kind), its shape and subresources."""

from __future__ import annotations

from dataclasses import dataclass

from fleet.sim.patching import builtin_types as t
from fleet.sim.patching.types import (
    Struct,
    atomic_list,
    atomic_struct,
    map_list,
    string_map,
    struct,
)


@dataclass(frozen=True, slots=True)
class BuiltinKind:
    root: Struct
    status: bool = False
    scale: bool = False


def _spec_status(spec: Struct, status: Struct, *, scale: bool = False) -> BuiltinKind:
    return BuiltinKind(
        t.root(zero=("spec", "status"), spec=spec, status=status), status=True, scale=scale
    )


def _plain(**fields: Struct) -> BuiltinKind:
    return BuiltinKind(t.root(zero=(), **fields))


_RBAC_RULES = t.root(
    rules=atomic_list(), aggregationRule=struct(clusterRoleSelectors=atomic_list())
)
_RBAC_BINDING = t.root(subjects=atomic_list(), roleRef=atomic_struct())

BUILTIN_KINDS: dict[tuple[str, str, str], BuiltinKind] = {
    # core/v1
    ("", "v1", "Pod"): _spec_status(t.POD_SPEC, t.POD_STATUS),
    ("", "v1", "PodTemplate"): BuiltinKind(
        t.root(zero=("template",), template=t.POD_TEMPLATE_SPEC)
    ),
    ("", "v1", "ReplicationController"): _spec_status(
        struct(selector=string_map(atomic=True), template=t.POD_TEMPLATE_SPEC),
        t.WORKLOAD_STATUS,
        scale=True,
    ),
    ("", "v1", "Service"): _spec_status(t.SERVICE_SPEC, t.SERVICE_STATUS),
    ("", "v1", "Endpoints"): BuiltinKind(t.root(subsets=atomic_list())),
    ("", "v1", "ConfigMap"): BuiltinKind(t.root(data=string_map(), binaryData=string_map())),
    ("", "v1", "Secret"): BuiltinKind(t.root(data=string_map(), stringData=string_map())),
    ("", "v1", "Namespace"): _spec_status(
        struct(finalizers=atomic_list()), struct(conditions=t.CONDITIONS)
    ),
    ("", "v1", "ServiceAccount"): BuiltinKind(
        t.root(secrets=map_list(t.OBJECT_REFERENCE, "name"), imagePullSecrets=atomic_list())
    ),
    ("", "v1", "PersistentVolume"): _spec_status(t.PV_SPEC, struct()),
    ("", "v1", "PersistentVolumeClaim"): _spec_status(t.PVC_SPEC, t.PVC_STATUS),
    ("", "v1", "Node"): _spec_status(t.NODE_SPEC, t.NODE_STATUS),
    ("", "v1", "Event"): BuiltinKind(t.root(involvedObject=t.OBJECT_REFERENCE)),
    ("", "v1", "LimitRange"): _plain(spec=struct(limits=atomic_list())),
    ("", "v1", "ResourceQuota"): _spec_status(t.RESOURCE_QUOTA_SPEC, t.RESOURCE_QUOTA_STATUS),
    # apps/v1
    ("apps", "v1", "Deployment"): _spec_status(t.DEPLOYMENT_SPEC, t.WORKLOAD_STATUS, scale=True),
    ("apps", "v1", "ReplicaSet"): _spec_status(t.REPLICA_SET_SPEC, t.WORKLOAD_STATUS, scale=True),
    ("apps", "v1", "StatefulSet"): _spec_status(t.STATEFUL_SET_SPEC, t.WORKLOAD_STATUS, scale=True),
    ("apps", "v1", "DaemonSet"): _spec_status(t.DAEMON_SET_SPEC, t.WORKLOAD_STATUS),
    ("apps", "v1", "ControllerRevision"): BuiltinKind(t.root(data=t.raw_extension())),
    # batch/v1
    ("batch", "v1", "Job"): _spec_status(t.JOB_SPEC, t.JOB_STATUS),
    ("batch", "v1", "CronJob"): _spec_status(t.CRON_JOB_SPEC, struct(active=atomic_list())),
    # autoscaling
    ("autoscaling", "v1", "HorizontalPodAutoscaler"): _spec_status(struct(), struct()),
    ("autoscaling", "v2", "HorizontalPodAutoscaler"): _spec_status(t.HPA_V2_SPEC, t.HPA_STATUS),
    # policy/v1
    ("policy", "v1", "PodDisruptionBudget"): _spec_status(t.PDB_SPEC, t.PDB_STATUS),
    # networking.k8s.io/v1
    ("networking.k8s.io", "v1", "Ingress"): _spec_status(t.INGRESS_SPEC, t.INGRESS_STATUS),
    ("networking.k8s.io", "v1", "IngressClass"): _plain(spec=struct()),
    ("networking.k8s.io", "v1", "NetworkPolicy"): BuiltinKind(
        t.root(zero=("spec",), spec=t.NETWORK_POLICY_SPEC)
    ),
    # rbac.authorization.k8s.io/v1
    ("rbac.authorization.k8s.io", "v1", "Role"): BuiltinKind(_RBAC_RULES),
    ("rbac.authorization.k8s.io", "v1", "ClusterRole"): BuiltinKind(_RBAC_RULES),
    ("rbac.authorization.k8s.io", "v1", "RoleBinding"): BuiltinKind(_RBAC_BINDING),
    ("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding"): BuiltinKind(_RBAC_BINDING),
    # coordination.k8s.io/v1
    ("coordination.k8s.io", "v1", "Lease"): BuiltinKind(t.root(zero=("spec",), spec=struct())),
    # apiextensions.k8s.io/v1
    ("apiextensions.k8s.io", "v1", "CustomResourceDefinition"): _spec_status(
        t.CRD_SPEC, t.CRD_STATUS
    ),
    # storage, scheduling, discovery, admission, events
    ("storage.k8s.io", "v1", "StorageClass"): BuiltinKind(
        t.root(parameters=string_map(), mountOptions=atomic_list(), allowedTopologies=atomic_list())
    ),
    ("scheduling.k8s.io", "v1", "PriorityClass"): BuiltinKind(t.root()),
    ("discovery.k8s.io", "v1", "EndpointSlice"): BuiltinKind(
        t.root(endpoints=atomic_list(), ports=atomic_list())
    ),
    ("admissionregistration.k8s.io", "v1", "ValidatingWebhookConfiguration"): BuiltinKind(
        t.root(webhooks=t.WEBHOOKS)
    ),
    ("admissionregistration.k8s.io", "v1", "MutatingWebhookConfiguration"): BuiltinKind(
        t.root(webhooks=t.WEBHOOKS)
    ),
    ("events.k8s.io", "v1", "Event"): BuiltinKind(t.root(regarding=t.OBJECT_REFERENCE)),
}
