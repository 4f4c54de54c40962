"""Server-side defaults, the ones clients see and depend on.

A real API server fills many fields when it stores an object. The simulator fills
those that clients, controllers and diffs notice: Deployment replicas and strategy,
container pull policy and port protocol, Service type, cluster IP and target ports, Job
completions and its generated selector, Namespace finalizers, Secret type. Defaults are
applied on every write, so a client that omits them never causes a diff.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Any

from fleet.sim import leases

Obj = dict[str, Any]


def _pull_policy(image: str) -> str:
    tail = image.rsplit("/", 1)[-1]
    if "@" in tail:
        return "IfNotPresent"
    tag = tail.rpartition(":")[2] if ":" in tail else ""
    return "Always" if tag in ("", "latest") else "IfNotPresent"


def pod_spec(spec: Obj) -> None:
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("securityContext", {})
    for key in ("initContainers", "containers"):
        for container in spec.get(key) or ():
            if not isinstance(container, dict):
                continue
            if isinstance(container.get("image"), str):
                container.setdefault("imagePullPolicy", _pull_policy(container["image"]))
            container.setdefault("terminationMessagePath", "/dev/termination-log")
            container.setdefault("terminationMessagePolicy", "File")
            container.setdefault("resources", {})
            for port in container.get("ports") or ():
                if isinstance(port, dict):
                    port.setdefault("protocol", "TCP")


def _template(obj: Obj) -> None:
    template = (obj.get("spec") or {}).get("template")
    if isinstance(template, dict) and isinstance(template.get("spec"), dict):
        pod_spec(template["spec"])


def deployment(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)
    strategy = spec.setdefault("strategy", {})
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        rolling = strategy.setdefault("rollingUpdate", {})
        rolling.setdefault("maxUnavailable", "25%")
        rolling.setdefault("maxSurge", "25%")
    _template(obj)


def replicaset(obj: Obj) -> None:
    obj.setdefault("spec", {}).setdefault("replicas", 1)
    _template(obj)


def statefulset(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    spec.setdefault("podManagementPolicy", "OrderedReady")
    spec.setdefault("revisionHistoryLimit", 10)
    strategy = spec.setdefault("updateStrategy", {})
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        strategy.setdefault("rollingUpdate", {}).setdefault("partition", 0)
    _template(obj)


def daemonset(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("revisionHistoryLimit", 10)
    strategy = spec.setdefault("updateStrategy", {})
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        rolling = strategy.setdefault("rollingUpdate", {})
        rolling.setdefault("maxUnavailable", 1)
        rolling.setdefault("maxSurge", 0)
    _template(obj)


def job(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("backoffLimit", 6)
    spec.setdefault("completionMode", "NonIndexed")
    spec.setdefault("suspend", False)
    if spec.get("completions") is None and spec.get("parallelism") is None:
        spec["completions"] = 1
        spec["parallelism"] = 1
    spec.setdefault("parallelism", 1)
    template = spec.setdefault("template", {})
    if isinstance(template.get("spec"), dict):
        template["spec"].setdefault("restartPolicy", "Never")
    _template(obj)
    meta = obj.get("metadata") or {}
    uid = meta.get("uid")
    if uid and not spec.get("manualSelector") and not spec.get("selector"):
        spec["selector"] = {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
        labels = template.setdefault("metadata", {}).setdefault("labels", {})
        labels.setdefault("batch.kubernetes.io/controller-uid", uid)
        labels.setdefault("batch.kubernetes.io/job-name", meta.get("name", ""))
        labels.setdefault("controller-uid", uid)
        labels.setdefault("job-name", meta.get("name", ""))


def cronjob(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("concurrencyPolicy", "Allow")
    spec.setdefault("suspend", False)
    spec.setdefault("successfulJobsHistoryLimit", 3)
    spec.setdefault("failedJobsHistoryLimit", 1)


def pod(obj: Obj) -> None:
    spec = obj.get("spec")
    if isinstance(spec, dict):
        pod_spec(spec)


class ClusterIPs:
    """Hands out service cluster IPs from 10.96.0.0/12 and node ports from 30000-32767,
    as a real cluster's allocators do."""

    def __init__(self) -> None:
        self._network = ipaddress.ip_network("10.96.0.0/12")
        self._next = 10
        self._next_port = 30000

    def allocate(self) -> str:
        self._next += 1
        return str(self._network[self._next])

    def node_port(self) -> int:
        port = self._next_port
        self._next_port = 30000 + (self._next_port - 30000 + 1) % 2768
        return port


