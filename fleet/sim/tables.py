"""``Table`` responses (meta.k8s.io/v1), what ``kubectl get`` asks for and prints.

kubectl sends ``Accept: application/json;as=Table;v=v1;g=meta.k8s.io`` and prints the
columns the server chose. The simulator gives the common kinds kubectl's familiar
columns (Pods: READY, STATUS, RESTARTS; Deployments: READY, UP-TO-DATE, AVAILABLE;
Nodes: STATUS, ROLES, AGE, VERSION ...) and every other kind NAME and AGE.
"""

from __future__ import annotations

import calendar
import time
from collections.abc import Callable
from typing import Any

from fleet.sim.registry import ResourceType

Obj = dict[str, Any]
Cell = str | int
Column = tuple[str, str, str, Callable[[Obj], Cell]]  # name, type, format, value

TABLE_MEDIA = "application/json;as=Table;v=v1;g=meta.k8s.io"


def wants_table(accept: str) -> bool:
    first = accept.replace(" ", "").split(",")[0]
    return "as=Table" in first


def age(timestamp: str | None, now: float | None = None) -> str:
    """Short human duration as kubectl prints it: 45s, 12m, 5h, 3d."""
    if not timestamp:
        return "<unknown>"
    try:
        then = calendar.timegm(time.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ"))
    except ValueError:
        return "<invalid>"
    seconds = max(int((now if now is not None else time.time()) - then), 0)
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 2 * 3600:
        return f"{seconds // 60}m"
    if seconds < 48 * 3600:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"


def _meta(obj: Obj) -> Obj:
    meta: Obj = obj.get("metadata") or {}
    return meta


def _status(obj: Obj) -> Obj:
    status: Obj = obj.get("status") or {}
    return status


def _spec(obj: Obj) -> Obj:
    spec: Obj = obj.get("spec") or {}
    return spec


def _name(obj: Obj) -> Cell:
    return str(_meta(obj).get("name", ""))


def _age(obj: Obj) -> Cell:
    return age(_meta(obj).get("creationTimestamp"))


def _pod_ready(obj: Obj) -> Cell:
    statuses = _status(obj).get("containerStatuses") or []
    total = len(_spec(obj).get("containers") or [])
    return f"{sum(1 for s in statuses if s.get('ready'))}/{total}"


def _pod_status(obj: Obj) -> Cell:
    if _meta(obj).get("deletionTimestamp"):
        return "Terminating"
    for status in _status(obj).get("containerStatuses") or []:
        waiting = (status.get("state") or {}).get("waiting")
        if waiting and waiting.get("reason"):
            return str(waiting["reason"])
    return str(_status(obj).get("phase", "Pending"))


def _restarts(obj: Obj) -> Cell:
    return sum(int(s.get("restartCount") or 0) for s in _status(obj).get("containerStatuses") or [])


def _ports(obj: Obj) -> Cell:
    ports = _spec(obj).get("ports") or []
    return ",".join(f"{p.get('port')}/{p.get('protocol', 'TCP')}" for p in ports) or "<none>"


def _external_ip(obj: Obj) -> Cell:
    ingress = (_status(obj).get("loadBalancer") or {}).get("ingress") or []
    ips = [i.get("ip") or i.get("hostname") for i in ingress]
    if ips:
        return ",".join(str(i) for i in ips)
    return "<pending>" if _spec(obj).get("type") == "LoadBalancer" else "<none>"


def _job_status(obj: Obj) -> Cell:
    for condition in _status(obj).get("conditions") or []:
        if condition.get("status") == "True" and condition.get("type") in ("Complete", "Failed"):
            return str(condition["type"])
    return "Running"


def _node_status(obj: Obj) -> Cell:
    """Ready, NotReady or Unknown (no Ready condition), then SchedulingDisabled if cordoned."""
    ready = "Unknown"
    for condition in _status(obj).get("conditions") or []:
        if condition.get("type") == "Ready":
            ready = "Ready" if condition.get("status") == "True" else "NotReady"
    return f"{ready},SchedulingDisabled" if _spec(obj).get("unschedulable") else ready


def _node_roles(obj: Obj) -> Cell:
    """The ``node-role.kubernetes.io/ROLE`` labels' roles (``kubernetes.io/role`` too)."""
    labels = _meta(obj).get("labels") or {}
    roles = {k.split("/", 1)[1] for k in labels if k.startswith("node-role.kubernetes.io/")}
    if labels.get("kubernetes.io/role"):
        roles.add(str(labels["kubernetes.io/role"]))
    return ",".join(sorted(r for r in roles if r)) or "<none>"


_NAME: Column = ("Name", "string", "name", _name)
_AGE: Column = ("Age", "string", "", _age)

COLUMNS: dict[tuple[str, str], list[Column]] = {
    ("", "Pod"): [
        _NAME,
        ("Ready", "string", "", _pod_ready),
        ("Status", "string", "", _pod_status),
        ("Restarts", "string", "", _restarts),
        _AGE,
    ],
    ("apps", "Deployment"): [
        _NAME,
        (
            "Ready",
            "string",
            "",
            lambda o: f"{_status(o).get('readyReplicas', 0)}/{_spec(o).get('replicas', 1)}",
        ),
        ("Up-to-date", "integer", "", lambda o: int(_status(o).get("updatedReplicas", 0))),
        ("Available", "integer", "", lambda o: int(_status(o).get("availableReplicas", 0))),
        _AGE,
    ],
    ("apps", "ReplicaSet"): [
        _NAME,
        ("Desired", "integer", "", lambda o: int(_spec(o).get("replicas", 1))),
        ("Current", "integer", "", lambda o: int(_status(o).get("replicas", 0))),
        ("Ready", "integer", "", lambda o: int(_status(o).get("readyReplicas", 0))),
        _AGE,
    ],
    ("apps", "StatefulSet"): [
        _NAME,
        (
            "Ready",
            "string",
            "",
            lambda o: f"{_status(o).get('readyReplicas', 0)}/{_spec(o).get('replicas', 1)}",
        ),
        _AGE,
    ],
    ("batch", "Job"): [
        _NAME,
        ("Status", "string", "", _job_status),
        (
            "Completions",
            "string",
            "",
            lambda o: f"{_status(o).get('succeeded', 0)}/{_spec(o).get('completions', 1)}",
        ),
        _AGE,
    ],
    ("", "Namespace"): [
        _NAME,
        ("Status", "string", "", lambda o: str(_status(o).get("phase", ""))),
        _AGE,
    ],
    ("", "Service"): [
        _NAME,
        ("Type", "string", "", lambda o: str(_spec(o).get("type", "ClusterIP"))),
        ("Cluster-IP", "string", "", lambda o: str(_spec(o).get("clusterIP", "<none>"))),
        ("External-IP", "string", "", _external_ip),
        ("Port(s)", "string", "", _ports),
        _AGE,
    ],
    ("", "ConfigMap"): [
        _NAME,
        (
            "Data",
            "integer",
            "",
            lambda o: len(o.get("data") or {}) + len(o.get("binaryData") or {}),
        ),
        _AGE,
    ],
    ("", "Secret"): [
        _NAME,
        ("Type", "string", "", lambda o: str(o.get("type", ""))),
        ("Data", "integer", "", lambda o: len(o.get("data") or {})),
        _AGE,
    ],
    ("coordination.k8s.io", "Lease"): [
        _NAME,
        ("Holder", "string", "", lambda o: str(_spec(o).get("holderIdentity", ""))),
        _AGE,
    ],
    ("", "Node"): [
        _NAME,
        ("Status", "string", "", _node_status),
        ("Roles", "string", "", _node_roles),
        _AGE,
        (
            "Version",
            "string",
            "",
            lambda o: str((_status(o).get("nodeInfo") or {}).get("kubeletVersion", "")),
        ),
    ],
    ("", "PersistentVolumeClaim"): [
        _NAME,
        ("Status", "string", "", lambda o: str(_status(o).get("phase", ""))),
        _AGE,
    ],
}


def _node_address(kind: str) -> Callable[[Obj], Cell]:
    def value(obj: Obj) -> Cell:
        addresses = _status(obj).get("addresses") or []
        found = [str(a.get("address", "")) for a in addresses if a.get("type") == kind]
        return ",".join(found) or "<none>"

    return value


def _node_info(field: str) -> Callable[[Obj], Cell]:
    return lambda o: str((_status(o).get("nodeInfo") or {}).get(field, "")) or "<unknown>"


#: Columns of priority 1: sent like the others, printed by ``kubectl get -o wide`` only.
WIDE_COLUMNS: dict[tuple[str, str], list[Column]] = {
    ("", "Node"): [
        ("Internal-IP", "string", "", _node_address("InternalIP")),
        ("External-IP", "string", "", _node_address("ExternalIP")),
        ("OS-Image", "string", "", _node_info("osImage")),
        ("Kernel-Version", "string", "", _node_info("kernelVersion")),
        ("Container-Runtime", "string", "", _node_info("containerRuntimeVersion")),
    ],
}


def _columns(rt: ResourceType) -> list[tuple[Column, int]]:
    """The kind's columns with their priority (0: always printed, 1: with ``-o wide``)."""
    key = (rt.group, rt.kind)
    usual = [(column, 0) for column in COLUMNS.get(key, [_NAME, _AGE])]
    return usual + [(column, 1) for column in WIDE_COLUMNS.get(key, [])]


def _row_object(obj: Obj, include: str) -> Obj | None:
    if include == "None":
        return None
    if include == "Object":
        return obj
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": _meta(obj)}


def table(rt: ResourceType, objects: list[Obj], list_meta: Obj, include: str = "Metadata") -> Obj:
    columns = _columns(rt)
    rows = []
    for obj in objects:
        row: Obj = {"cells": [value(obj) for (_, _, _, value), _ in columns]}
        row_object = _row_object(obj, include)
        if row_object is not None:
            row["object"] = row_object
        rows.append(row)
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": list_meta,
        "columnDefinitions": [
            {"name": name, "type": type_, "format": fmt, "description": "", "priority": priority}
            for (name, type_, fmt, _), priority in columns
        ],
        "rows": rows,
    }
