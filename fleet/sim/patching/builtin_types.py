"""Shared shapes of the built-in API types (ObjectMeta, PodSpec, Container, ...).

Only what changes merging or ownership is declared; every other field is LOOSE (a
struct of named fields, or an atomic list), which is what the Kubernetes OpenAPI says of
those fields. The markers come from the Go types of k8s.io/api: ``+listType``,
``+listMapKey``, ``+mapType``/``+structType`` for server-side apply, and the
``patchStrategy``/``patchMergeKey`` struct tags for strategic merge patch.
"""

from __future__ import annotations

from fleet.sim.patching.types import (
    DEDUCED,
    ListOf,
    Struct,
    Type,
    atomic_list,
    atomic_struct,
    map_list,
    set_list,
    string_map,
    struct,
    with_patch,
)

# -- metadata ------------------------------------------------------------------------

OBJECT_META = struct(
    labels=string_map(),
    annotations=string_map(),
    # +listType=set, patchStrategy=merge
    finalizers=set_list(patch="merge"),
    # +listType=map +listMapKey=uid, patchMergeKey=uid; OwnerReference is +structType=atomic
    ownerReferences=map_list(atomic_struct(), "uid"),
    managedFields=atomic_list(),
)

# metav1.LabelSelector is +structType=atomic.
LABEL_SELECTOR = atomic_struct()

# A condition list keyed by type (+listType=map +listMapKey=type, patchMergeKey=type).
CONDITIONS = map_list(struct(), "type")


def conditions_atomic_merged_by_type() -> ListOf:
    """Job-style conditions: atomic for apply, merged by ``type`` for strategic merge."""
    return ListOf(struct(), list_type="atomic", patch_strategy="merge", patch_merge_key="type")


# -- pods ------------------------------------------------------------------------------

ENV_VAR = struct(
    valueFrom=struct(
        configMapKeyRef=atomic_struct(),
        secretKeyRef=atomic_struct(),
        fieldRef=atomic_struct(),
        resourceFieldRef=atomic_struct(),
    )
)

RESOURCE_REQUIREMENTS = struct(
    limits=string_map(),
    requests=string_map(),
    claims=map_list(struct(), "name", patch=""),
)

CONTAINER = struct(
    zero=("resources",),
    # +listType=map +listMapKey=containerPort +listMapKey=protocol; patchMergeKey=containerPort
    ports=map_list(struct(), "containerPort", "protocol", defaults={"protocol": "TCP"}),
    env=map_list(ENV_VAR, "name"),
    envFrom=atomic_list(),
    volumeMounts=map_list(struct(), "mountPath"),
    volumeDevices=map_list(struct(), "devicePath"),
    resources=RESOURCE_REQUIREMENTS,
    resizePolicy=atomic_list(),
    command=atomic_list(),
    args=atomic_list(),
)

POD_SPEC = struct(
    zero=("containers",),
    volumes=map_list(struct(), "name", patch="merge,retainKeys"),
    initContainers=map_list(CONTAINER, "name"),
    containers=map_list(CONTAINER, "name"),
    ephemeralContainers=map_list(CONTAINER, "name"),
    # LocalObjectReference is +structType=atomic
    imagePullSecrets=map_list(atomic_struct(), "name"),
    tolerations=atomic_list(),
    hostAliases=map_list(struct(hostnames=atomic_list()), "ip"),
    nodeSelector=string_map(atomic=True),
    topologySpreadConstraints=map_list(
        struct(labelSelector=LABEL_SELECTOR),
        "topologyKey",
        "whenUnsatisfiable",
        smp_key="topologyKey",
    ),
    readinessGates=atomic_list(),
    schedulingGates=map_list(struct(), "name"),
    resourceClaims=map_list(struct(), "name", patch="merge,retainKeys"),
    overhead=string_map(),
)

POD_STATUS = struct(
    conditions=CONDITIONS,
    podIPs=map_list(struct(), "ip"),
    hostIPs=ListOf(struct(), list_type="atomic", patch_strategy="merge", patch_merge_key="ip"),
    containerStatuses=atomic_list(),
    initContainerStatuses=atomic_list(),
    ephemeralContainerStatuses=atomic_list(),
    resourceClaimStatuses=map_list(struct(), "name", patch="merge,retainKeys"),
)

POD_TEMPLATE_SPEC = struct(zero=("metadata", "spec"), metadata=OBJECT_META, spec=POD_SPEC)

