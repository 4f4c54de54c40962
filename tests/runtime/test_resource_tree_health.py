"""The dashboard's resource tree judges health as status does: Lua checks included.

The worker is a stand-in with the few parts ``resource_tree`` reads (an unreachable
cluster, so no listing of owned objects); the health board is the daemon's own, which
never runs Lua on the event loop, so the tree must prepare its verdicts first.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from fleet.config import FleetConfig
from fleet.engine.options import SyncOptions
from fleet.model.refs import ObjectRef
from fleet.runtime.health_checks import HealthCheckBoard
from fleet.runtime.resource_tree import resource_tree

pytestmark = pytest.mark.anyio

ROLLOUT: dict[str, Any] = {
    "apiVersion": "argoproj.io/v1alpha1",
    "kind": "Rollout",
    "metadata": {"name": "web", "namespace": "shop", "uid": "u1", "resourceVersion": "3"},
    "status": {"phase": "Paused"},
}
CHECK = 'return {status = "Suspended", message = "rollout is " .. obj.status.phase}\n'


class Cache:
    def __init__(self, objects: dict[ObjectRef, dict[str, Any]]) -> None:
        self.objects = objects

    def get(self, ref: ObjectRef) -> dict[str, Any] | None:
        return self.objects.get(ref)

    def objects_of(self, app: str) -> dict[ObjectRef, dict[str, Any]]:
        return dict(self.objects)


def worker(options: SyncOptions) -> Any:
    ref = ObjectRef.of(ROLLOUT)
    status = SimpleNamespace(
        reachable=False, out_of_sync=[], sync="Synced", revision="abc", health="", message=""
    )
    return SimpleNamespace(
        status=status,
        runtime=SimpleNamespace(cache=Cache({ref: ROLLOUT})),
        tracked=lambda: [SimpleNamespace(ref=ref)],
        app=SimpleNamespace(name="web"),
        cluster=SimpleNamespace(name="dev"),
        options=lambda: options,
    )


async def test_the_tree_uses_the_lua_check_status_uses() -> None:
    board = HealthCheckBoard(inline=False)
    board.configure(FleetConfig.model_validate({"health": {"lua": {"argoproj.io/Rollout": CHECK}}}))
    tree = await resource_tree(worker(SyncOptions(custom_health=board)))
    [node] = tree["resources"]
    assert (node["health"], node["message"]) == ("Suspended", "rollout is Paused")
    plain = await resource_tree(worker(SyncOptions()))
    assert plain["resources"][0]["health"] != "Suspended"  # the generic rule without it
