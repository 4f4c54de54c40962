"""Validation the API server performs before it stores an object (answers 422 Invalid).

Covers what clients trip over in practice: object names per kind (DNS-1123 subdomain,
DNS-1123 label, DNS-1035 label, path segment), label and annotation syntax, and the
structural rules of the common workload kinds (selector matching the template, a
container needing a name and an image, service ports). Each problem is a
:class:`~fleet.sim.errors.Cause` naming the field, as the real server's causes do.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from fleet.sim import leases
from fleet.sim.errors import Cause
from fleet.sim.registry import ResourceType
from fleet.sim.selectors import SelectorError, selector_from_spec

DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
DNS1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
DNS1035_LABEL = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
_QUALIFIED_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")
_CONFIG_KEY = re.compile(r"[-._a-zA-Z0-9]+")

SUBDOMAIN_MESSAGE = (
    "a lowercase RFC 1123 subdomain must consist of lower "
    "case alphanumeric characters, '-' or '.', "
    "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
    "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
LABEL_MESSAGE = (
    "a lowercase RFC 1123 label must consist of lower "
    "case alphanumeric characters or '-', and must "
    "start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for "
    "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
DNS1035_MESSAGE = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
    "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', "
    "regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
)

#: Kinds whose names follow other rules than the DNS-1123 subdomain default.
_LABEL_NAMED = {("", "Namespace")}
_DNS1035_NAMED = {("", "Service")}
_PATH_SEGMENT_NAMED = {
    ("rbac.authorization.k8s.io", "Role"),
    ("rbac.authorization.k8s.io", "ClusterRole"),
    ("rbac.authorization.k8s.io", "RoleBinding"),
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
}


def _invalid(field: str, value: object, why: str) -> Cause:
    return Cause(field, f'Invalid value: "{value}": {why}')


def name_problems(rt: ResourceType, name: str, field: str = "metadata.name") -> list[Cause]:
    """What is wrong with ``name`` as the name of an object of ``rt`` (empty: nothing)."""
    key = (rt.group, rt.kind)
    if key in _PATH_SEGMENT_NAMED:
        if name in (".", "..") or "/" in name or "%" in name:
            return [_invalid(field, name, "may not contain '/' or '%' and may not be '.' or '..'")]
        return []
    if key in _LABEL_NAMED:
        if len(name) > 63:
            return [_invalid(field, name, "must be no more than 63 characters")]
        if not DNS1123_LABEL.fullmatch(name):
            return [_invalid(field, name, LABEL_MESSAGE)]
        return []
    if key in _DNS1035_NAMED:
        if len(name) > 63:
            return [_invalid(field, name, "must be no more than 63 characters")]
        if not DNS1035_LABEL.fullmatch(name):
            return [_invalid(field, name, DNS1035_MESSAGE)]
        return []
    if len(name) > 253:
        return [_invalid(field, name, "must be no more than 253 characters")]
    if not DNS1123_SUBDOMAIN.fullmatch(name):
        return [_invalid(field, name, SUBDOMAIN_MESSAGE)]
    return []


def _qualified_name_problem(key: str) -> str | None:
    prefix, slash, name = key.rpartition("/")
    if slash and (not prefix or len(prefix) > 253 or not DNS1123_SUBDOMAIN.fullmatch(prefix)):
        return "prefix part " + SUBDOMAIN_MESSAGE
    if not name or len(name) > 63 or not _QUALIFIED_NAME.fullmatch(name):
        return (
            "name part must consist of alphanumeric characters, "
            "'-', '_' or '.', and must start and "
            "end with an alphanumeric character (e.g. 'MyName', "
            " or 'my.name',  or '123-abc', regex "
            "used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
        )
    return None


def metadata_problems(meta: Mapping[str, Any]) -> list[Cause]:
    causes: list[Cause] = []
    labels = meta.get("labels") or {}
    if not isinstance(labels, Mapping):
        return [_invalid("metadata.labels", labels, "must be a map of strings")]
    for key, value in labels.items():
        why = _qualified_name_problem(str(key))
        if why:
            causes.append(_invalid("metadata.labels", key, why))
        if not isinstance(value, str) or len(value) > 63 or not _LABEL_VALUE.fullmatch(value):
            causes.append(
                _invalid(
                    "metadata.labels",
                    value,
                    "a valid label must be an empty string or consist of alphanumeric characters, "
                    "'-', '_' or '.', and must start and end with an alphanumeric character",
                )
            )
    annotations = meta.get("annotations") or {}
    if not isinstance(annotations, Mapping):
        return [*causes, _invalid("metadata.annotations", annotations, "must be a map of strings")]
    total = 0
    for key, value in annotations.items():
        why = _qualified_name_problem(str(key))
        if why:
            causes.append(_invalid("metadata.annotations", key, why))
        if not isinstance(value, str):
            causes.append(_invalid(f"metadata.annotations[{key}]", value, "must be a string"))
            continue
        total += len(key) + len(value)
    if total > 256 * 1024:
        causes.append(
            Cause(
                "metadata.annotations",
                "Too long: must have at most 262144 bytes",
                "FieldValueTooLong",
            )
        )
    return causes


def _required(field: str) -> Cause:
    return Cause(field, "Required value", "FieldValueRequired")


def _pod_spec_problems(spec: Any, path: str) -> list[Cause]:
    if not isinstance(spec, Mapping):
        return [_required(path)]
    containers = spec.get("containers")
    if not containers:
        return [_required(f"{path}.containers")]
    causes: list[Cause] = []
    for i, container in enumerate(containers):
        where = f"{path}.containers[{i}]"
        if not isinstance(container, Mapping):
            causes.append(_invalid(where, container, "must be an object"))
            continue
        name = container.get("name")
        if not name:
            causes.append(_required(f"{where}.name"))
        elif not DNS1123_LABEL.fullmatch(str(name)) or len(str(name)) > 63:
            causes.append(_invalid(f"{where}.name", name, LABEL_MESSAGE))
        if not container.get("image"):
            causes.append(_required(f"{where}.image"))
        for j, port in enumerate(container.get("ports") or ()):
            number = port.get("containerPort") if isinstance(port, Mapping) else None
            if not isinstance(number, int) or not 0 < number < 65536:
                causes.append(
                    _invalid(
                        f"{where}.ports[{j}].containerPort",
                        number,
                        "must be between 1 and 65535, inclusive",
                    )
                )
    return causes


def _workload_problems(spec: Any, selector_required: bool = True) -> list[Cause]:
    if not isinstance(spec, Mapping):
        return [_required("spec")]
    causes: list[Cause] = []
    template = spec.get("template") or {}
    template_labels = (template.get("metadata") or {}).get("labels") or {}
    selector = spec.get("selector")
    if selector_required and not selector:
        causes.append(_required("spec.selector"))
    elif selector:
        try:
            parsed = selector_from_spec(selector)
        except SelectorError as error:
            causes.append(_invalid("spec.selector", selector, str(error)))
        else:
            if parsed.empty:
                causes.append(
                    _invalid("spec.selector", selector, "empty selector is invalid for deployment")
                )
            elif not parsed.matches(template_labels):
                causes.append(
                    _invalid(
                        "spec.template.metadata.labels",
                        template_labels,
                        "`selector` does not match template `labels`",
                    )
                )
    replicas = spec.get("replicas")
    if replicas is not None and (not isinstance(replicas, int) or replicas < 0):
        causes.append(_invalid("spec.replicas", replicas, "must be greater than or equal to 0"))
    causes.extend(_pod_spec_problems(template.get("spec"), "spec.template.spec"))
    return causes


def _service_problems(spec: Any) -> list[Cause]:
    if not isinstance(spec, Mapping):
        return []
    causes: list[Cause] = []
    kind = spec.get("type", "ClusterIP")
    if kind not in ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName"):
        causes.append(
            Cause(
                "spec.type",
                f'Unsupported value: "{kind}": supported values: "ClusterIP", '
                '"ExternalName", "LoadBalancer", "NodePort"',
                "FieldValueNotSupported",
            )
        )
    ports = spec.get("ports") or []
    if not ports and kind != "ExternalName" and spec.get("clusterIP") != "None":
        causes.append(_required("spec.ports"))
    for i, port in enumerate(ports):
        number = port.get("port") if isinstance(port, Mapping) else None
        if not isinstance(number, int) or not 0 < number < 65536:
            causes.append(
                _invalid(f"spec.ports[{i}].port", number, "must be between 1 and 65535, inclusive")
            )
    return causes


def _configmap_problems(obj: Mapping[str, Any]) -> list[Cause]:
    causes: list[Cause] = []
    for section in ("data", "binaryData", "stringData"):
        for key in obj.get(section) or {}:
            if not _CONFIG_KEY.fullmatch(str(key)) or len(str(key)) > 253:
                causes.append(
                    _invalid(
                        f"{section}",
                        key,
                        "a valid config key must consist of alphanumeric "
                        "characters, '-', '_' or '.'",
                    )
                )
    return causes


def object_problems(rt: ResourceType, obj: Mapping[str, Any]) -> list[Cause]:
    """Every problem of ``obj`` (already carrying its final name) as an object of ``rt``."""
    meta = obj.get("metadata") or {}
    causes = name_problems(rt, str(meta.get("name") or ""))
    causes.extend(metadata_problems(meta))
    spec = obj.get("spec")
    key = (rt.group, rt.kind)
    if key in {
        ("apps", "Deployment"),
        ("apps", "ReplicaSet"),
        ("apps", "StatefulSet"),
        ("apps", "DaemonSet"),
    }:
        causes.extend(_workload_problems(spec))
    elif key == ("batch", "Job"):
        causes.extend(_workload_problems(spec, selector_required=False))
    elif key == ("", "Pod"):
        causes.extend(_pod_spec_problems(spec, "spec"))
    elif key == ("", "Service"):
        causes.extend(_service_problems(spec))
    elif key in {("", "ConfigMap"), ("", "Secret")}:
        causes.extend(_configmap_problems(obj))
    elif key == ("coordination.k8s.io", "Lease"):
        causes.extend(leases.problems(dict(obj)))
    elif key == ("apiextensions.k8s.io", "CustomResourceDefinition"):
        from fleet.sim.crds import crd_problems

        causes.extend(crd_problems(obj))
    return causes


#: Fields that may not change once set, per kind (selector immutability and the like).
IMMUTABLE_FIELDS: dict[tuple[str, str], tuple[tuple[str, ...], ...]] = {
    ("apps", "Deployment"): (("spec", "selector"),),
    ("apps", "ReplicaSet"): (("spec", "selector"),),
    ("apps", "StatefulSet"): (("spec", "selector"), ("spec", "serviceName")),
    ("apps", "DaemonSet"): (("spec", "selector"),),
    ("batch", "Job"): (("spec", "selector"), ("spec", "template")),
    ("", "Service"): (("spec", "clusterIP"),),
    ("apiextensions.k8s.io", "CustomResourceDefinition"): (("spec", "scope"),),
}


def _dig(obj: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    node: Any = obj
    for key in path:
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    return node


def update_problems(
    rt: ResourceType, old: Mapping[str, Any], new: Mapping[str, Any]
) -> list[Cause]:
    causes = []
    for path in IMMUTABLE_FIELDS.get((rt.group, rt.kind), ()):
        before, after = _dig(old, path), _dig(new, path)
        if before is not None and before != after:
            causes.append(Cause(".".join(path), f"Invalid value: {after!r}: field is immutable"))
    return causes
