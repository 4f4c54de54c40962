"""Run the controllers against one API server: informers, a work queue, workers.

Informers keep a cache per kind. Every change queues the object itself and the object
that controls it (a pod change wakes its ReplicaSet, a ReplicaSet change its
Deployment). Workers take keys from the queue, ask the pure reconcile function of the
kind for a plan, and perform it. Failures never stop the loop: a conflict (our cache was
behind) retries at once, other errors back off per key.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import anyio
from anyio.abc import TaskGroup, TaskStatus
from kubernetes_asyncio import client

from fleet.sim.controllers.actions import Bind, Create, Delete, Plan, Replace, ReplaceStatus
from fleet.sim.controllers.daemonsets import reconcile_daemonset
from fleet.sim.controllers.deployments import reconcile_deployment
from fleet.sim.controllers.informers import TRANSIENT, Informer, backoff
from fleet.sim.controllers.jobs import reconcile_job
from fleet.sim.controllers.kube import RESOURCES, ApiError, KubeAccess
from fleet.sim.controllers.kubelet import node_names, reconcile_pod
from fleet.sim.controllers.objects import (
    Obj,
    controller_ref,
    meta,
    name_of,
    namespace_of,
    parse_time,
    uid_of,
)
from fleet.sim.controllers.replicasets import reconcile_replicaset
from fleet.sim.controllers.services import reconcile_service, used_ips
from fleet.sim.controllers.statefulsets import reconcile_statefulset
from fleet.sim.controllers.store import Store
from fleet.sim.controllers.volumes import reconcile_claim, volume_name_for
from fleet.sim.controllers.workqueue import WorkQueue

log = logging.getLogger("fleet.sim.controllers")

WATCHED = (
    "Deployment",
    "ReplicaSet",
    "Pod",
    "StatefulSet",
    "DaemonSet",
    "Job",
    "Service",
    "PersistentVolumeClaim",
)
OWNER_KINDS = frozenset({"Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job"})
# Field managers as on a real cluster, so managedFields read the same.
CONTROLLER_MANAGER = "kube-controller-manager"
KUBELET = "kubelet"
SCHEDULER = "kube-scheduler"

WorkKey = tuple[str, str, str]  # (kind, namespace, name)


@dataclass(frozen=True, slots=True)
class ControllerSettings:
    """``ready_delay``: seconds a pod spends Pending before Running and Ready.
    ``namespace``: watch only this namespace (None: all). ``nodes``: pretend node count.
    """

    ready_delay: float = 1.0
    namespace: str | None = None
    nodes: int = 1
    workers: int = 4


class Controllers:
    """All controllers of one cluster, sharing one cache and one queue."""

    def __init__(
        self,
        api_client: client.ApiClient,
        settings: ControllerSettings,
        access: KubeAccess | None = None,
    ) -> None:
        self.settings = settings
        self.access = access or KubeAccess(api_client)
        self.stores = {kind: Store(time.monotonic) for kind in WATCHED}
        self.queue: WorkQueue[WorkKey] = WorkQueue()
        self.nodes = node_names(settings.nodes)
        self._first_seen: dict[str, float] = {}
        self._can_bind = True
        self._placements = 0
        self._pool_lock = anyio.Lock()
        self._failures: dict[WorkKey, int] = {}

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        async with anyio.create_task_group() as tg:
            async with anyio.create_task_group() as listing:  # all kinds listed at once
                for kind in WATCHED:
                    informer = Informer(
                        self.access,
                        RESOURCES[kind],
                        self.settings.namespace,
                        self.stores[kind],
                        self._changed,
                    )
                    listing.start_soon(self._start_informer, tg, informer)
            tg.start_soon(self.queue.run_timers)
            for _ in range(max(self.settings.workers, 1)):
                tg.start_soon(self._work)
            task_status.started()

    @staticmethod
    async def _start_informer(tg: TaskGroup, informer: Informer) -> None:
        await tg.start(informer.run)

    def _changed(self, kind: str, old: Obj | None, new: Obj | None) -> None:
        obj = new if new is not None else old
        if obj is None:
            return
        ns = namespace_of(obj)
        self.queue.add((kind, ns, name_of(obj)))
        for version in (old, new):
            ref = controller_ref(version) if version else None
            if ref and ref.get("kind") in OWNER_KINDS:
                self.queue.add((str(ref["kind"]), ns, str(ref.get("name", ""))))
        if new is None and kind == "Pod":
            self._first_seen.pop(uid_of(obj), None)
        if new is None and kind == "PersistentVolumeClaim":
            volume = (obj.get("spec") or {}).get("volumeName")
            if volume == volume_name_for(obj):
                self.queue.add(("PersistentVolume", "", str(volume)))

    async def _work(self) -> None:
        while True:
            key = await self.queue.get()
            try:
                await self._reconcile(key)
                self._failures.pop(key, None)
            except ApiError as exc:
                if exc.status == 409:
                    self.queue.add_after(key, 0.05)  # our cache was behind; it catches up
                else:
                    self._retry(key, exc)
            except TRANSIENT as exc:
                self._retry(key, exc)
            except Exception as exc:  # a bug must not stop the other objects' controllers
                log.exception("sync of %s failed unexpectedly", "/".join(key))
                self._retry(key, exc)
            finally:
                self.queue.done(key)

    def _retry(self, key: WorkKey, exc: Exception) -> None:
        failures = self._failures.get(key, 0) + 1
        self._failures[key] = failures
        level = logging.WARNING if failures in (3, 10) else logging.DEBUG
        log.log(level, "sync of %s failed %d times: %s", "/".join(key), failures, exc)
        self.queue.add_after(key, backoff(failures))

    async def _reconcile(self, key: WorkKey) -> None:
        kind, ns, name = key
        now = datetime.now(UTC)
        if kind == "PersistentVolume":
            await self._reclaim(name)
            return
        obj = self.stores[kind].get(ns, name)
        if obj is None:
            return
        if kind == "Service":
            # Addresses come from one pool: allocate one Service at a time.
            async with self._pool_lock:
                plan = self._plan(kind, obj, now)
                await self._perform(plan)
        else:
            plan = self._plan(kind, obj, now)
            await self._perform(plan)
        if plan.requeue_after is not None:
            self.queue.add_after(key, plan.requeue_after)

    def _plan(self, kind: str, obj: Obj, now: datetime) -> Plan:
        uid, ns = uid_of(obj), namespace_of(obj)
        pods = self.stores["Pod"].owned_by(uid)
        if kind == "Pod":
            return reconcile_pod(
                obj,
                age=self._age(obj, now),
                now=now,
                ready_delay=self.settings.ready_delay,
                nodes=self.nodes,
                can_bind=self._can_bind,
            )
        if kind == "ReplicaSet":
            return reconcile_replicaset(obj, pods, now)
        if kind == "Deployment":
            sets = self.stores["ReplicaSet"]
            foreign = _ForeignNames(sets, ns, uid)
            return reconcile_deployment(obj, sets.owned_by(uid), now, foreign_names=foreign)
        if kind == "StatefulSet":
            claims = {name_of(c) for c in self.stores["PersistentVolumeClaim"].in_namespace(ns)}
            return reconcile_statefulset(obj, pods, claims, now)
        if kind == "DaemonSet":
            return reconcile_daemonset(obj, pods, self.nodes, now)
        if kind == "Job":
            return reconcile_job(obj, pods, now)
        if kind == "Service":
            others = [s for s in self.stores["Service"].all() if uid_of(s) != uid]
            return reconcile_service(obj, used_ips(others))
        return reconcile_claim(obj)

    def _age(self, pod: Obj, now: datetime) -> float:
        """Seconds since the pod's life began: when first seen, or its recorded startTime
        (so a restarted controller does not send Running pods back to Pending)."""
        uid = uid_of(pod)
        clock = time.monotonic()
        if uid not in self._first_seen:
            started = parse_time((pod.get("status") or {}).get("startTime"))
            past = max((now - started).total_seconds(), 0.0) if started else 0.0
            self._first_seen[uid] = clock - past
        return clock - self._first_seen[uid]

    async def _perform(self, plan: Plan) -> None:
        for action in plan.actions:
            if isinstance(action, Bind):
                await self._bind(action)
            elif isinstance(action, Create):
                res = RESOURCES[action.kind]
                body = self._placed(action.obj) if action.kind == "Pod" else action.obj
                created = await self.access.create(res, body, CONTROLLER_MANAGER)
                self._wrote(action.kind, created)
                if action.status is not None:
                    created["status"] = action.status
                    self._wrote(
                        action.kind,
                        await self.access.replace(res, created, CONTROLLER_MANAGER, status=True),
                    )
            elif isinstance(action, Replace | ReplaceStatus):
                manager = KUBELET if action.kind == "Pod" else CONTROLLER_MANAGER
                result = await self.access.replace(
                    RESOURCES[action.kind],
                    action.obj,
                    manager,
                    status=isinstance(action, ReplaceStatus),
                )
                self._wrote(action.kind, result)
            else:
                await self._delete(action)

    def _placed(self, pod: Obj) -> Obj:
        """Pods our controllers create go straight onto a pretend node (round robin), as
        the DaemonSet controller places its own: one write fewer than scheduling, and it
        works on servers without ``pods/binding``. Bare pods are bound instead."""
        if (pod.get("spec") or {}).get("nodeName"):
            return pod
        node = self.nodes[self._placements % len(self.nodes)]
        self._placements += 1
        return {**pod, "spec": {**(pod.get("spec") or {}), "nodeName": node}}

    def _wrote(self, kind: str, obj: Obj) -> None:
        if kind in self.stores and obj.get("metadata"):
            obj.setdefault("apiVersion", RESOURCES[kind].api_version)
            obj.setdefault("kind", kind)
            change = self.stores[kind].wrote(obj)
            if change is not None:
                self._changed(kind, *change)

    async def _delete(self, action: Delete) -> None:
        try:
            result = await self.access.delete(
                RESOURCES[action.kind], action.namespace, action.name, action.grace_period_seconds
            )
        except ApiError as exc:
            if exc.status != 404:
                raise
            result = {}
        if action.kind not in self.stores:
            return
        remains = (
            meta(result).get("finalizers")
            or int(meta(result).get("deletionGracePeriodSeconds") or 0) > 0
        )
        if result.get("kind") == action.kind and remains:
            self._wrote(action.kind, result)
        else:
            change = self.stores[action.kind].deleted(action.namespace, action.name)
            if change is not None:
                self._changed(action.kind, *change)

    async def _bind(self, action: Bind) -> None:
        try:
            await self.access.bind(action.namespace, action.name, action.node, SCHEDULER)
        except ApiError as exc:
            if exc.status not in (404, 405, 501):
                raise
            # A server without pods/binding: run pods unscheduled rather than not at all.
            log.info("pods/binding refused (%s); pods will run without a node", exc.status)
            self._can_bind = False
            self.queue.add(("Pod", action.namespace, action.name))

    async def _reclaim(self, volume: str) -> None:
        """Delete a volume we provisioned once its claim is gone (reclaim policy Delete)."""
        uid = volume.removeprefix("pvc-")
        if any(uid_of(c) == uid for c in self.stores["PersistentVolumeClaim"].all()):
            return
        try:
            await self.access.delete(RESOURCES["PersistentVolume"], "", volume)
        except ApiError as exc:
            if exc.status != 404:
                raise


class _ForeignNames(Collection[str]):
    """Names of the ReplicaSets in a namespace that a Deployment does not control,
    listed only when asked: a Deployment sync needs them only to name a new
    ReplicaSet, and listing them on every sync costs as much as the rest of it."""

    def __init__(self, sets: Store, namespace: str, owner_uid: str) -> None:
        self._sets, self._namespace, self._owner_uid = sets, namespace, owner_uid
        self._names: set[str] | None = None

    def _listed(self) -> set[str]:
        if self._names is None:
            self._names = {
                name_of(rs)
                for rs in self._sets.in_namespace(self._namespace)
                if (controller_ref(rs) or {}).get("uid") != self._owner_uid
            }
        return self._names

    def __contains__(self, name: object) -> bool:
        return name in self._listed()

    def __iter__(self) -> Iterator[str]:
        return iter(self._listed())

    def __len__(self) -> int:
        return len(self._listed())


async def run_controllers(
    api_client: client.ApiClient,
    *,
    ready_delay: float = 1.0,
    namespace: str | None = None,
    nodes: int = 1,
    access: KubeAccess | None = None,
    task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Move object status as a real cluster would, until cancelled.

    With ``await task_group.start(run_controllers, api_client)`` the call returns once
    every cache has been listed, so that what a test creates next is seen. ``access``
    replaces the client's doors to the API (the simulator passes one that writes
    in-process, :mod:`fleet.sim.local_access`).
    """
    settings = ControllerSettings(ready_delay=ready_delay, namespace=namespace, nodes=nodes)
    await Controllers(api_client, settings, access).run(task_status=task_status)
