"""Kustomize overlays of the seed layout, with every backend installed here."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleet.adapters.render import (
    KustomizeBuildError,
    PathNotFoundError,
    Renderer,
    RenderRequest,
    find_backend,
)
from fleet.model.manifests import Origin
from tests.adapters.render.conftest import ENVIRONMENTS, KUSTOMIZE_BACKENDS, backend_or_skip, write

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("backend", KUSTOMIZE_BACKENDS)
@pytest.mark.parametrize("env", sorted(ENVIRONMENTS))
async def test_overlays_differ_in_replicas_and_limits(seed: Path, backend: str, env: str) -> None:
    renderer = backend_or_skip(backend)
    result = await renderer.render(RenderRequest(seed, f"apps/web/overlays/{env}", namespace="web"))
    assert result.renderer == "kustomize"
    by_kind = {m.ref.kind: m for m in result.manifests}
    assert set(by_kind) == {"ConfigMap", "Service", "Deployment"}
    deployment = by_kind["Deployment"]
    replicas, cpu = ENVIRONMENTS[env]
    assert deployment.ref.name == f"{env}-web"
    assert deployment.ref.namespace == "web"
    assert deployment.body["spec"]["replicas"] == replicas
    container = deployment.body["spec"]["template"]["spec"]["containers"][0]
    assert container["resources"]["limits"] == {"cpu": cpu, "memory": "64Mi"}
    assert deployment.origin == Origin("apps/web/base/deployment.yaml", 1, "kustomize")
    assert by_kind["Service"].origin == Origin("apps/web/base/service.yaml", 1, "kustomize")
    generated = by_kind["ConfigMap"]
    assert generated.ref.name.startswith(f"{env}-settings-")
    assert generated.origin.path == f"apps/web/overlays/{env}/kustomization.yaml"
    assert generated.origin.line == 16  # the configMapGenerator entry
    assert result.inputs == (f"apps/web/overlays/{env}", "apps/web/base")


async def test_backends_produce_identical_objects(seed: Path) -> None:
    available = [name for name in ("pykustomize", "kubectl", "kustomize") if _available(name)]
    if len(available) < 2:
        pytest.skip(f"only {available} installed; need two Kustomize backends to compare")
    results = {}
    for name in available:
        result = await Renderer(kustomize_backend=name).render(  # type: ignore[arg-type]
            RenderRequest(seed, "apps/web/overlays/prod", namespace="web")
        )
        results[name] = [(m.ref, dict(m.body), m.origin) for m in result.manifests]
    first = results[available[0]]
    assert all(found == first for found in results.values())


def _available(name: str) -> bool:
    try:
        find_backend(name)  # type: ignore[arg-type]
    except Exception:
        return False
    return True


@pytest.mark.parametrize("backend", KUSTOMIZE_BACKENDS)
async def test_kustomize_error_names_the_overlay(tmp_path: Path, backend: str) -> None:
    renderer = backend_or_skip(backend)
    write(
        tmp_path, "app/kustomization.yaml", "resources: [cm.yaml]\nnamePrefix: [not, a, string]\n"
    )
    write(tmp_path, "app/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
    with pytest.raises(KustomizeBuildError) as caught:
        await renderer.render(RenderRequest(tmp_path, "app"))
    assert caught.value.path == "app/kustomization.yaml"
    assert str(tmp_path) not in str(caught.value)


async def test_each_object_is_traced_to_its_document(tmp_path: Path) -> None:
    renderer = backend_or_skip("pykustomize")
    write(tmp_path, "app/kustomization.yaml", "resources: [a.yaml, b.yaml]\nnameSuffix: -v2\n")
    write(tmp_path, "app/a.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web}\n")
    write(
        tmp_path,
        "app/b.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: other}\n---\n"
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web-extra}\n",
    )
    result = await renderer.render(RenderRequest(tmp_path, "app", namespace="ns"))
    origins = {m.ref.name: str(m.origin) for m in result.manifests}
    assert origins == {
        "web-v2": "app/a.yaml:1",
        "other-v2": "app/b.yaml:1",
        "web-extra-v2": "app/b.yaml:5",
    }


async def test_explicit_kustomize_without_kustomization_file(tmp_path: Path) -> None:
    write(tmp_path, "app/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
    with pytest.raises(PathNotFoundError, match="no kustomization file") as caught:
        await Renderer().render(RenderRequest(tmp_path, "app", renderer="kustomize"))
    assert caught.value.path == "app"


async def test_directory_resource_without_kustomization_is_named(tmp_path: Path) -> None:
    write(tmp_path, "app/kustomization.yaml", "resources:\n  - ../lib\n")
    write(tmp_path, "lib/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
    with pytest.raises(PathNotFoundError, match="no kustomization file") as caught:
        await Renderer().render(RenderRequest(tmp_path, "app"))
    assert caught.value.path == "lib"


async def test_missing_resource_names_kustomization_and_line(tmp_path: Path) -> None:
    write(tmp_path, "app/kustomization.yaml", "resources:\n  - cm.yaml\n  - gone.yaml\n")
    write(tmp_path, "app/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
    with pytest.raises(PathNotFoundError, match=r"'gone\.yaml' does not exist") as caught:
        await Renderer().render(RenderRequest(tmp_path, "app"))
    assert (caught.value.path, caught.value.line) == ("app/kustomization.yaml", 3)


async def test_invalid_kustomization_yaml_has_its_line(tmp_path: Path) -> None:
    write(tmp_path, "app/kustomization.yaml", "resources:\n  - cm.yaml\nnamePrefix: : x\n")
    with pytest.raises(Exception, match=r"app/kustomization.yaml:3: invalid YAML"):
        await Renderer().render(RenderRequest(tmp_path, "app"))


async def test_component_and_generator_files_are_inputs(tmp_path: Path) -> None:
    renderer = backend_or_skip("pykustomize")
    write(
        tmp_path,
        "app/kustomization.yaml",
        """
        resources: [cm.yaml]
        components: [../shared/component]
        configMapGenerator:
          - name: files
            files: [conf=settings.conf]
        """,
    )
    write(tmp_path, "app/settings.conf", "a=1\n")
    write(tmp_path, "app/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
    write(
        tmp_path,
        "shared/component/kustomization.yaml",
        """
        apiVersion: kustomize.config.k8s.io/v1alpha1
        kind: Component
        labels:
          - pairs: {team: platform}
        """,
    )
    result = await renderer.render(RenderRequest(tmp_path, "app"))
    assert result.inputs == ("app", "shared/component")
    assert all(m.labels.get("team") == "platform" for m in result.manifests)
    files = next(m for m in result.manifests if m.ref.name.startswith("files-"))
    assert files.body["data"] == {"conf": "a=1\n"}
