"""Lua health checks in a running daemon: a wave waits on a custom resource's script.

An app ships a CRD (wave -1), one custom resource (wave 0) and a ConfigMap (wave 1).
Nothing controls the custom resource, so its status stays empty until the test writes
it through the status subresource. With an Argo CD style Lua check for the kind in the
fleet config, the resource is Progressing until then (``fleet health`` on the live
object says so, naming the script), the ConfigMap is not applied, and the sync finishes
only after the status says ready. A looping script in the watched Git repository is
stopped, its object reported Unknown with the reason, while ``/healthz`` keeps answering
and another app converges.
"""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import anyio
import pytest
import yaml

from tests.e2e.conftest import ClusterHandle
from tests.e2e.daemon_support import JSON, FleetDaemon, World, eventually, world

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

VERSION = "v1"

WIDGET_CHECK = """\
if obj.status == nil or obj.status.ready ~= true then
  return {status = "Progressing", message = "widget " .. obj.metadata.name .. " is being built"}
end
return {status = "Healthy", message = "widget ready, size " .. obj.status.size}
"""


#: The status a controller would write (a JSON patch: the client sends it as one).
READY = [{"op": "add", "path": "/status", "value": {"ready": True, "size": 3}}]


@pytest.fixture
def cluster_count() -> int:
    return 2


def crd(group: str, kind: str) -> JSON:
    plural = kind.lower() + "s"
    schema = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{plural}.{group}",
            "annotations": {"argocd.argoproj.io/sync-wave": "-1"},
        },
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": plural, "singular": kind.lower(), "kind": kind},
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "schema": {"openAPIV3Schema": schema},
                }
            ],
        },
    }


def app_files(w: World, group: str, kind: str, app: str) -> dict[str, str | None]:
    """Namespace, CRD, one custom resource and a wave-1 ConfigMap under apps/<app>."""
    ns = f"{w.namespace}-{app[0]}"
    docs: dict[str, JSON] = {
        "namespace.yaml": {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": ns, "annotations": {"argocd.argoproj.io/sync-wave": "-2"}},
        },
        "crd.yaml": crd(group, kind),
        "resource.yaml": {
            "apiVersion": f"{group}/{VERSION}",
            "kind": kind,
            "metadata": {"name": "first", "namespace": ns},
            "spec": {"size": 3},
        },
        "after.yaml": {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": "after-resource",
                "namespace": ns,
                "annotations": {"argocd.argoproj.io/sync-wave": "1"},
            },
            "data": {"wave": "1"},
        },
    }
    for kube in w.kubes.values():
        if kube.handle.sim is None:  # real clusters: leave nothing behind
            w.stack.push_async_callback(kube.delete_namespace, ns)
            w.stack.push_async_callback(delete_crd, kube.api, f"{kind.lower()}s.{group}")
    return {f"apps/{app}/{name}": yaml.safe_dump(doc) for name, doc in docs.items()}


async def delete_crd(api: Any, name: str) -> None:
    from kubernetes_asyncio import client
    from kubernetes_asyncio.client.exceptions import ApiException

    with contextlib.suppress(ApiException):
        await client.ApiextensionsV1Api(api).delete_custom_resource_definition(name)


def plain_app(name: str, namespace: str, **policy: Any) -> JSON:
    return {
        "name": name,
        "source": "platform",
        "path": f"apps/{name}",
        "namespace": namespace,
        "syncPolicy": {"automated": True, "prune": True, "selfHeal": True, **policy},
    }


def moment(value: Any) -> float:
    """A history timestamp (ISO 8601 text or seconds) as seconds."""
    if isinstance(value, int | float):
        return float(value)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()


async def custom_object(w: World, cluster: str, group: str, kind: str, ns: str) -> JSON | None:
    from kubernetes_asyncio import client
    from kubernetes_asyncio.client.exceptions import ApiException

    api = client.CustomObjectsApi(w.kubes[cluster].api)
    try:
        found: JSON = await api.get_namespaced_custom_object(
            group, VERSION, ns, kind.lower() + "s", "first"
        )
    except ApiException as error:
        if error.status == 404:
            return None
        raise
    return found


