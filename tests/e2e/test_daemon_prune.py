"""Pruning end to end: what leaves Git leaves every cluster, except what must stay.

Objects marked to keep (fleet's ``fleet.dev/prune: disabled`` and Argo CD's
``Prune=false``) survive their removal from Git; a render error or an empty render
deletes nothing at all.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.conftest import ClusterHandle
from tests.e2e.daemon_support import World, world

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]


@pytest.fixture
def cluster_count() -> int:
    return 3


def config_map(name: str, namespace: str, **annotations: str) -> str:
    lines = [
        "apiVersion: v1",
        "kind: ConfigMap",
        "metadata:",
        f"  name: {name}",
        f"  namespace: {namespace}",
    ]
    if annotations:
        lines.append("  annotations:")
        lines += [f"    {key}: {value!r}" for key, value in annotations.items()]
    lines += ["data:", f"  owner: {name}"]
    return "\n".join(lines) + "\n"


BASE = ["namespace.yaml", "configmap.yaml", "deployment.yaml", "service.yaml"]
HOOKS = ["migrate-job.yaml", "smoke-test-job.yaml"]
EXTRA = ["extra.yaml", "keep-fleet.yaml", "keep-argo.yaml"]


def kustomization(resources: list[str]) -> str:
    lines = ["apiVersion: kustomize.config.k8s.io/v1beta1", "kind: Kustomization", "resources:"]
    lines += [f"  - {r}" for r in resources]
    lines += [
        "labels:",
        "  - pairs:",
        "      app.kubernetes.io/name: web",
        "    includeSelectors: false",
    ]
    return "\n".join(lines) + "\n"


async def live_objects(w: World, cluster: str) -> dict[str, bool]:
    kube, ns = w.kubes[cluster], w.namespace
    return {
        "namespace": await kube.namespace(ns) is not None,
        "web-config": await kube.config_map(ns, "web-config") is not None,
        "deployment": await kube.deployment(ns, "web") is not None,
        "service": await kube.service(ns, "web") is not None,
        "web-extra": await kube.config_map(ns, "web-extra") is not None,
        "web-keep-fleet": await kube.config_map(ns, "web-keep-fleet") is not None,
        "web-keep-argo": await kube.config_map(ns, "web-keep-argo") is not None,
    }


async def test_prune_deletes_what_left_git_and_keeps_what_must_stay(
    clusters: list[ClusterHandle], tmp_path: Path
) -> None:
    async with world(clusters, tmp_path) as w:
        ns = w.namespace
        first = await w.commit(
            "extra config maps",
            {
                "base/extra.yaml": config_map("web-extra", ns),
                "base/keep-fleet.yaml": config_map(
                    "web-keep-fleet", ns, **{"fleet.dev/prune": "disabled"}
                ),
                "base/keep-argo.yaml": config_map(
                    "web-keep-argo", ns, **{"argocd.argoproj.io/sync-options": "Prune=false"}
                ),
                "base/kustomization.yaml": kustomization(BASE + HOOKS + EXTRA),
            },
        )
        daemon = await w.daemon()
        await daemon.wait_converged(w.names, first)
        for name in w.names:
            assert all((await live_objects(w, name)).values())

        removed = await w.commit(
            "drop the Service and the extra config maps",
            {
                "base/service.yaml": None,
                "base/extra.yaml": None,
                "base/keep-fleet.yaml": None,
                "base/keep-argo.yaml": None,
                "base/kustomization.yaml": kustomization(
                    [r for r in BASE if r != "service.yaml"] + HOOKS
                ),
            },
        )
        await daemon.wait_converged(w.names, removed)
        for name in w.names:
            live = await live_objects(w, name)
            assert live == {
                "namespace": True,
                "web-config": True,
                "deployment": True,
                "service": False,
                "web-extra": False,
                "web-keep-fleet": True,
                "web-keep-argo": True,
            }, name
            [sync] = [s for s in await daemon.history(cluster=name) if s["revision"] == removed]
            assert sync["result"] == "Succeeded", sync
            assert "web-keep-fleet" in sync["message"]
            assert "web-keep-argo" in sync["message"]
            results = (await daemon.detail(sync["id"]))["results"]
            pruned = {(r["kind"], r["name"]) for r in results if r["action"] == "pruned"}
            assert pruned == {("Service", "web"), ("ConfigMap", "web-extra")}, results

        # A render error: nothing is applied, nothing is pruned.
        before = {name: await live_objects(w, name) for name in w.names}
        broken = await w.commit(
            "an overlay that names a file that does not exist, and the Deployment gone",
            {
                **{
                    f"overlays/{env}/kustomization.yaml": _with_resource(
                        w.source.read(f"apps/web/overlays/{env}/kustomization.yaml"),
                        "missing.yaml",
                    )
                    for env in ("dev", "staging", "prod")
                },
                "base/deployment.yaml": None,
                "base/kustomization.yaml": kustomization(["namespace.yaml", "configmap.yaml"]),
            },
        )
        for name in w.names:
            sync = await daemon.wait_sync(name, broken, result="Failed")
            assert "missing.yaml" in sync["message"], sync
            assert "kustomization.yaml" in sync["message"], sync
            assert (await daemon.detail(sync["id"]))["results"] == []
        for name in w.names:
            assert await live_objects(w, name) == before[name], name

        # An empty render: refused, nothing pruned.
        empty = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: []\n"
        emptied = await w.commit(
            "every overlay renders nothing",
            {f"overlays/{env}/kustomization.yaml": empty for env in ("dev", "staging", "prod")},
        )
        for name in w.names:
            sync = await daemon.wait_sync(name, emptied, result="Failed")
            assert "empty" in sync["message"].lower(), sync
        for name in w.names:
            assert await live_objects(w, name) == before[name], name
            status = await daemon.status_of(name)
            assert status["revision"] == removed, status


def _with_resource(text: str, resource: str) -> str:
    return text.replace("resources:\n", f"resources:\n  - {resource}\n", 1)
