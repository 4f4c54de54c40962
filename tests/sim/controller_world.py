"""An in-memory world for the pure controllers: plans applied to dicts, time stepped.

It stands in for the API server only as far as the controllers' decisions need (names,
uids, resourceVersions, generation, status subresource, graceful deletion, garbage
collection by owner), so that whole rollouts can be checked step by step in tables,
fast and without a server.
"""

from __future__ import annotations

import copy
import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from fleet.sim.controllers.actions import Bind, Create, Delete, Plan, Replace, ReplaceStatus
from fleet.sim.controllers.daemonsets import reconcile_daemonset
from fleet.sim.controllers.deployments import reconcile_deployment
from fleet.sim.controllers.jobs import reconcile_job
from fleet.sim.controllers.kubelet import node_names, reconcile_pod
from fleet.sim.controllers.objects import Obj, controller_ref, rfc3339
from fleet.sim.controllers.replicasets import reconcile_replicaset
from fleet.sim.controllers.services import reconcile_service, used_ips
from fleet.sim.controllers.statefulsets import reconcile_statefulset
from fleet.sim.controllers.volumes import reconcile_claim

START = datetime(2026, 1, 1, tzinfo=UTC)
API_VERSIONS = {
    "Deployment": "apps/v1",
    "ReplicaSet": "apps/v1",
    "StatefulSet": "apps/v1",
    "DaemonSet": "apps/v1",
    "Job": "batch/v1",
}


