"""A hostile commit fails its own app, and nothing else waits.

Two apps on one daemon read one repository: the seed's ``web`` and a small plain app,
``hostile``. One commit changes web's ConfigMap and puts a 420-byte YAML alias bomb
(nine levels of nine aliases) into the hostile app. Before render limits, parsing and
serialising that file took the daemon's event loop and gigabytes of memory, again after
every restart. Now: web converges to the commit on every cluster, the hostile app's
syncs fail naming the file and the rule, its live objects stay as they were, and
``/healthz`` answers within a second all along, after a restart too.
"""

from __future__ import annotations

import time
from pathlib import Path

import anyio
import pytest

from tests.e2e.conftest import ClusterHandle
from tests.e2e.daemon_support import JSON, FleetDaemon, World, world

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

HOSTILE = "apps/hostile/settings.yaml"


@pytest.fixture
def cluster_count() -> int:
    return 2


def config_map(namespace: str, name: str, data: str) -> str:
    return (
        f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n"
        f"  namespace: {namespace}\ndata:\n{data}"
    )


def alias_bomb(namespace: str) -> str:
    lines = ['  l0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for level in range(1, 9):
        lines.append(f"  l{level}: &l{level} [{','.join([f'*l{level - 1}'] * 9)}]")
    return config_map(namespace, "hostile-settings", "\n".join(lines) + "\n")


def hostile_namespace(w: World) -> str:
    """The hostile app's own namespace (web's may not exist yet when it syncs)."""
    return f"{w.namespace}-h"


def hostile_files(w: World, **files: str) -> dict[str, str | None]:
    """The hostile app: its namespace, and ``files`` below ``apps/hostile``."""
    ns = hostile_namespace(w)
    namespace = f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n"
    for kube in w.kubes.values():
        if kube.handle.sim is None:
            w.stack.push_async_callback(kube.delete_namespace, ns)
    return {
        "apps/hostile/namespace.yaml": namespace,
        **{f"apps/hostile/{name}": text for name, text in files.items()},
    }


def with_hostile_app(w: World) -> JSON:
    config = w.config()
    config["apps"].append(
        {
            "name": "hostile",
            "source": "platform",
            "path": "apps/hostile",
            "namespace": hostile_namespace(w),
            "syncPolicy": {"automated": True, "prune": True, "selfHeal": True},
        }
    )
    return config


class HealthProbe:
    """Asks ``/healthz`` every 100 ms and keeps the slowest answer (or failure)."""

    def __init__(self, daemon: FleetDaemon) -> None:
        self.daemon = daemon
        self.slowest = 0.0
        self.failures: list[str] = []
        self.answers = 0

    async def run(self) -> None:
        while True:
            started = time.monotonic()
            with anyio.move_on_after(5):
                answer = await self.daemon.request("GET", "/healthz", expect=None)
                if answer.status != 200:
                    self.failures.append(f"{answer.status}: {answer.body}")
                self.answers += 1
            self.slowest = max(self.slowest, time.monotonic() - started)
            await anyio.sleep(0.1)


async def test_an_alias_bomb_fails_its_app_while_the_other_app_syncs_and_health_answers(
    clusters: list[ClusterHandle], tmp_path: Path
) -> None:
    async with world(clusters, tmp_path) as w:
        ns = hostile_namespace(w)
        calm = config_map(ns, "hostile-settings", "  mode: calm\n")
        fine = await w.commit(
            "hostile app, still harmless", hostile_files(w, **{"settings.yaml": calm})
        )
        daemon = await w.daemon(with_hostile_app(w))
        await daemon.wait_converged(w.names, fine)
        await daemon.wait_converged(w.names, fine, app="hostile")
        syncs_before = await daemon.last_sync_id()

        probe = HealthProbe(daemon)
        async with anyio.create_task_group() as probing:
            probing.start_soon(probe.run)
            greeting = w.edited(
                "base/configmap.yaml", lambda doc: doc["data"].update({"GREETING": "bombproof"})
            )
            bomb = await w.commit(
                "an alias bomb beside a good change",
                {HOSTILE: alias_bomb(ns), "base/configmap.yaml": greeting},
            )
            await daemon.push_webhook()

            await daemon.wait_converged(w.names, bomb, timeout=60)
            for name in w.names:
                failed = await daemon.wait_sync(
                    name, bomb, result="Failed", app="hostile", after_id=syncs_before
                )
                assert f"{HOSTILE}:1: excessive aliasing" in failed["message"], failed
                assert (await daemon.detail(failed["id"]))["results"] == []
                live = await w.kubes[name].config_map(ns, "hostile-settings")
                assert live is not None
                assert live["data"] == {"mode": "calm"}, live
                web = await w.kubes[name].config_map(w.namespace, "web-config")
                assert web is not None
                assert web["data"]["GREETING"] == "bombproof"
            status = await daemon.status_of(w.names[0], app="hostile")
            assert "excessive aliasing" in status["message"], status

            # A restart meets the same commit: it must not block there either. The
            # halted rollout stays halted across the restart; resuming it makes the
            # daemon render the bomb again.
            before_restart = await daemon.last_sync_id()
            await daemon.stop()
            await daemon.start()
            await daemon.wait_converged(w.names, bomb)
            await daemon.request(
                "POST", "/api/v1/apps/hostile/rollout/resume", body={}, headers=daemon.auth()
            )
            again = await daemon.wait_sync(
                w.names[0], bomb, result="Failed", app="hostile", after_id=before_restart
            )
            assert f"{HOSTILE}:1: excessive aliasing" in again["message"], again
            probing.cancel_scope.cancel()

        assert probe.answers > 10, probe.answers
        # Only the restart's own gap may refuse a connection (status 0).
        assert all(failure.startswith("0:") for failure in probe.failures), probe.failures
        assert probe.slowest < 1.0, f"/healthz took {probe.slowest:.2f}s"
        assert "MemoryError" not in daemon.log_text()


async def test_render_limits_come_from_the_settings(
    clusters: list[ClusterHandle], tmp_path: Path
) -> None:
    async with world(clusters, tmp_path) as w:
        ns = hostile_namespace(w)
        data = "  k: v\n"
        many = "".join("---\n" + config_map(ns, f"cm-{index}", data) for index in range(30))
        sha = await w.commit("thirty objects", hostile_files(w, **{"many.yaml": many}))
        daemon = await w.daemon(with_hostile_app(w), render={"max_objects": 20})
        for name in w.names:
            failed = await daemon.wait_sync(name, sha, result="Failed", app="hostile")
            assert "apps/hostile/many.yaml:" in failed["message"], failed
            assert "more than 20 objects" in failed["message"], failed
            assert "render.max_objects" in failed["message"], failed
        await daemon.wait_converged(w.names, sha)
