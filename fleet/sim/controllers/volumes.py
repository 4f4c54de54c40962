"""PersistentVolumeClaims become Bound to a volume provisioned for them on the spot.

Like a dynamic provisioner plus the PV binder: a claim without ``spec.volumeName`` gets
a PersistentVolume ``pvc-<claim uid>`` (reclaim policy Delete, capacity and access modes
from the claim), then the claim is bound to it (``spec.volumeName`` and the bind
annotations), then its status says Bound. Binding is immediate, whatever the storage
class's volumeBindingMode. A claim that names a volume itself is marked Bound as it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fleet.sim.controllers.actions import Create, Plan, Replace, ReplaceStatus
from fleet.sim.controllers.objects import (
    Obj,
    is_deleting,
    json_copy,
    name_of,
    namespace_of,
    uid_of,
    with_status,
)

PROVISIONER = "sim.fleet.dev/provisioner"
BIND_ANNOTATIONS = {
    "pv.kubernetes.io/bind-completed": "yes",
    "pv.kubernetes.io/bound-by-controller": "yes",
}


def volume_name_for(claim: Mapping[str, Any]) -> str:
    return f"pvc-{uid_of(claim)}"


def volume_for(claim: Mapping[str, Any]) -> Obj:
    """The PersistentVolume provisioned for ``claim``."""
    spec = claim.get("spec") or {}
    requested = ((spec.get("resources") or {}).get("requests") or {}).get("storage", "1Gi")
    pv_spec: Obj = {
        "capacity": {"storage": requested},
        "accessModes": list(spec.get("accessModes") or ["ReadWriteOnce"]),
        "persistentVolumeReclaimPolicy": "Delete",
        "volumeMode": spec.get("volumeMode") or "Filesystem",
        "hostPath": {
            "path": f"/var/lib/fleet-sim/volumes/{volume_name_for(claim)}",
            "type": "DirectoryOrCreate",
        },
        "claimRef": {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "namespace": namespace_of(claim),
            "name": name_of(claim),
            "uid": uid_of(claim),
        },
    }
    if spec.get("storageClassName"):
        pv_spec["storageClassName"] = spec["storageClassName"]
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {
            "name": volume_name_for(claim),
            "annotations": {"pv.kubernetes.io/provisioned-by": PROVISIONER},
        },
        "spec": pv_spec,
    }


def reconcile_claim(claim: Mapping[str, Any]) -> Plan:
    """Provision and bind, one step per sync: volume and claim spec, then claim status."""
    plan = Plan()
    if is_deleting(claim):
        return plan
    spec = claim.get("spec") or {}
    status = claim.get("status") or {}
    volume = spec.get("volumeName")
    if not volume:
        plan.add(Create("PersistentVolume", volume_for(claim), status={"phase": "Bound"}))
        bound = json_copy(dict(claim))
        bound["spec"]["volumeName"] = volume_name_for(claim)
        annotations = bound["metadata"].setdefault("annotations", {})
        annotations.update(BIND_ANNOTATIONS)
        annotations["volume.kubernetes.io/storage-provisioner"] = PROVISIONER
        plan.add(Replace("PersistentVolumeClaim", bound))
        return plan
    if status.get("phase") == "Bound":
        return plan
    requested = ((spec.get("resources") or {}).get("requests") or {}).get("storage", "1Gi")
    new_status = dict(status)
    new_status.update(
        {
            "phase": "Bound",
            "accessModes": list(spec.get("accessModes") or ["ReadWriteOnce"]),
            "capacity": {"storage": requested},
        }
    )
    plan.add(ReplaceStatus("PersistentVolumeClaim", with_status(claim, new_status)))
    return plan
