"""The daemon recovers on its own: createNamespace keeps the dry-run whole, failed syncs
retry, and a reloaded config syncs at once.

- ``syncPolicy.createNamespace``: a sync with one bad object leaves nothing behind; a
  sync of an unchanged app writes nothing (a one-line change writes one object); a sync
  resumed after ``kill -9`` knows the namespace it created.
- ``syncPolicy.retry``: a cluster answering 500 for ~30 s converges on its own once it
  recovers; a failure that will not pass (an invalid object) is not retried.
- SIGHUP: an app the reload adds, or changes, syncs at once, without a new commit.

Fault injection needs simulated clusters; those tests skip on real ones.
"""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import anyio
import pytest
import yaml

from tests.e2e.conftest import ClusterHandle
from tests.e2e.daemon_support import JSON, FleetDaemon, World, eventually, world

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]


def kustomization(*resources: str) -> str:
    """The seed app's base with only ``resources`` (no hooks: a manual sync runs hooks
    again by design, and they are writes)."""
    return yaml.safe_dump(
        {
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            "resources": list(resources),
            "labels": [{"pairs": {"app.kubernetes.io/name": "web"}, "includeSelectors": False}],
        },
        sort_keys=False,
    )


#: Without its Namespace manifest: createNamespace makes it.
PLAIN_KUSTOMIZATION = kustomization("configmap.yaml", "deployment.yaml", "service.yaml")
#: With it, for apps that do not create their namespace.
WITH_NAMESPACE = {
    "base/kustomization.yaml": kustomization(
        "namespace.yaml", "configmap.yaml", "deployment.yaml", "service.yaml"
    )
}
CREATE_NAMESPACE = {"createNamespace": True}
WRITES = ("created", "configured", "pruned", "hook", "deleted")
WRITE_VERBS = ("create", "update", "patch", "apply", "delete", "deletecollection")


def fleet_writes(handle: ClusterHandle) -> int | None:
    """Writes a simulated cluster received from anything but its own controllers."""
    if handle.sim is None:
        return None
    return sum(
        verbs.get(verb, 0)
        for client, verbs in handle.sim.requests.to_dict().items()
        if client != "fleet-sim-controllers"
        for verb in WRITE_VERBS
    )


async def written(daemon: FleetDaemon, sync_id: int) -> list[tuple[str, str, str]]:
    """What a sync wrote, from history: (kind, name, action)."""
    results = (await daemon.detail(sync_id))["results"]
    return sorted((r["kind"], r["name"], r["action"]) for r in results if r["action"] in WRITES)


def greeting(w: World, text: str) -> str:
    return w.edited("base/configmap.yaml", lambda doc: doc["data"].update({"GREETING": text}))


async def test_create_namespace_with_one_bad_object_writes_nothing_and_is_not_retried(
    clusters: list[ClusterHandle], tmp_path: Path
) -> None:
    bad = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "web-bad", "labels": {"tier": "not a label value!"}},
        "data": {"x": "y"},
    }
    kustomization = yaml.safe_load(PLAIN_KUSTOMIZATION)
    kustomization["resources"].append("bad-configmap.yaml")
    files = {
        "base/kustomization.yaml": yaml.safe_dump(kustomization, sort_keys=False),
        "base/bad-configmap.yaml": yaml.safe_dump(bad),
    }
    async with world(clusters, tmp_path, files=files) as w:
        daemon = await w.daemon(w.config(sync_policy=CREATE_NAMESPACE))
        for name in w.names:
            failed = await daemon.wait_sync(name, w.seed_sha, result="Failed", timeout=40)
            assert "web-bad" in failed["message"], failed
            # Only the namespace was written, to dry-run its objects, and removed again.
            assert await written(daemon, failed["id"]) == [
                ("Namespace", w.namespace, "created"),
                ("Namespace", w.namespace, "deleted"),
            ]
        for name in w.names:
            kube = w.kubes[name]
            assert await kube.config_map(w.namespace, "web-config") is None
            assert await kube.deployment(w.namespace, "web") is None
            assert await kube.service(w.namespace, "web") is None

            async def namespace_going(kube: Any = kube) -> bool:
                found = await kube.namespace(w.namespace)
                return found is None or bool(found["metadata"].get("deletionTimestamp"))

            await eventually(namespace_going, timeout=20, what="the namespace removed again")
        # An invalid object will not pass by itself: no retry (the default policy would
        # have retried within a second or two).
        await anyio.sleep(4)
        history = await daemon.history()
        assert [r for r in history if r["trigger"] == "retry"] == [], history
        assert not [e for e in await daemon.events() if e["kind"] == "sync_retrying"]


