"""Helm charts from a registry and a chart repository, end to end through the daemon.

A real OCI registry (docker-registry) and a real HTTP chart repository run on loopback;
the test pushes packaged charts to them. A chart app follows a version range: a new
version in range rolls out in the app's waves like a commit, one out of range is
ignored, and an unreachable repository changes nothing (nothing pruned) while another
app keeps syncing. Values from a Git source pair the chart with a commit, and a Git
``tag`` range follows the highest matching tag. Runs on simulated clusters or on the
real ones given by FLEET_TEST_KUBECONFIG/FLEET_TEST_CONTEXTS.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from tests.e2e.conftest import ClusterHandle
from tests.e2e.daemon_support import JSON, FleetDaemon, World, eventually, world
from tests.support.charts import (
    ChartRepository,
    Registry,
    package_chart,
    registry_missing,
    sha256,
)

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]


@pytest.fixture
def cluster_count() -> int:
    return 2


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    missing = registry_missing()
    if missing is not None:
        pytest.skip(missing)
    with Registry(tmp_path / "registry") as running:
        yield running


def chart_id(version: str) -> str:
    return f"demo@{version}@sha256:{sha256(package_chart('demo', version))}"


def chart_namespace(w: World) -> str:
    """The chart app's own namespace (the Git app owns ``w.namespace``), removed after."""
    namespace = f"{w.namespace}-charts"
    for kube in w.kubes.values():
        if kube.handle.sim is None:
            w.stack.push_async_callback(kube.delete_namespace, namespace)
    return namespace


def chart_app(w: World, source: str, **extra: Any) -> JSON:
    app: JSON = {
        "name": "demo",
        "source": source,
        "path": ".",
        "namespace": chart_namespace(w),
        "syncPolicy": {"automated": True, "prune": True, "createNamespace": True},
        "helm": {"values": {"color": "green"}},
    }
    app.update(extra)
    return app


async def settings_of(w: World, cluster: str) -> dict[str, str]:
    found = await w.kubes[cluster].config_map(f"{w.namespace}-charts", "demo-settings")
    assert found is not None, f"demo-settings missing on {cluster}"
    return dict(found["data"])


async def rollout_state(daemon: FleetDaemon) -> JSON:
    answer = await daemon.request("GET", "/api/v1/apps/demo/rollout", headers=daemon.auth())
    result: JSON = answer.body
    return result


async def promote_until_complete(daemon: FleetDaemon) -> None:
    async def complete() -> bool:
        state = await rollout_state(daemon)
        if state["status"] == "Complete":
            return True
        if state["status"] == "Soaking":
            await daemon.request(
                "POST", "/api/v1/apps/demo/rollout/promote", headers=daemon.auth(), expect=None
            )
        return False

    await eventually(complete, timeout=60, what="the demo rollout complete", interval=0.2)


async def test_a_chart_version_in_range_rolls_out_in_waves_and_one_outside_is_ignored(
    clusters: list[ClusterHandle], tmp_path: Path, registry: Registry
) -> None:
    registry.push_chart("charts/demo", "1.0.0", package_chart("demo", "1.0.0"))
    async with world(clusters, tmp_path) as w:
        first, rest = w.names[:1], w.names[1:]
        waves = [{"name": "first", "selector": {"names": first}, "soak": "10m"}]
        if rest:
            waves.append({"name": "rest", "selector": {"names": rest}, "soak": "0s"})
        config = w.config()
        config["sources"].append(
            {
                "name": "charts",
                "interval": "1s",
                "chart": {
                    "repository": f"oci://{registry.host}/charts",
                    "name": "demo",
                    "version": ">=1.0.0 <2.0.0",
                    "plainHttp": True,
                },
            }
        )
        config["apps"] = [chart_app(w, "charts", rollout={"waves": waves})]
        daemon = await w.daemon(config)
        await promote_until_complete(daemon)
        v1 = chart_id("1.0.0")
        await daemon.wait_converged(w.names, v1, app="demo", timeout=60)
        for name in w.names:
            assert await settings_of(w, name) == {"chartVersion": "1.0.0", "color": "green"}

        # Out of range first, then in range: only 1.1.0 moves, and in waves.
        registry.push_chart("charts/demo", "2.0.0", package_chart("demo", "2.0.0"))
        registry.push_chart("charts/demo", "1.1.0", package_chart("demo", "1.1.0"))
        v2 = chart_id("1.1.0")
        await daemon.wait_converged(first, v2, app="demo", timeout=60)
        state = await rollout_state(daemon)
        assert state["revision"] == v2
        if rest:

            async def soaking() -> bool:
                return bool((await rollout_state(daemon))["status"] == "Soaking")

            await eventually(soaking, timeout=20, what="the first wave soaking")
            await anyio.sleep(1.5)
            for name in rest:
                assert (await settings_of(w, name))["chartVersion"] == "1.0.0", "waits for soak"
        await promote_until_complete(daemon)
        await daemon.wait_converged(w.names, v2, app="demo", timeout=60)
        for name in w.names:
            assert (await settings_of(w, name))["chartVersion"] == "1.1.0"
        history = await daemon.history(app="demo")
        assert {row["revision"] for row in history} == {v1, v2}, "2.0.0 is never synced"
        status = {row["cluster"]: row for row in await daemon.status() if row["app"] == "demo"}
        assert {row["target_ref"] for row in status.values()} == {"demo 1.1.0"}


