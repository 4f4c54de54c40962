"""The built-in resources a simulated cluster serves, as one table.

Columns: group, versions (storage/preferred first), kind, plural, namespaced, short
names, extras (``status`` and ``scale`` subresources, ``all`` category, ``nodc`` for no
deletecollection). Taken from the resource lists of a Kubernetes 1.32 API server.
"""

from __future__ import annotations

BuiltinRow = tuple[str, str, str, str, bool, str, str]

BUILTIN_TYPES: tuple[BuiltinRow, ...] = (
    ("", "v1", "ConfigMap", "configmaps", True, "cm", ""),
    ("", "v1", "Endpoints", "endpoints", True, "ep", ""),
    ("", "v1", "Event", "events", True, "ev", ""),
    ("", "v1", "LimitRange", "limitranges", True, "limits", ""),
    ("", "v1", "Namespace", "namespaces", False, "ns", "status,nodc"),
    ("", "v1", "Node", "nodes", False, "no", "status"),
    ("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", True, "pvc", "status"),
    ("", "v1", "PersistentVolume", "persistentvolumes", False, "pv", "status"),
    ("", "v1", "Pod", "pods", True, "po", "status,all"),
    ("", "v1", "PodTemplate", "podtemplates", True, "", ""),
    ("", "v1", "ReplicationController", "replicationcontrollers", True, "rc", "status,scale,all"),
    ("", "v1", "ResourceQuota", "resourcequotas", True, "quota", "status"),
    ("", "v1", "Secret", "secrets", True, "", ""),
    ("", "v1", "ServiceAccount", "serviceaccounts", True, "sa", ""),
    ("", "v1", "Service", "services", True, "svc", "status,all,nodc"),
    ("apps", "v1", "ControllerRevision", "controllerrevisions", True, "", ""),
    ("apps", "v1", "DaemonSet", "daemonsets", True, "ds", "status,all"),
    ("apps", "v1", "Deployment", "deployments", True, "deploy", "status,scale,all"),
    ("apps", "v1", "ReplicaSet", "replicasets", True, "rs", "status,scale,all"),
    ("apps", "v1", "StatefulSet", "statefulsets", True, "sts", "status,scale,all"),
    ("batch", "v1", "CronJob", "cronjobs", True, "cj", "status,all"),
    ("batch", "v1", "Job", "jobs", True, "", "status,all"),
    (
        "autoscaling",
        "v2,v1",
        "HorizontalPodAutoscaler",
        "horizontalpodautoscalers",
        True,
        "hpa",
        "status,all",
    ),
    ("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings", False, "", ""),
    ("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", False, "", ""),
    ("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", True, "", ""),
    ("rbac.authorization.k8s.io", "v1", "Role", "roles", True, "", ""),
    ("networking.k8s.io", "v1", "IngressClass", "ingressclasses", False, "", ""),
    ("networking.k8s.io", "v1", "Ingress", "ingresses", True, "ing", "status"),
    ("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", True, "netpol", ""),
    ("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", True, "pdb", "status"),
    ("coordination.k8s.io", "v1", "Lease", "leases", True, "", ""),
    (
        "apiextensions.k8s.io",
        "v1",
        "CustomResourceDefinition",
        "customresourcedefinitions",
        False,
        "crd,crds",
        "status",
    ),
    ("storage.k8s.io", "v1", "StorageClass", "storageclasses", False, "sc", ""),
    ("storage.k8s.io", "v1", "CSIDriver", "csidrivers", False, "", ""),
    ("apiregistration.k8s.io", "v1", "APIService", "apiservices", False, "", "status"),
    ("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices", True, "", ""),
    ("scheduling.k8s.io", "v1", "PriorityClass", "priorityclasses", False, "pc", ""),
    (
        "admissionregistration.k8s.io",
        "v1",
        "MutatingWebhookConfiguration",
        "mutatingwebhookconfigurations",
        False,
        "",
        "",
    ),
    (
        "admissionregistration.k8s.io",
        "v1",
        "ValidatingWebhookConfiguration",
        "validatingwebhookconfigurations",
        False,
        "",
        "",
    ),
)
