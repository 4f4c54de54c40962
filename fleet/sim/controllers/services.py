"""Services of type LoadBalancer get an ingress IP, as a cloud load balancer would.

Addresses come from 198.51.100.0/24 (TEST-NET-2, reserved for documentation, so it can
never be mistaken for a reachable address): the lowest one no other Service in the
cluster holds. ``spec.loadBalancerIP``, when set, is honoured. A Service that stops being
a LoadBalancer loses its ingress.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any

from fleet.sim.controllers.actions import Plan, ReplaceStatus
from fleet.sim.controllers.objects import is_deleting, with_status

POOL_PREFIX = "198.51.100."


def ingress_ips(service: Mapping[str, Any]) -> list[str]:
    ingress = ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    return [str(i["ip"]) for i in ingress if i.get("ip")]


def used_ips(services: Iterable[Mapping[str, Any]]) -> set[str]:
    return {ip for svc in services for ip in ingress_ips(svc)}


def allocate_ip(used: Collection[str]) -> str | None:
    for host in range(1, 255):
        candidate = f"{POOL_PREFIX}{host}"
        if candidate not in used:
            return candidate
    return None


def reconcile_service(service: Mapping[str, Any], used: Collection[str]) -> Plan:
    """Give a LoadBalancer Service an address, or take it back from one that is not.

    ``used`` are the ingress addresses held by all Services of the cluster.
    """
    plan = Plan()
    if is_deleting(service):
        return plan
    spec = service.get("spec") or {}
    status = dict(service.get("status") or {})
    balancer = status.get("loadBalancer") or {}
    if spec.get("type") != "LoadBalancer":
        if balancer.get("ingress"):
            status["loadBalancer"] = {}
            plan.add(ReplaceStatus("Service", with_status(service, status)))
        return plan
    if ingress_ips(service):
        return plan
    ip = spec.get("loadBalancerIP") or allocate_ip(used)
    if ip is None:
        return plan  # pool exhausted: stays pending, as on a cloud without quota
    status["loadBalancer"] = {"ingress": [{"ip": ip, "ipMode": "VIP"}]}
    plan.add(ReplaceStatus("Service", with_status(service, status)))
    return plan