# -- workloads -------------------------------------------------------------------------

WORKLOAD_STATUS = struct(conditions=CONDITIONS)

DEPLOYMENT_SPEC = struct(
    zero=("selector", "template", "strategy"),
    selector=LABEL_SELECTOR,
    template=POD_TEMPLATE_SPEC,
    strategy=struct(patch="retainKeys"),
)

REPLICA_SET_SPEC = struct(
    zero=("selector", "template"), selector=LABEL_SELECTOR, template=POD_TEMPLATE_SPEC
)

STATEFUL_SET_SPEC = struct(
    zero=("selector", "template", "updateStrategy"),
    selector=LABEL_SELECTOR,
    template=POD_TEMPLATE_SPEC,
    volumeClaimTemplates=atomic_list(),
    updateStrategy=struct(),
)

DAEMON_SET_SPEC = struct(
    zero=("selector", "template", "updateStrategy"),
    selector=LABEL_SELECTOR,
    template=POD_TEMPLATE_SPEC,
    updateStrategy=struct(),
)

JOB_SPEC = struct(
    zero=("template",),
    selector=LABEL_SELECTOR,
    template=POD_TEMPLATE_SPEC,
    podFailurePolicy=struct(rules=atomic_list()),
    successPolicy=struct(rules=atomic_list()),
)

JOB_STATUS = struct(
    conditions=conditions_atomic_merged_by_type(),
    uncountedTerminatedPods=struct(succeeded=set_list(), failed=set_list()),
)

CRON_JOB_SPEC = struct(
    zero=("jobTemplate",),
    jobTemplate=struct(zero=("metadata", "spec"), metadata=OBJECT_META, spec=JOB_SPEC),
)

# -- services and networking -----------------------------------------------------------

SERVICE_SPEC = struct(
    # +listType=map +listMapKey=port +listMapKey=protocol; patchMergeKey=port
    ports=map_list(struct(), "port", "protocol", smp_key="port", defaults={"protocol": "TCP"}),
    selector=string_map(atomic=True),
)

SERVICE_STATUS = struct(zero=("loadBalancer",), loadBalancer=struct(), conditions=CONDITIONS)

INGRESS_SPEC = struct(rules=atomic_list(), tls=atomic_list())

INGRESS_STATUS = struct(zero=("loadBalancer",), loadBalancer=struct())

NETWORK_POLICY_SPEC = struct(zero=("podSelector",), podSelector=LABEL_SELECTOR)

# -- other kinds -----------------------------------------------------------------------

OBJECT_REFERENCE = atomic_struct()

PVC_SPEC = struct(
    selector=LABEL_SELECTOR,
    resources=struct(limits=string_map(), requests=string_map()),
)

PVC_STATUS = struct(
    conditions=CONDITIONS,
    capacity=string_map(),
    allocatedResources=string_map(),
)

PV_SPEC = struct(capacity=string_map(), claimRef=OBJECT_REFERENCE)

NODE_SPEC = struct(podCIDRs=set_list(patch="merge"))

NODE_STATUS = struct(
    conditions=CONDITIONS,
    addresses=map_list(struct(), "type"),
    capacity=string_map(),
    allocatable=string_map(),
)

RESOURCE_QUOTA_SPEC = struct(hard=string_map())
RESOURCE_QUOTA_STATUS = struct(hard=string_map(), used=string_map())

HPA_V2_SPEC = struct(metrics=atomic_list())
HPA_STATUS = struct(conditions=CONDITIONS, currentMetrics=atomic_list())

PDB_SPEC = struct(selector=with_patch(LABEL_SELECTOR, "replace"))
PDB_STATUS = struct(conditions=CONDITIONS, disruptedPods=string_map())

CRD_SPEC = struct(versions=atomic_list())
CRD_STATUS = struct(conditions=CONDITIONS, storedVersions=atomic_list())

WEBHOOKS = map_list(struct(), "name")


def raw_extension() -> Type:
    """``runtime.RawExtension`` (ControllerRevision.data): schemaless."""
    return DEDUCED


def root(*, zero: tuple[str, ...] = (), **fields: Type) -> Struct:
    """The top-level object of a kind: ObjectMeta plus ``fields``."""
    return Struct(fields={"metadata": OBJECT_META, **fields}, zero=frozenset(("metadata", *zero)))