def fleet_health(obj: JSON, config: JSON, directory: Path) -> JSON:
    """``fleet health`` run as a user runs it, on the live object."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "object.yaml").write_text(yaml.safe_dump(obj))
    (directory / "fleet.yaml").write_text(yaml.safe_dump(config))
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "fleet",
            "health",
            "object.yaml",
            "--config",
            "fleet.yaml",
            "--json",
        ],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    rows: list[JSON] = json.loads(done.stdout)
    return rows[0]


async def test_a_wave_waits_on_a_custom_resource_judged_by_lua(
    clusters: list[ClusterHandle], tmp_path: Path
) -> None:
    group = f"w{uuid.uuid4().hex[:6]}.e2e.fleet.dev"
    async with world(clusters, tmp_path) as w:
        ns = f"{w.namespace}-w"
        sha = await w.commit("widgets", app_files(w, group, "Widget", "widgets"))
        config = w.config()
        config["apps"] = [plain_app("widgets", ns)]
        config["health"] = {"lua": {f"{group}/Widget": WIDGET_CHECK}}
        daemon = await w.daemon(config)

        for name in w.names:
            await eventually(
                lambda name=name: custom_object(w, name, group, "Widget", ns),
                timeout=60,
                what=f"the widget on {name}",
                explain=daemon.log_tail,
            )
        await anyio.sleep(3)  # time enough for a sync that does not wait to finish
        for name in w.names:
            assert await w.kubes[name].config_map(ns, "after-resource") is None
            row = await daemon.status_of(name, app="widgets")
            assert row["operation"], row  # the sync is still running: waiting
            live = await custom_object(w, name, group, "Widget", ns)
            assert live is not None
            verdict = fleet_health(live, config, tmp_path / f"check-{name}")
            assert verdict["status"] == "Progressing", verdict
            assert verdict["message"] == "widget first is being built", verdict
            assert verdict["decidedBy"] == f"Lua fleet.yaml health.lua[{group}/Widget]"

        from kubernetes_asyncio import client

        released = time.time()
        for name in w.names:
            await client.CustomObjectsApi(w.kubes[name].api).patch_namespaced_custom_object_status(
                group, VERSION, ns, "widgets", "first", READY
            )
        await daemon.wait_converged(w.names, sha, app="widgets", timeout=60)
        for name in w.names:
            synced = await daemon.wait_sync(name, sha, result="Succeeded", app="widgets")
            started, finished = moment(synced["started_at"]), moment(synced["finished_at"])
            assert started < released < finished, synced
            after = await w.kubes[name].config_map(ns, "after-resource")
            assert after is not None
            assert after["data"] == {"wave": "1"}
            live = await custom_object(w, name, group, "Widget", ns)
            assert live is not None
            verdict = fleet_health(live, config, tmp_path / f"check-{name}")
            assert (verdict["status"], verdict["message"]) == ("Healthy", "widget ready, size 3")

        # An inline script that does not compile is a config error: SIGHUP is refused,
        # naming the file, the script's line and column, and the running config goes on.
        without = {k: v for k, v in config.items() if k != "health"}
        text = yaml.safe_dump(without, sort_keys=False)
        script = (
            '      if obj.status == nil then\n        return {status = "Progressing"\n      end\n'
        )
        broken = text + f"health:\n  lua:\n    {group}/Widget: |\n" + script
        key_line = text.count("\n") + 3
        events_before = await daemon.last_event_id()
        daemon.write_config(broken)
        daemon.send(signal.SIGHUP)
        rejected = await daemon.wait_event("config_rejected", after_id=events_before)
        assert f"fleet.yaml:{key_line + 3}:7: " in rejected["message"], rejected  # Lua's line 3
        assert "Lua syntax error" in rejected["message"], rejected
        running = {r["cluster"] for r in await daemon.status() if r["app"] == "widgets"}
        assert running == set(w.names)
        assert (await daemon.request("GET", "/readyz", expect=None)).status == 200


class HealthProbe:
    """Asks ``/healthz`` every 100 ms and keeps the slowest answer."""

    def __init__(self, daemon: FleetDaemon) -> None:
        self.daemon = daemon
        self.slowest = 0.0
        self.answers = 0

    async def run(self) -> None:
        while True:
            started = time.monotonic()
            with anyio.move_on_after(10):
                answer = await self.daemon.request("GET", "/healthz", expect=None)
                assert answer.status == 200, answer
                self.answers += 1
            self.slowest = max(self.slowest, time.monotonic() - started)
            await anyio.sleep(0.1)


async def test_a_looping_check_from_git_is_stopped_and_the_daemon_keeps_going(
    clusters: list[ClusterHandle], tmp_path: Path
) -> None:
    group = f"g{uuid.uuid4().hex[:6]}.e2e.fleet.dev"
    script = f"apps/checks/{group}/Gadget/health.lua"
    async with world(clusters, tmp_path) as w:
        ns = f"{w.namespace}-g"
        files = app_files(w, group, "Gadget", "gadgets")
        files[script] = "local n = 0\nwhile true do n = n + 1 end\n"
        sha = await w.commit("gadgets, with a check that never ends", files)
        config = w.config()
        config["apps"].append(plain_app("gadgets", ns, timeouts={"wave": "20s"}))
        config["health"] = {"luaDirectories": [{"source": "platform", "path": "apps/checks"}]}
        daemon = await w.daemon(config)
        probe = HealthProbe(daemon)
        async with anyio.create_task_group() as probing:
            probing.start_soon(probe.run)
            await daemon.wait_converged(w.names, sha, timeout=60)  # web, unaffected
            for name in w.names:
                failed = await daemon.wait_sync(
                    name, sha, result="Failed", app="gadgets", timeout=90
                )
                message = failed["message"]
                assert f"Gadget.{group}" in message or "first" in message, failed
                assert "not healthy after 20s; last: Unknown" in message, failed
                assert (
                    f"source platform@{sha[:12]}:apps/checks/{group}/Gadget/health.lua" in message
                )
                assert "ran longer than 1 s and was stopped" in message, failed
                assert await w.kubes[name].config_map(ns, "after-resource") is None
            probing.cancel_scope.cancel()
        print(f"/healthz: {probe.answers} answers, slowest {probe.slowest:.2f}s")
        assert probe.answers > 20, probe.answers
        assert probe.slowest < 2.5, f"/healthz took {probe.slowest:.2f}s"