def service(obj: Obj, ips: ClusterIPs) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("type", "ClusterIP")
    if spec["type"] != "ExternalName":
        spec.setdefault("sessionAffinity", "None")
        if not spec.get("clusterIP"):
            spec["clusterIP"] = ips.allocate()
        spec.setdefault("clusterIPs", [spec["clusterIP"]])
        spec.setdefault("ipFamilies", ["IPv4"])
        spec.setdefault("ipFamilyPolicy", "SingleStack")
        spec.setdefault("internalTrafficPolicy", "Cluster")
    if spec["type"] in ("NodePort", "LoadBalancer"):
        spec.setdefault("externalTrafficPolicy", "Cluster")
    for port in spec.get("ports") or ():
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")
            if "port" in port:
                port.setdefault("targetPort", port["port"])
            if spec["type"] in ("NodePort", "LoadBalancer") and not port.get("nodePort"):
                port["nodePort"] = ips.node_port()


def keep_allocated(old: Obj, new: Obj) -> None:
    """An update that omits a Service's cluster IP or node ports keeps the allocated ones
    (as the real Service registry does), instead of getting new ones."""
    old_spec, new_spec = old.get("spec") or {}, new.get("spec")
    if not isinstance(new_spec, dict):
        return
    for key in ("clusterIP", "clusterIPs"):
        if not new_spec.get(key) and old_spec.get(key):
            new_spec[key] = old_spec[key]
    old_ports = {(p.get("port"), p.get("protocol", "TCP")): p for p in old_spec.get("ports") or ()}
    for port in new_spec.get("ports") or ():
        if isinstance(port, dict) and not port.get("nodePort"):
            before = old_ports.get((port.get("port"), port.get("protocol", "TCP")))
            if before and before.get("nodePort"):
                port["nodePort"] = before["nodePort"]


def namespace(obj: Obj) -> None:
    obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
    labels = obj.setdefault("metadata", {}).setdefault("labels", {})
    labels["kubernetes.io/metadata.name"] = obj["metadata"]["name"]


def secret(obj: Obj) -> None:
    obj.setdefault("type", "Opaque")
    string_data = obj.pop("stringData", None)
    if isinstance(string_data, dict):
        import base64

        data = obj.setdefault("data", {})
        for key, value in string_data.items():
            data[key] = base64.b64encode(str(value).encode()).decode()


DEFAULTERS: dict[tuple[str, str], Callable[[Obj], None]] = {
    ("apps", "Deployment"): deployment,
    ("apps", "ReplicaSet"): replicaset,
    ("apps", "StatefulSet"): statefulset,
    ("apps", "DaemonSet"): daemonset,
    ("batch", "Job"): job,
    ("batch", "CronJob"): cronjob,
    ("", "Pod"): pod,
    ("", "Namespace"): namespace,
    ("", "Secret"): secret,
    ("", "ReplicationController"): replicaset,
    ("coordination.k8s.io", "Lease"): leases.normalize,
}


def apply_defaults(group: str, kind: str, obj: Obj, ips: ClusterIPs) -> None:
    """Fill the server-side defaults of ``obj`` in place."""
    if (group, kind) == ("", "Service"):
        service(obj, ips)
        return
    defaulter = DEFAULTERS.get((group, kind))
    if defaulter is not None:
        defaulter(obj)
