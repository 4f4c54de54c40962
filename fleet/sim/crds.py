"""CustomResourceDefinitions: checking them and turning them into served resource types.

A CRD that passes validation becomes a :class:`ResourceType` at once, and its status
gets the ``NamesAccepted`` and ``Established`` conditions (the real server sets them a
moment later; clients wait for Established, so setting it at create time is a valid
schedule of the same behaviour).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fleet.sim.errors import Cause
from fleet.sim.registry import ResourceType, version_priority


def _required(field: str) -> Cause:
    return Cause(field, "Required value", "FieldValueRequired")


def crd_problems(obj: Mapping[str, Any]) -> list[Cause]:
    spec = obj.get("spec")
    if not isinstance(spec, Mapping):
        return [_required("spec")]
    causes: list[Cause] = []
    group = spec.get("group")
    names = spec.get("names") or {}
    if not group:
        causes.append(_required("spec.group"))
    for key in ("plural", "kind"):
        if not names.get(key):
            causes.append(_required(f"spec.names.{key}"))
    name = (obj.get("metadata") or {}).get("name")
    if group and names.get("plural") and name != f"{names['plural']}.{group}":
        causes.append(
            Cause(
                "metadata.name",
                f'Invalid value: "{name}": must be spec.names.plural+"."+spec.group',
            )
        )
    if spec.get("scope") not in ("Namespaced", "Cluster"):
        causes.append(
            Cause(
                "spec.scope",
                f'Unsupported value: "{spec.get("scope")}": '
                'supported values: "Cluster", "Namespaced"',
                "FieldValueNotSupported",
            )
        )
    versions = spec.get("versions") or []
    if not versions:
        causes.append(_required("spec.versions"))
    storage = [v for v in versions if isinstance(v, Mapping) and v.get("storage")]
    if versions and len(storage) != 1:
        causes.append(
            Cause(
                "spec.versions",
                "Invalid value: must have exactly one version marked as storage version",
            )
        )
    for i, version in enumerate(versions):
        if not isinstance(version, Mapping) or not version.get("name"):
            causes.append(_required(f"spec.versions[{i}].name"))
        elif not (version.get("schema") or {}).get("openAPIV3Schema"):
            causes.append(_required(f"spec.versions[{i}].schema.openAPIV3Schema"))
    return causes


def resource_type(crd: Mapping[str, Any]) -> ResourceType:
    """The served type of a valid CRD: served versions, storage version first."""
    spec = crd["spec"]
    names = spec["names"]
    served = [v for v in spec["versions"] if v.get("served", True)]
    storage = next(v["name"] for v in spec["versions"] if v.get("storage"))
    ordered = sorted((v["name"] for v in served), key=version_priority)
    if storage in ordered:
        ordered.remove(storage)
        ordered.insert(0, storage)
    status = any((v.get("subresources") or {}).get("status") is not None for v in served)
    scale_spec = next(
        (
            (v.get("subresources") or {}).get("scale")
            for v in served
            if (v.get("subresources") or {}).get("scale")
        ),
        None,
    )
    scale_paths = (".spec.replicas", ".status.replicas", "")
    if scale_spec:
        scale_paths = (
            scale_spec.get("specReplicasPath", ".spec.replicas"),
            scale_spec.get("statusReplicasPath", ".status.replicas"),
            scale_spec.get("labelSelectorPath", ""),
        )
    return ResourceType(
        group=spec["group"],
        versions=tuple(ordered) or (storage,),
        kind=names["kind"],
        plural=names["plural"],
        singular=names.get("singular") or names["kind"].lower(),
        namespaced=spec.get("scope") == "Namespaced",
        short_names=tuple(names.get("shortNames") or ()),
        categories=tuple(names.get("categories") or ()),
        status=status,
        scale=scale_spec is not None,
        scale_paths=scale_paths,
        schemas={v["name"]: (v.get("schema") or {}).get("openAPIV3Schema") or {} for v in served},
        custom=True,
    )


def established_status(crd: Mapping[str, Any], now: str) -> dict[str, Any]:
    """The status the API server gives an accepted CRD."""
    spec = crd["spec"]
    names = dict(spec["names"])
    names.setdefault("singular", names["kind"].lower())
    names.setdefault("listKind", names["kind"] + "List")
    return {
        "acceptedNames": names,
        "conditions": [
            {
                "type": "NamesAccepted",
                "status": "True",
                "reason": "NoConflicts",
                "message": "no conflicts found",
                "lastTransitionTime": now,
            },
            {
                "type": "Established",
                "status": "True",
                "reason": "InitialNamesAccepted",
                "message": "the initial names have been accepted",
                "lastTransitionTime": now,
            },
        ],
        "storedVersions": [v["name"] for v in spec["versions"] if v.get("storage")],
    }
