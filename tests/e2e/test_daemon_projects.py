"""Projects and adoption end to end: an app cannot leave its bounds or take objects over.

The web app belongs to a project that allows its own namespaces (the test's namespace and
``<namespace>-*``), Namespace as the one cluster-scoped kind, and no RBAC. A commit that
adds a ClusterRoleBinding to cluster-admin, a ConfigMap in kube-system and one in a
namespace outside the globs is refused on every cluster before anything is written: not
even the harmless changes of the same commit reach the clusters, and history names each
object with the rule it breaks. A config whose app renders from a source the project does
not list is refused on SIGHUP, and that app writes nothing. A ConfigMap made by hand is
not taken over when the same object appears in Git, nor deleted when it leaves; an
annotation in Git adopts it. A daemon that lost its database takes its own objects back
from their tracking annotations.
"""

from __future__ import annotations

import signal
import uuid
from pathlib import Path
from typing import Any

import anyio
import pytest
import yaml

from tests.e2e.conftest import ClusterHandle
from tests.e2e.daemon_support import JSON, Kube, World, eventually, world

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

BASE = [
    "namespace.yaml",
    "configmap.yaml",
    "deployment.yaml",
    "service.yaml",
    "migrate-job.yaml",
    "smoke-test-job.yaml",
]


def kustomization(resources: list[str]) -> str:
    lines = ["apiVersion: kustomize.config.k8s.io/v1beta1", "kind: Kustomization", "resources:"]
    lines += [f"  - {r}" for r in resources]
    return "\n".join(lines) + "\n"


def config_map(name: str, namespace: str, data: dict[str, str], **annotations: str) -> str:
    meta: JSON = {"name": name, "namespace": namespace}
    if annotations:
        meta["annotations"] = annotations
    return yaml.safe_dump({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data})


CLUSTER_ADMIN_BINDING = yaml.safe_dump(
    {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": "web-takes-over"},
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": "cluster-admin",
        },
        "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": "default"}],
    }
)


def bounded_config(w: World, **app_extra: Any) -> JSON:
    config = w.config(project="web", **app_extra)
    config["projects"] = [
        {
            "name": "web",
            "sources": ["platform"],
            "namespaces": [w.namespace, f"{w.namespace}-*"],
            "kinds": {"deny": ["rbac.authorization.k8s.io/*"]},
            "clusterKinds": ["/Namespace"],
        }
    ]
    return config


async def cluster_role_binding(kube: Kube, name: str) -> JSON | None:
    from kubernetes_asyncio import client

    rbac = client.RbacAuthorizationV1Api(kube.api)
    return await kube._maybe(rbac.read_cluster_role_binding(name))


async def test_objects_outside_the_project_are_refused_before_any_write(
    clusters: list[ClusterHandle], tmp_path: Path
) -> None:
    async with world(clusters, tmp_path) as w:
        ns = w.namespace
        outside = f"payments-{uuid.uuid4().hex[:6]}"
        daemon = await w.daemon(bounded_config(w))
        await daemon.wait_converged(w.names, w.seed_sha)

        bad = await w.commit(
            "cluster-admin, kube-system and a namespace outside the project",
            {
                "base/configmap.yaml": config_map(
                    "web-config", ns, {"GREETING": "changed"}, **{"fleet.dev/sync-wave": "-1"}
                ),
                "base/extra.yaml": config_map("web-extra", ns, {"harmless": "yes"}),
                "base/crb.yaml": CLUSTER_ADMIN_BINDING,
                "base/system.yaml": config_map("web-sneaky", "kube-system", {"a": "b"}),
                "base/outside.yaml": config_map("web-outside", outside, {"a": "b"}),
                "base/kustomization.yaml": kustomization(
                    [*BASE, "extra.yaml", "crb.yaml", "system.yaml", "outside.yaml"]
                ),
            },
        )
        await daemon.push_webhook()
        for name in w.names:
            sync = await daemon.wait_sync(name, bad, result="Failed")
            message = sync["message"]
            assert "OutOfProject" in message, sync
            assert "ClusterRoleBinding.rbac.authorization.k8s.io web-takes-over" in message
            assert "kinds.deny rbac.authorization.k8s.io/*" in message
            assert "ConfigMap kube-system/web-sneaky" in message
            assert "namespace 'kube-system' is outside the namespaces of project 'web'" in message
            assert f"namespace '{outside}' is outside the namespaces" in message
            assert "base/crb.yaml" in message  # the file in Git
            results = (await daemon.detail(sync["id"]))["results"]
            assert {(r["kind"], r["name"]) for r in results} == {
                ("ClusterRoleBinding", "web-takes-over"),
                ("ConfigMap", "web-sneaky"),
                ("ConfigMap", "web-outside"),
            }, results
            assert all(r["action"] == "failed" for r in results), results

        # Nothing of the commit reached any cluster, the in-bounds changes included.
        for name in w.names:
            kube = w.kubes[name]
            assert await cluster_role_binding(kube, "web-takes-over") is None
            assert await kube.config_map("kube-system", "web-sneaky") is None
            assert await kube.config_map(outside, "web-outside") is None
            assert await kube.config_map(ns, "web-extra") is None
            live = await kube.config_map(ns, "web-config")
            assert live is not None
            assert live["data"]["GREETING"] == "hello from fleet"

        # Back inside the bounds, the app syncs again.
        fixed = await w.commit(
            "drop what the project does not allow",
            {
                "base/crb.yaml": None,
                "base/system.yaml": None,
                "base/outside.yaml": None,
                "base/kustomization.yaml": kustomization([*BASE, "extra.yaml"]),
            },
        )
        await daemon.push_webhook()
        await daemon.wait_converged(w.names, fixed)
        for name in w.names:
            assert await w.kubes[name].config_map(ns, "web-extra") is not None


