"""The whole pipeline: renderer detection, default namespaces, duplicates, missing tools."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from fleet.adapters.render import (
    DuplicateObjectError,
    Renderer,
    RendererUnavailableError,
    RenderRequest,
    default_namespaces,
    find_backend,
    render,
)
from fleet.adapters.render.isolation import RenderPool
from fleet.adapters.render.objects import checked_manifest
from fleet.model.manifests import Origin
from fleet.model.refs import ObjectRef
from tests.adapters.render.conftest import write

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("path", "renderer"),
    [
        ("apps/web/overlays/dev", "kustomize"),
        ("apps/api/chart", "helm"),
        ("apps/plain/config", "plain"),
    ],
)
async def test_auto_detects_the_renderer(seed: Path, path: str, renderer: str) -> None:
    result = await Renderer().render(RenderRequest(seed, path))
    assert result.renderer == renderer
    assert result.manifests


@pytest.mark.parametrize("name", ["kustomization.yml", "Kustomization"])
async def test_every_kustomization_file_name_means_kustomize(tmp_path: Path, name: str) -> None:
    write(tmp_path, f"app/{name}", "resources: [cm.yaml]\n")
    write(tmp_path, "app/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
    result = await Renderer().render(RenderRequest(tmp_path, "app"))
    assert result.renderer == "kustomize"


async def test_module_level_render_shares_one_cache(seed: Path) -> None:
    request = RenderRequest(seed, "apps/plain/config", content_key="test-module-level")
    await render(request)
    assert (await render(request)).cache_hit


async def test_default_namespace_goes_to_namespaced_objects_only(tmp_path: Path) -> None:
    write(
        tmp_path,
        "app/objects.yaml",
        """
        apiVersion: apiextensions.k8s.io/v1
        kind: CustomResourceDefinition
        metadata: {name: gadgets.example.com}
        spec:
          group: example.com
          scope: Cluster
          names: {kind: Gadget, plural: gadgets}
        ---
        apiVersion: example.com/v1
        kind: Gadget
        metadata: {name: global}
        ---
        apiVersion: other.io/v1
        kind: Mystery
        metadata: {name: m}
        ---
        apiVersion: rbac.authorization.k8s.io/v1
        kind: ClusterRole
        metadata: {name: reader, namespace: ignored}
        ---
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: mine}
        ---
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: theirs, namespace: elsewhere}
        """,
    )
    result = await Renderer().render(RenderRequest(tmp_path, "app", namespace="team"))
    namespaces = {m.ref.name: m.ref.namespace for m in result.manifests}
    assert namespaces == {
        "gadgets.example.com": "",
        "global": "",
        "m": "",
        "reader": "",
        "mine": "team",
        "theirs": "elsewhere",
    }
    role = next(m for m in result.manifests if m.ref.kind == "ClusterRole")
    assert "namespace" not in role.body["metadata"]
    mine = next(m for m in result.manifests if m.ref.name == "mine")
    assert mine.body["metadata"]["namespace"] == "team"
    assert result.unscoped == (ObjectRef("other.io", "Mystery", "", "m"),)


async def test_without_a_namespace_objects_keep_what_they_say(tmp_path: Path) -> None:
    write(tmp_path, "app/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
    result = await Renderer().render(RenderRequest(tmp_path, "app"))
    assert result.manifests[0].ref.namespace == ""
    assert "namespace" not in result.manifests[0].body["metadata"]


def test_discovery_scopes_settle_unknown_kinds() -> None:
    body = {"apiVersion": "other.io/v1", "kind": "Mystery", "metadata": {"name": "m"}}
    manifest = checked_manifest(body, Origin("a.yaml"))
    settled = default_namespaces([manifest], "team", {("other.io", "Mystery"): True})
    assert settled.manifests[0].ref.namespace == "team"
    assert settled.unscoped == ()


async def test_duplicate_objects_name_both_origins(tmp_path: Path) -> None:
    write(tmp_path, "app/a.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
    write(
        tmp_path,
        "app/b.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata: {name: x}\n---\n"
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x, namespace: team}\n",
    )
    with pytest.raises(DuplicateObjectError) as caught:
        await Renderer().render(RenderRequest(tmp_path, "app", namespace="team"))
    assert str(caught.value) == (
        "app/b.yaml:5: ConfigMap team/x is defined twice: here and at app/a.yaml:1"
    )


async def test_same_name_in_different_namespaces_or_groups_is_no_duplicate(
    tmp_path: Path,
) -> None:
    write(
        tmp_path,
        "app/objects.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x, namespace: a}\n---\n"
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x, namespace: b}\n---\n"
        "apiVersion: example.com/v1\nkind: ConfigMap\nmetadata: {name: x, namespace: a}\n",
    )
    result = await Renderer().render(RenderRequest(tmp_path, "app"))
    assert len(result.manifests) == 3


async def test_no_kustomize_anywhere_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pykustomize", None)  # import fails
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    with pytest.raises(RendererUnavailableError, match=r"pip install .*pykustomize.*kubectl"):
        find_backend()
    write(tmp_path, "app/kustomization.yaml", "resources: []\n")
    # Render processes look for Kustomize themselves: give fresh ones the same poor host.
    write(tmp_path, "shadow/pykustomize.py", "raise ImportError('not installed')\n")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path / "shadow"))
    pool = RenderPool(1)
    try:
        with pytest.raises(RendererUnavailableError, match="no Kustomize found"):
            await Renderer(pool=pool).render(RenderRequest(tmp_path, "app"))
    finally:
        pool.close()


async def test_root_that_does_not_exist(tmp_path: Path) -> None:
    with pytest.raises(Exception, match="is not a directory"):
        await Renderer().render(RenderRequest(tmp_path / "gone", "app"))