async def test_an_unreachable_chart_repository_prunes_nothing_while_others_sync(
    clusters: list[ClusterHandle], tmp_path: Path
) -> None:
    async with world(clusters, tmp_path) as w:
        with ChartRepository() as served:
            served.add("demo", "1.0.0", package_chart("demo", "1.0.0"))
            config = w.config()
            config["sources"].append(
                {
                    "name": "charts",
                    "interval": "1s",
                    "chart": {"repository": served.url, "name": "demo", "version": "^1"},
                }
            )
            config["apps"].append(chart_app(w, "charts"))
            daemon = await w.daemon(config)
            await daemon.wait_converged(w.names, chart_id("1.0.0"), app="demo", timeout=60)
            await daemon.wait_converged(w.names, w.seed_sha, timeout=60)
            after = await daemon.last_event_id()
        # The repository is gone: the chart app keeps what it has, the Git app goes on.
        event = await daemon.wait_event("source_failed", after_id=after, timeout=20)
        assert "source 'charts'" in event["message"]
        assert "cannot reach" in event["message"]
        config_map = w.source.read("apps/web/base/configmap.yaml").replace(
            "hello from fleet", "hello while charts are down"
        )
        v2 = await w.commit("release 2", {"base/configmap.yaml": config_map})
        await daemon.wait_converged(w.names, v2, timeout=60)
        await anyio.sleep(1.5)
        for name in w.names:
            assert (await settings_of(w, name))["chartVersion"] == "1.0.0", "nothing pruned"
        demo_syncs = list(await daemon.history(app="demo"))
        assert all(row["revision"] == chart_id("1.0.0") for row in demo_syncs)


async def test_values_from_a_git_source_pair_the_chart_and_the_commit(
    clusters: list[ClusterHandle], tmp_path: Path
) -> None:
    async with world(clusters, tmp_path) as w:
        values = {f"values/{name}.yaml": f"color: color-of-{name}\n" for name in w.names}
        seeded = await w.source.commit("values per cluster", values)
        with ChartRepository() as served:
            served.add("demo", "1.0.0", package_chart("demo", "1.0.0"))
            config = w.config()
            config["sources"].append(
                {
                    "name": "charts",
                    "interval": "1s",
                    "chart": {"repository": served.url, "name": "demo"},
                }
            )
            config["apps"] = [
                chart_app(
                    w,
                    "charts",
                    helm={
                        "valuesFrom": [{"source": "platform", "path": "values/{cluster.name}.yaml"}]
                    },
                )
            ]
            daemon = await w.daemon(config)
            paired = f"{chart_id('1.0.0')}~platform@{seeded}"
            await daemon.wait_converged(w.names, paired, app="demo", timeout=60)
            for name in w.names:
                assert (await settings_of(w, name))["color"] == f"color-of-{name}"
            # A values commit is a new revision of the app, the chart unchanged.
            changed = {f"values/{name}.yaml": "color: teal\n" for name in w.names}
            second = await w.source.commit("teal everywhere", changed)
            await daemon.wait_converged(
                w.names, f"{chart_id('1.0.0')}~platform@{second}", app="demo", timeout=60
            )
            for name in w.names:
                assert (await settings_of(w, name))["color"] == "teal"
            status = [row for row in await daemon.status() if row["app"] == "demo"]
            assert all(
                row["target_ref"] == "demo 1.0.0 + platform refs/heads/main" for row in status
            )


async def test_a_git_tag_range_follows_the_highest_matching_tag(
    clusters: list[ClusterHandle], tmp_path: Path
) -> None:
    async with world(clusters, tmp_path) as w:

        async def tag(name: str) -> None:
            def run() -> None:
                w.source.work.tag(name)
                w.source.work.push()

            await anyio.to_thread.run_sync(run)

        await tag("v1.0.0")
        config = w.config()
        del config["sources"][0]["branch"]
        config["sources"][0]["tag"] = ">=1.0.0 <2.0.0"
        daemon = await w.daemon(config)
        await daemon.wait_converged(w.names, w.seed_sha, timeout=60)
        config_map = w.source.read("apps/web/base/configmap.yaml")
        v2 = await w.commit("release", {"base/configmap.yaml": config_map.replace("hello", "hi")})
        await tag("v2.0.0")  # out of range: ignored
        await anyio.sleep(2.5)
        assert not [row for row in await daemon.history() if row["revision"] == v2]
        await tag("v1.1.0")  # the same commit, now in range
        await daemon.wait_converged(w.names, v2, timeout=60)
        refs = {row["target_ref"] for row in await daemon.status() if row["app"] == "web"}
        assert refs == {"refs/tags/v1.1.0"}
