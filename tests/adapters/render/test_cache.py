"""The render cache: keyed by inputs, bounded, and one render per key however many ask."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from fleet.adapters.render import (
    HelmOptions,
    KustomizeBuildError,
    PathNotFoundError,
    Renderer,
    RenderRequest,
    RenderResult,
)
from fleet.adapters.render.cache import SingleFlightCache
from tests.adapters.render.conftest import write

pytestmark = pytest.mark.anyio

OVERLAY = "apps/web/overlays/prod"
OUTPUT = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: prod-settings\n"


class CountingBackend:
    """A slow fake Kustomize that counts builds, so overlapping requests really overlap."""

    name = "counting"

    def __init__(self, delay: float = 0.05, fail: bool = False) -> None:
        self.builds = 0
        self.delay = delay
        self.fail = fail

    async def build(self, directory: Path) -> str:
        self.builds += 1
        await anyio.sleep(self.delay)
        if self.fail:
            raise KustomizeBuildError("boom")
        return OUTPUT


async def test_second_identical_render_is_a_hit(seed: Path) -> None:
    renderer = Renderer()
    request = RenderRequest(seed, OVERLAY, namespace="web")
    first = await renderer.render(request)
    second = await renderer.render(request)
    assert (first.cache_hit, second.cache_hit) == (False, True)
    assert second.manifests == first.manifests
    assert second.cache_key == first.cache_key
    assert renderer.cache.stats.hits == 1
    assert renderer.cache.stats.misses == 1


async def test_hundred_clusters_sharing_an_overlay_render_it_once(seed: Path) -> None:
    backend = CountingBackend()
    renderer = Renderer(kustomize_backend=backend)
    results: list[RenderResult] = []

    async def one_cluster() -> None:
        results.append(await renderer.render(RenderRequest(seed, OVERLAY, namespace="web")))

    async with anyio.create_task_group() as group:
        for _ in range(100):
            group.start_soon(one_cluster)
    assert backend.builds == 1
    assert sum(not result.cache_hit for result in results) == 1
    assert renderer.cache.stats.coalesced == 99
    assert len({result.cache_key for result in results}) == 1


async def test_cluster_values_are_part_of_the_key(seed: Path) -> None:
    backend = CountingBackend(delay=0)
    renderer = Renderer(kustomize_backend=backend)
    first = await renderer.render(RenderRequest(seed, OVERLAY, namespace="web"))
    other = await renderer.render(RenderRequest(seed, OVERLAY, namespace="web-canary"))
    assert not other.cache_hit
    assert backend.builds == 2
    assert first.manifests[0].ref.namespace == "web"
    assert other.manifests[0].ref.namespace == "web-canary"
    chart = "apps/api/chart"
    one = await renderer.render(RenderRequest(seed, chart, helm=HelmOptions(values={"a": 1})))
    two = await renderer.render(RenderRequest(seed, chart, helm=HelmOptions(values={"a": 2})))
    assert not two.cache_hit
    assert one.cache_key != two.cache_key


async def test_change_in_the_overlay_closure_misses_and_elsewhere_hits(seed: Path) -> None:
    backend = CountingBackend(delay=0)
    renderer = Renderer(kustomize_backend=backend)
    request = RenderRequest(seed, OVERLAY, namespace="web")
    await renderer.render(request)
    write(seed, "apps/web/overlays/dev/kustomization.yaml", "resources: [../../base]\n")
    write(seed, "README.md", "changed\n")
    assert (await renderer.render(request)).cache_hit
    base = seed / "apps/web/base/service.yaml"
    base.write_text(base.read_text().replace("port: 80", "port: 8080"))
    assert not (await renderer.render(request)).cache_hit
    (seed / "apps/web/base/new-file.txt").write_text("a new file counts too\n")
    assert not (await renderer.render(request)).cache_hit
    assert backend.builds == 3


async def test_root_content_key_skips_the_disk_on_a_hit(seed: Path) -> None:
    backend = CountingBackend(delay=0)
    renderer = Renderer(kustomize_backend=backend)
    await renderer.render(RenderRequest(seed, OVERLAY, "kustomize", content_key="tree-1"))
    # The caller vouches that the tree is unchanged: even a vanished path is served.
    (seed / "apps/web/overlays/prod/kustomization.yaml").unlink()
    hit = await renderer.render(RenderRequest(seed, OVERLAY, "kustomize", content_key="tree-1"))
    assert hit.cache_hit
    assert hit.renderer == "kustomize"
    with pytest.raises(PathNotFoundError, match="no kustomization file"):
        await renderer.render(RenderRequest(seed, OVERLAY, "kustomize", content_key="tree-2"))


async def test_content_addresser_is_asked_for_every_input(seed: Path) -> None:
    backend = CountingBackend(delay=0)
    renderer = Renderer(kustomize_backend=backend)
    trees = {OVERLAY: "t-overlay", "apps/web/base": "t-base-1"}
    asked: list[str] = []

    def tree_id(path: str) -> str:
        asked.append(path)
        return trees[path]

    request = RenderRequest(seed, OVERLAY, content_key=tree_id)
    await renderer.render(request)
    assert sorted(asked) == ["apps/web/base", OVERLAY]
    assert (await renderer.render(request)).cache_hit
    trees["apps/web/base"] = "t-base-2"
    assert not (await renderer.render(request)).cache_hit
    assert backend.builds == 2


async def test_plain_and_helm_hits_and_misses(seed: Path) -> None:
    renderer = Renderer()
    plain = RenderRequest(seed, "apps/plain", renderer="plain")
    chart = RenderRequest(
        seed, "apps/api/chart", helm=HelmOptions(values_files=["apps/api/values/prod.yaml"])
    )
    assert not (await renderer.render(plain)).cache_hit
    assert not (await renderer.render(chart)).cache_hit
    assert (await renderer.render(plain)).cache_hit
    assert (await renderer.render(chart)).cache_hit
    write(seed, "apps/api/values/prod.yaml", "replicas: 7\n")
    changed = await renderer.render(chart)
    assert not changed.cache_hit
    deployment = next(m for m in changed.manifests if m.ref.kind == "Deployment")
    assert deployment.body["spec"]["replicas"] == 7


async def test_failure_is_shared_with_waiters_but_not_remembered(seed: Path) -> None:
    backend = CountingBackend(fail=True)
    renderer = Renderer(kustomize_backend=backend)
    errors: list[KustomizeBuildError] = []

    async def attempt() -> None:
        try:
            await renderer.render(RenderRequest(seed, OVERLAY))
        except KustomizeBuildError as error:
            errors.append(error)

    async with anyio.create_task_group() as group:
        for _ in range(5):
            group.start_soon(attempt)
    assert backend.builds == 1
    assert len(errors) == 5
    assert all(error.path == f"{OVERLAY}/kustomization.yaml" for error in errors)
    backend.fail = False
    assert not (await renderer.render(RenderRequest(seed, OVERLAY))).cache_hit
    assert backend.builds == 2


async def test_waiter_takes_over_when_the_rendering_caller_is_cancelled() -> None:
    cache: SingleFlightCache[str] = SingleFlightCache()
    started = anyio.Event()
    calls = 0

    async def slow() -> str:
        nonlocal calls
        calls += 1
        started.set()
        await anyio.sleep(10 if calls == 1 else 0)
        return f"value-{calls}"

    leader_scope = anyio.CancelScope()
    waiter_result: list[tuple[str, bool]] = []

    async def leader() -> None:
        with leader_scope:
            await cache.get_or_compute("k", slow)

    async def waiter() -> None:
        waiter_result.append(await cache.get_or_compute("k", slow))

    async with anyio.create_task_group() as group:
        group.start_soon(leader)
        await started.wait()
        group.start_soon(waiter)
        await anyio.sleep(0.01)  # the waiter is now waiting on the leader's flight
        leader_scope.cancel()
    assert waiter_result == [("value-2", False)]


async def test_cache_is_bounded_least_recently_used_first() -> None:
    cache: SingleFlightCache[str] = SingleFlightCache(max_entries=2)

    async def value_of(key: str) -> str:
        async def compute() -> str:
            return key.upper()

        return (await cache.get_or_compute(key, compute))[0]

    for key in ("a", "b", "a", "c"):
        await value_of(key)
    assert len(cache) == 2
    assert cache.peek("b") is None  # least recently used went first
    assert cache.peek("a") == "A"
    assert cache.stats.evictions == 1


async def test_results_do_not_share_the_manifest_list(seed: Path) -> None:
    renderer = Renderer()
    request = RenderRequest(seed, "apps/plain", renderer="plain")
    first = await renderer.render(request)
    first.manifests.clear()
    assert (await renderer.render(request)).manifests


async def test_content_reached_through_a_symlink_is_part_of_the_key(tmp_path: Path) -> None:
    backend = CountingBackend(delay=0)
    renderer = Renderer(kustomize_backend=backend)
    write(tmp_path, "shared/cm.yaml", OUTPUT)
    write(tmp_path, "app/kustomization.yaml", "resources: [cm.yaml]\n")
    (tmp_path / "app/cm.yaml").symlink_to("../shared/cm.yaml")
    request = RenderRequest(tmp_path, "app")
    await renderer.render(request)
    write(tmp_path, "shared/cm.yaml", OUTPUT.replace("prod-settings", "renamed"))
    assert not (await renderer.render(request)).cache_hit