async def test_a_source_outside_the_project_is_refused_on_reload(
    clusters: list[ClusterHandle], tmp_path: Path
) -> None:
    async with world(clusters, tmp_path) as w:
        ns = w.namespace
        head = await w.commit(
            "an app the project must not run",
            {"apps/intruder/cm.yaml": config_map("intruder", ns, {"from": "sandbox"})},
        )
        daemon = await w.daemon(bounded_config(w))
        await daemon.wait_converged(w.names, head)

        wider: JSON = bounded_config(w)
        wider["sources"].append({**wider["sources"][0], "name": "sandbox"})
        wider["apps"].append(
            {
                "name": "intruder",
                "source": "sandbox",
                "path": "apps/intruder",
                "namespace": ns,
                "project": "web",
                "syncPolicy": {"automated": True},
            }
        )
        events_before = await daemon.last_event_id()
        daemon.write_config(wider)
        daemon.send(signal.SIGHUP)
        rejected = await daemon.wait_event("config_rejected", after_id=events_before)
        text = f"{rejected['message']} {rejected.get('details')}"
        assert "source 'sandbox' is not allowed by project 'web' (sources: platform)" in text
        assert "fleet.yaml:" in text
        await anyio.sleep(3)  # what a taken config would have done by now
        assert {r["app"] for r in await daemon.status()} == {"web"}
        for name in w.names:
            assert await w.kubes[name].config_map(ns, "intruder") is None


async def test_a_hand_made_object_is_not_taken_over_unless_adopted(
    clusters: list[ClusterHandle], tmp_path: Path
) -> None:
    async with world(clusters, tmp_path) as w:
        ns = w.namespace
        daemon = await w.daemon(bounded_config(w))
        await daemon.wait_converged(w.names, w.seed_sha)
        from kubernetes_asyncio import client

        by_hand = client.V1ConfigMap(
            metadata=client.V1ObjectMeta(name="web-by-hand"), data={"owner": "a person"}
        )
        for name in w.names:
            await w.kubes[name].core.create_namespaced_config_map(ns, by_hand)

        claimed = await w.commit(
            "the hand-made ConfigMap, now in Git",
            {
                "base/by-hand.yaml": config_map("web-by-hand", ns, {"owner": "git"}),
                "base/kustomization.yaml": kustomization([*BASE, "by-hand.yaml"]),
            },
        )
        await daemon.push_webhook()
        for name in w.names:
            sync = await daemon.wait_sync(name, claimed, result="Failed")
            assert "AdoptionRefused: ConfigMap " + f"{ns}/web-by-hand" in sync["message"], sync
            assert "fleet did not create it" in sync["message"]
            live = await w.kubes[name].config_map(ns, "web-by-hand")
            assert live is not None
            assert live["data"] == {"owner": "a person"}
            assert "fleet.dev/tracking-id" not in (live["metadata"].get("annotations") or {})

        # Leaving Git again does not delete it: it never was the app's.
        dropped = await w.commit(
            "not ours after all",
            {"base/by-hand.yaml": None, "base/kustomization.yaml": kustomization(BASE)},
        )
        await daemon.push_webhook()
        await daemon.wait_converged(w.names, dropped)
        for name in w.names:
            assert await w.kubes[name].config_map(ns, "web-by-hand") is not None

        # An annotation in Git adopts it; from then on it is the app's, pruned when it goes.
        adopted = await w.commit(
            "adopt it",
            {
                "base/by-hand.yaml": config_map(
                    "web-by-hand", ns, {"owner": "git"}, **{"fleet.dev/adopt": "true"}
                ),
                "base/kustomization.yaml": kustomization([*BASE, "by-hand.yaml"]),
            },
        )
        await daemon.push_webhook()
        await daemon.wait_converged(w.names, adopted)
        for name in w.names:
            live = await w.kubes[name].config_map(ns, "web-by-hand")
            assert live is not None
            assert live["data"] == {"owner": "git"}
            assert live["metadata"]["annotations"]["fleet.dev/tracking-id"] == (
                f"web:/ConfigMap:{ns}/web-by-hand"
            )

        # A daemon that lost its database finds its objects by their tracking annotations:
        # nothing is refused as someone else's, and what leaves Git is still pruned.
        await daemon.stop()
        fresh = await w.daemon(bounded_config(w))
        await fresh.wait_converged(w.names, adopted)
        gone = await w.commit(
            "drop it", {"base/by-hand.yaml": None, "base/kustomization.yaml": kustomization(BASE)}
        )
        await fresh.push_webhook()
        await fresh.wait_converged(w.names, gone)

        async def pruned() -> bool:
            found = [await w.kubes[n].config_map(ns, "web-by-hand") for n in w.names]
            return all(obj is None for obj in found)

        await eventually(pruned, timeout=10, what="the adopted ConfigMap pruned everywhere")
        for name in w.names:
            rows = await fresh.history(cluster=name)
            assert all("AdoptionRefused" not in (r["message"] or "") for r in rows), rows
