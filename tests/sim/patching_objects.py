"""Objects and shortcuts shared by the ``test_patching_*`` tests."""

from __future__ import annotations

import copy
from typing import Any

from fleet.sim.patching import (
    ApplyResult,
    kind_schema,
    server_side_apply,
    set_managed_fields,
    track_update,
)

T0 = "2024-05-01T10:00:00Z"
T1 = "2024-05-01T10:01:00Z"
T2 = "2024-05-01T10:02:00Z"
T3 = "2024-05-01T10:03:00Z"

DEPLOYMENT = kind_schema("apps", "v1", "Deployment")
CONFIGMAP = kind_schema("", "v1", "ConfigMap")


def deployment(replicas: int | None = 3, image: str = "nginx:1.14.2", **labels: str) -> Any:
    """The nginx Deployment of the Kubernetes documentation."""
    spec: dict[str, Any] = {
        "selector": {"matchLabels": {"app": "nginx"}},
        "template": {
            "metadata": {"labels": {"app": "nginx"}},
            "spec": {
                "containers": [{"name": "nginx", "image": image, "ports": [{"containerPort": 80}]}]
            },
        },
    }
    if replicas is not None:
        spec = {"replicas": replicas, **spec}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "nginx-deployment", "labels": {"app": "nginx", **labels}},
        "spec": spec,
    }


def configmap(data: dict[str, str] | None = None, **labels: str) -> Any:
    meta: dict[str, Any] = {"name": "test-cm", "namespace": "default"}
    if labels:
        meta["labels"] = dict(labels)
    out: dict[str, Any] = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta}
    if data is not None:
        out["data"] = dict(data)
    return out


def entries_by_manager(obj: Any) -> dict[tuple[str, str], dict[str, Any]]:
    """``{(manager, operation): fieldsV1}`` of an object's managedFields."""
    return {
        (e["manager"], e["operation"]): e["fieldsV1"]
        for e in obj.get("metadata", {}).get("managedFields", [])
    }


def update(
    old: Any, mutate: Any, manager: str, now: str, schema: Any = DEPLOYMENT, subresource: str = ""
) -> Any:
    """A non-apply write: ``mutate`` edits a copy of ``old`` in place."""
    new = copy.deepcopy(old)
    mutate(new)
    entries = track_update(old, new, manager, now=now, schema=schema, subresource=subresource)
    return set_managed_fields(new, entries)


def create(obj: Any, manager: str, now: str = T0, schema: Any = DEPLOYMENT) -> Any:
    """A create (POST) of ``obj`` by ``manager``."""
    entries = track_update(None, obj, manager, now=now, schema=schema)
    return set_managed_fields(copy.deepcopy(obj), entries)


def apply(
    live: Any,
    config: Any,
    manager: str,
    now: str = T0,
    *,
    force: bool = False,
    schema: Any = DEPLOYMENT,
    subresource: str = "",
) -> ApplyResult:
    return server_side_apply(
        live, config, manager, force=force, schema=schema, now=now, subresource=subresource
    )