async def test_create_namespace_an_unchanged_app_writes_nothing(
    clusters: list[ClusterHandle], tmp_path: Path
) -> None:
    files = {"base/kustomization.yaml": PLAIN_KUSTOMIZATION}
    async with world(clusters, tmp_path, files=files) as w:
        daemon = await w.daemon(w.config(sync_policy=CREATE_NAMESPACE))
        await daemon.wait_converged(w.names, w.seed_sha, timeout=40)
        syncs_before = await daemon.last_sync_id()

        # A one-line change writes one object.
        v2 = await w.commit("greet differently", {"base/configmap.yaml": greeting(w, "v2")})
        await daemon.wait_converged(w.names, v2, timeout=40)
        for name in w.names:
            row = await daemon.wait_sync(name, v2, after_id=syncs_before, result="Succeeded")
            assert await written(daemon, row["id"]) == [("ConfigMap", "web-config", "configured")]

        # A sync of the unchanged app writes nothing at all.
        writes = {name: fleet_writes(h) for name, h in zip(w.names, clusters, strict=True)}
        syncs_before = await daemon.last_sync_id()
        await daemon.sync()
        for name, handle in zip(w.names, clusters, strict=True):
            row = await daemon.wait_sync(
                name, v2, after_id=syncs_before, trigger="manual", result="Succeeded"
            )
            assert await written(daemon, row["id"]) == []
            assert fleet_writes(handle) == writes[name]


async def test_kill_9_then_resume_with_create_namespace_converges(
    clusters: list[ClusterHandle], tmp_path: Path
) -> None:
    def slow(doc: JSON) -> None:
        template = doc["spec"]["template"]
        template.setdefault("metadata", {})["annotations"] = {"sim.fleet.dev/ready-delay": "3"}

    files = {"base/kustomization.yaml": PLAIN_KUSTOMIZATION}
    async with world(clusters, tmp_path, files=files) as w:

        def same_wave(doc: JSON) -> None:
            doc["metadata"].pop("annotations", None)

        # The namespace goes with the first object in it: in the wave the kill hits.
        changes = {
            "base/deployment.yaml": w.edited("base/deployment.yaml", slow),
            "base/configmap.yaml": w.edited("base/configmap.yaml", same_wave),
        }
        sha = await w.commit("pods that take a while, in the namespace's wave", changes)
        daemon = await w.daemon(w.config(sync_policy=CREATE_NAMESPACE))

        async def applied_everywhere() -> bool:
            for name in w.names:
                if await w.kubes[name].deployment(w.namespace, "web") is None:
                    return False
            rows = [r for r in await daemon.history() if r["result"] == "Running"]
            for row in rows:
                results = (await daemon.detail(row["id"]))["results"]
                if ("Deployment", "web") not in {(r["kind"], r["name"]) for r in results}:
                    return False
            return len(rows) == len(w.names)

        seen: list[JSON] = []

        def explain() -> str:
            return f"history: {seen}\n{daemon.log_tail()}"

        async def probe() -> bool:
            seen[:] = await daemon.history()
            return await applied_everywhere()

        await eventually(probe, timeout=30, interval=0.05, what="syncs waiting", explain=explain)
        await daemon.kill()

        # The resumed syncs know the namespace they created: they do not wait for it until
        # the wave's 5 minute deadline.
        await daemon.start()
        await daemon.wait_converged(w.names, sha, timeout=40)
        history = await daemon.history()
        for name in w.names:
            results = [
                r["result"] for r in sorted(history, key=lambda r: r["id"]) if r["cluster"] == name
            ]
            assert results == ["Interrupted", "Succeeded"], history