class World:
    def __init__(self, ready_delay: float = 1.0, nodes: int = 1) -> None:
        self.now = START
        self.ready_delay = ready_delay
        self.nodes = node_names(nodes)
        self.objects: dict[tuple[str, str], Obj] = {}  # (kind, name) -> object
        self.first_seen: dict[str, datetime] = {}
        self._uids = itertools.count(1)
        self._versions = itertools.count(1)
        self.log: list[str] = []

    # -- the API server part -------------------------------------------------------
    def create(self, kind: str, obj: Obj) -> Obj:
        obj = copy.deepcopy(obj)
        obj.setdefault("apiVersion", API_VERSIONS.get(kind, "v1"))
        obj["kind"] = kind
        meta = obj.setdefault("metadata", {})
        meta.setdefault("namespace", "default")
        if "name" not in meta:
            meta["name"] = f"{meta.pop('generateName')}{next(self._uids):05d}"
        meta.pop("generateName", None)
        key = (kind, meta["name"])
        assert key not in self.objects, f"{key} already exists"
        meta["uid"] = f"uid-{next(self._uids)}"
        meta["generation"] = 1
        meta["resourceVersion"] = str(next(self._versions))
        meta["creationTimestamp"] = rfc3339(self.now)
        obj.pop("status", None)
        self.objects[key] = obj
        self.log.append(f"create {kind} {meta['name']}")
        return obj

    def update(self, kind: str, name: str, change: Any) -> Obj:
        """Apply ``change(obj)`` to the spec as a user would; bumps generation."""
        obj = self.objects[(kind, name)]
        before = copy.deepcopy(obj.get("spec"))
        change(obj)
        if obj.get("spec") != before:
            obj["metadata"]["generation"] += 1
        obj["metadata"]["resourceVersion"] = str(next(self._versions))
        return obj

    def get(self, kind: str, name: str) -> Obj:
        return self.objects[(kind, name)]

    def of_kind(self, kind: str) -> list[Obj]:
        return [o for (k, _), o in sorted(self.objects.items()) if k == kind]

    def owned(self, kind: str, owner: Obj) -> list[Obj]:
        uid = owner["metadata"]["uid"]
        return [o for o in self.of_kind(kind) if (controller_ref(o) or {}).get("uid") == uid]

    def delete(self, kind: str, name: str, grace: int | None = None) -> None:
        obj = self.objects.get((kind, name))
        if obj is None:
            return
        self.log.append(f"delete {kind} {name}")
        if kind == "Pod" and grace != 0 and obj["spec"].get("nodeName"):
            obj["metadata"].setdefault("deletionTimestamp", rfc3339(self.now))
            obj["metadata"]["deletionGracePeriodSeconds"] = 30
            return
        del self.objects[(kind, name)]
        self._collect(obj["metadata"]["uid"])

    def _collect(self, uid: str) -> None:
        for (kind, name), obj in list(self.objects.items()):
            if (controller_ref(obj) or {}).get("uid") == uid:
                self.delete(kind, name, grace=0)

    def apply(self, plan: Plan) -> None:
        for action in plan.actions:
            if isinstance(action, Create):
                created = self.create(action.kind, action.obj)
                if action.status is not None:
                    created["status"] = copy.deepcopy(action.status)
            elif isinstance(action, Replace | ReplaceStatus):
                name = action.obj["metadata"]["name"]
                current = self.objects[(action.kind, name)]
                assert (
                    current["metadata"]["resourceVersion"]
                    == action.obj["metadata"]["resourceVersion"]
                )
                if isinstance(action, ReplaceStatus):
                    current["status"] = copy.deepcopy(action.obj["status"])
                else:
                    generation = current["metadata"]["generation"]
                    if action.obj.get("spec") != current.get("spec"):
                        generation += 1
                    status = current.get("status")
                    current.clear()
                    current.update(copy.deepcopy(action.obj))
                    current["metadata"]["generation"] = generation
                    if status is not None:
                        current["status"] = status
                current["metadata"]["resourceVersion"] = str(next(self._versions))
            elif isinstance(action, Delete):
                self.delete(action.kind, action.name, action.grace_period_seconds)
            elif isinstance(action, Bind):
                self.objects[("Pod", action.name)]["spec"]["nodeName"] = action.node

    # -- the controllers ----------------------------------------------------------
    def plan_for(self, kind: str, obj: Obj) -> Plan:
        if kind == "Pod":
            uid = obj["metadata"]["uid"]
            seen = self.first_seen.setdefault(uid, self.now)
            age = (self.now - seen).total_seconds()
            return reconcile_pod(
                obj, age=age, now=self.now, ready_delay=self.ready_delay, nodes=self.nodes
            )
        if kind == "ReplicaSet":
            return reconcile_replicaset(obj, self.owned("Pod", obj), self.now)
        if kind == "Deployment":
            return reconcile_deployment(obj, self.owned("ReplicaSet", obj), self.now)
        if kind == "StatefulSet":
            claims = {c["metadata"]["name"] for c in self.of_kind("PersistentVolumeClaim")}
            return reconcile_statefulset(obj, self.owned("Pod", obj), claims, self.now)
        if kind == "DaemonSet":
            return reconcile_daemonset(obj, self.owned("Pod", obj), self.nodes, self.now)
        if kind == "Job":
            return reconcile_job(obj, self.owned("Pod", obj), self.now)
        if kind == "Service":
            others = [s for s in self.of_kind("Service") if s is not obj]
            return reconcile_service(obj, used_ips(others))
        if kind == "PersistentVolumeClaim":
            return reconcile_claim(obj)
        return Plan()

    def sync(self) -> int:
        """Reconcile every object once (in a fixed kind order); returns actions taken."""
        taken = 0
        order = ("Deployment", "StatefulSet", "DaemonSet", "Job", "ReplicaSet", "Pod")
        for kind in (*order, "Service", "PersistentVolumeClaim"):
            for obj in self.of_kind(kind):
                if (kind, obj["metadata"]["name"]) not in self.objects:
                    continue
                plan = self.plan_for(kind, obj)
                taken += len(plan.actions)
                self.apply(plan)
        return taken

    def settle(self, seconds: float = 0.0, step: float = 0.5, *, check: Any = None) -> None:
        """Sync until quiet, advancing the clock by ``step`` up to ``seconds``."""
        end = self.now + timedelta(seconds=seconds)
        while True:
            for _ in range(50):
                if not self.sync():
                    break
                if check is not None:
                    check(self)
            else:
                raise AssertionError("controllers did not settle: " + "; ".join(self.log[-10:]))
            if self.now >= end:
                return
            self.now += timedelta(seconds=step)
