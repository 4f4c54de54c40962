"""Which kinds live in a namespace, and how an app's default namespace is applied.

``kubectl apply -n NS`` and ``helm install -n NS`` put every namespaced object that names
no namespace into NS, and never put a cluster-scoped object in one. fleet does the same
at render time, so that the object references it tracks and prunes are the ones the API
server will hold. The scope of a kind comes from the built-in table below (Kubernetes
1.33) or from a CustomResourceDefinition in the same render; the scope of any other kind
is unknown at render time, and such objects are left as written and reported, for the
caller to settle with API discovery. A namespace written on a cluster-scoped object is
dropped, as the API server drops it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from fleet.model.manifests import Manifest
from fleet.model.refs import ObjectRef

#: (group, kind) -> namespaced?
Scopes = Mapping[tuple[str, str], bool]

_CLUSTER_SCOPED: dict[str, tuple[str, ...]] = {
    "": ("Namespace", "Node", "PersistentVolume", "ComponentStatus"),
    "admissionregistration.k8s.io": (
        "MutatingWebhookConfiguration",
        "ValidatingWebhookConfiguration",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
        "MutatingAdmissionPolicy",
        "MutatingAdmissionPolicyBinding",
    ),
    "apiextensions.k8s.io": ("CustomResourceDefinition",),
    "apiregistration.k8s.io": ("APIService",),
    "authentication.k8s.io": ("TokenReview", "SelfSubjectReview"),
    "authorization.k8s.io": (
        "SubjectAccessReview",
        "SelfSubjectAccessReview",
        "SelfSubjectRulesReview",
    ),
    "certificates.k8s.io": ("CertificateSigningRequest", "ClusterTrustBundle"),
    "flowcontrol.apiserver.k8s.io": ("FlowSchema", "PriorityLevelConfiguration"),
    "internal.apiserver.k8s.io": ("StorageVersion",),
    "networking.k8s.io": ("IngressClass", "IPAddress", "ServiceCIDR"),
    "node.k8s.io": ("RuntimeClass",),
    "policy": ("PodSecurityPolicy",),
    "rbac.authorization.k8s.io": ("ClusterRole", "ClusterRoleBinding"),
    "resource.k8s.io": ("DeviceClass", "ResourceSlice"),
    "scheduling.k8s.io": ("PriorityClass",),
    "storage.k8s.io": ("StorageClass", "CSIDriver", "CSINode", "VolumeAttachment"),
    "storagemigration.k8s.io": ("StorageVersionMigration",),
}

_NAMESPACED: dict[str, tuple[str, ...]] = {
    "": (
        "Binding",
        "ConfigMap",
        "Endpoints",
        "Event",
        "LimitRange",
        "PersistentVolumeClaim",
        "Pod",
        "PodTemplate",
        "ReplicationController",
        "ResourceQuota",
        "Secret",
        "Service",
        "ServiceAccount",
    ),
    "apps": ("ControllerRevision", "DaemonSet", "Deployment", "ReplicaSet", "StatefulSet"),
    "authorization.k8s.io": ("LocalSubjectAccessReview",),
    "autoscaling": ("HorizontalPodAutoscaler",),
    "batch": ("CronJob", "Job"),
    "coordination.k8s.io": ("Lease", "LeaseCandidate"),
    "discovery.k8s.io": ("EndpointSlice",),
    "events.k8s.io": ("Event",),
    "networking.k8s.io": ("Ingress", "NetworkPolicy"),
    "policy": ("PodDisruptionBudget",),
    "rbac.authorization.k8s.io": ("Role", "RoleBinding"),
    "resource.k8s.io": ("ResourceClaim", "ResourceClaimTemplate"),
    "storage.k8s.io": ("CSIStorageCapacity",),
}

BUILTIN_SCOPES: Scopes = {
    **{(group, kind): False for group, kinds in _CLUSTER_SCOPED.items() for kind in kinds},
    **{(group, kind): True for group, kinds in _NAMESPACED.items() for kind in kinds},
}


def crd_scopes(manifests: Iterable[Manifest]) -> dict[tuple[str, str], bool]:
    """The scopes declared by the CustomResourceDefinitions among ``manifests``."""
    scopes: dict[tuple[str, str], bool] = {}
    for manifest in manifests:
        if (manifest.ref.group, manifest.ref.kind) != (
            "apiextensions.k8s.io",
            "CustomResourceDefinition",
        ):
            continue
        spec = manifest.body.get("spec")
        if not isinstance(spec, Mapping) or not isinstance(spec.get("names"), Mapping):
            continue
        group, kind = spec.get("group"), spec["names"].get("kind")
        if isinstance(group, str) and isinstance(kind, str):
            scopes[(group, kind)] = spec.get("scope", "Namespaced") != "Cluster"
    return scopes


@dataclass(frozen=True, slots=True)
class Defaulted:
    """Manifests with namespaces settled, and the objects whose scope is unknown."""

    manifests: list[Manifest]
    unscoped: tuple[ObjectRef, ...]


def default_namespaces(
    manifests: list[Manifest], namespace: str | None, extra_scopes: Scopes | None = None
) -> Defaulted:
    """Give namespaced objects without a namespace ``namespace``; clear cluster-scoped ones.

    ``extra_scopes`` (for instance from API discovery) wins over the CRDs of the render,
    which win over the built-in table.
    """
    scopes = {**BUILTIN_SCOPES, **crd_scopes(manifests), **(extra_scopes or {})}
    settled: list[Manifest] = []
    unscoped: list[ObjectRef] = []
    for manifest in manifests:
        written = manifest.ref.namespace
        namespaced = scopes.get((manifest.ref.group, manifest.ref.kind))
        if namespaced is None:
            if not written:
                unscoped.append(manifest.ref)
            settled.append(manifest)
        elif namespaced and not written and namespace:
            settled.append(_with_namespace(manifest, namespace))
        elif not namespaced and written:
            settled.append(_with_namespace(manifest, None))
        else:
            settled.append(manifest)
    return Defaulted(settled, tuple(unscoped))


def _with_namespace(manifest: Manifest, namespace: str | None) -> Manifest:
    metadata: dict[str, Any] = dict(manifest.body.get("metadata") or {})
    if namespace is None:
        metadata.pop("namespace", None)
    else:
        metadata["namespace"] = namespace
    body = {**manifest.body, "metadata": metadata}
    return Manifest(ref=ObjectRef.of(body), body=body, origin=manifest.origin)