async def test_a_cluster_answering_500_for_30s_converges_on_its_own(
    clusters: list[ClusterHandle], tmp_path: Path
) -> None:
    faults = clusters[0].require_faults()
    retry = {"limit": 5, "backoff": {"duration": "2s", "factor": 2, "maxDuration": "10s"}}
    async with world(clusters, tmp_path, files=WITH_NAMESPACE) as w:
        broken, *others = w.names
        config = w.config(sync_policy={"retry": retry})
        if others:
            # The broken cluster goes first: the rest wait for it, and must not wait for
            # a person once it recovers.
            config["rollout"] = {
                "waves": [
                    {"name": "first", "selector": {"names": [broken]}},
                    {"name": "rest", "selector": {"names": others}},
                ]
            }
        daemon = await w.daemon(config)
        await daemon.wait_converged(w.names, w.seed_sha, timeout=40)
        syncs_before = await daemon.last_sync_id()
        events_before = await daemon.last_event_id()

        faults.error_code, faults.error_rate = 500, 1.0
        broken_at = anyio.current_time()
        v2 = await w.commit("greet differently", {"base/configmap.yaml": greeting(w, "v2")})
        failed = await daemon.wait_sync(
            broken, v2, after_id=syncs_before, result="Failed", timeout=60
        )
        assert "500" in failed["message"] or "InternalError" in failed["message"], failed
        retrying = await daemon.wait_event(
            "sync_retrying", after_id=events_before, cluster=broken, timeout=20
        )
        assert "retry 1 of 5" in retrying["message"], retrying
        for name in others:
            assert (await daemon.status_of(name))["revision"] == w.seed_sha, "the rest wait"
        await anyio.sleep(max(0.0, broken_at + 30 - anyio.current_time()))
        faults.clear()

        # Nobody syncs by hand: the retries carry it once the cluster answers again.
        await daemon.wait_converged(w.names, v2, timeout=60)
        live = await w.kubes[broken].config_map(w.namespace, "web-config")
        assert live is not None
        assert live["data"]["GREETING"] == "v2"
        ok = await daemon.wait_sync(broken, v2, after_id=failed["id"], result="Succeeded")
        assert ok["trigger"] == "retry", ok


async def test_an_app_added_or_changed_by_a_reload_syncs_at_once(
    clusters: list[ClusterHandle], tmp_path: Path
) -> None:
    async with world(clusters, tmp_path, files=WITH_NAMESPACE) as w:

        def extra_config(version: str) -> str:
            body = {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "extra", "namespace": w.namespace},
                "data": {"version": version},
            }
            return yaml.safe_dump(body)

        sha = await w.commit(
            "an extra app, in two versions",
            {
                "apps/extra/v1/configmap.yaml": extra_config("v1"),
                "apps/extra/v2/configmap.yaml": extra_config("v2"),
            },
        )
        config = w.config()
        daemon = await w.daemon(config)
        await daemon.wait_converged(w.names, sha, timeout=40)

        async def reload_with(path: str) -> None:
            extra = {
                "name": "extra",
                "source": "platform",
                "path": path,
                "namespace": w.namespace,
                "syncPolicy": {"automated": True},
            }
            daemon.write_config({**config, "apps": [*config["apps"], extra]})
            events_before = await daemon.last_event_id()
            daemon.send(signal.SIGHUP)
            await daemon.wait_event("config_reloaded", after_id=events_before)

        async def extra_at(version: str) -> bool:
            for name in w.names:
                live = await w.kubes[name].config_map(w.namespace, "extra")
                if live is None or live["data"].get("version") != version:
                    return False
            return True

        async def finished_everywhere(after: int) -> list[dict[str, Any]] | None:
            """The syncs of the app after ``after``, once one has ended on every cluster
            (its objects are written before its result is recorded)."""
            rows = [r for r in await daemon.history(app="extra") if r["id"] > after]
            ended = {r["cluster"] for r in rows if r["finished_at"]}
            return rows if ended == set(w.names) else None

        # The source does not move: the new app must not wait for the next commit.
        await reload_with("apps/extra/v1")
        await eventually(lambda: extra_at("v1"), timeout=20, what="the added app synced")
        rows = await eventually(lambda: finished_everywhere(0), timeout=20, what="syncs ended")
        assert {r["result"] for r in rows} == {"Succeeded"}, rows
        assert {r["trigger"] for r in rows} == {"config"}, rows

        # Changed (a new path, same commit, no selfHeal): synced at once too.
        syncs_before = await daemon.last_sync_id()
        await reload_with("apps/extra/v2")
        await eventually(lambda: extra_at("v2"), timeout=20, what="the changed app synced")
        rows = await eventually(
            lambda: finished_everywhere(syncs_before), timeout=20, what="syncs ended"
        )
        assert {r["trigger"] for r in rows if r["result"] == "Succeeded"} == {"config"}, rows
