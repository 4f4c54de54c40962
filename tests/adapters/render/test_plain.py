"""Plain directories: which files and documents become objects, and where they came from."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleet.adapters.render import (
    InvalidManifestError,
    InvalidYamlError,
    Renderer,
    RenderRequest,
)
from fleet.model.manifests import Origin
from tests.adapters.render.conftest import write

pytestmark = pytest.mark.anyio


async def test_plain_directory_objects_in_path_order_with_origins(seed: Path) -> None:
    result = await Renderer().render(
        RenderRequest(root=seed, path="apps/plain", renderer="plain", namespace="tools")
    )
    found = [(str(m.ref), m.origin) for m in result.manifests]
    assert found == [
        ("ConfigMap tools/first", Origin("apps/plain/config/configmaps.yaml", 2, "plain")),
        ("ConfigMap tools/second", Origin("apps/plain/config/configmaps.yaml", 10, "plain")),
        ("ServiceAccount tools/robot", Origin("apps/plain/list.yml", 4, "plain")),
        ("Secret vault/token", Origin("apps/plain/list.yml", 7, "plain")),
        ("Namespace tools", Origin("apps/plain/namespace.yaml", 1, "plain")),
        (
            "ClusterRole.rbac.authorization.k8s.io reader",
            Origin("apps/plain/role.json", 1, "plain"),
        ),
    ]
    assert result.renderer == "plain"
    assert not result.cache_hit


async def test_dates_stay_strings_as_kubernetes_reads_them(seed: Path) -> None:
    result = await Renderer().render(RenderRequest(seed, "apps/plain/config"))
    assert result.renderer == "plain"
    assert result.manifests[0].body["data"] == {"since": "2024-01-01"}


async def test_values_files_readmes_hidden_and_kustomization_files_are_not_objects(
    seed: Path,
) -> None:
    result = await Renderer().render(RenderRequest(seed, "apps/plain", renderer="plain"))
    paths = {m.origin.path for m in result.manifests}
    assert "apps/plain/values.yaml" not in paths
    assert "apps/plain/kustomization.yaml" not in paths
    assert not any(".github" in path for path in paths)
    assert "Kustomization" not in {m.ref.kind for m in result.manifests}


async def test_kustomization_kind_document_inside_a_manifest_file_is_skipped(
    tmp_path: Path,
) -> None:
    write(
        tmp_path,
        "app/all.yaml",
        """
        apiVersion: kustomize.config.k8s.io/v1beta1
        kind: Kustomization
        resources: [x.yaml]
        ---
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: kept}
        """,
    )
    result = await Renderer().render(RenderRequest(tmp_path, "app"))
    assert [m.ref.name for m in result.manifests] == ["kept"]


async def test_empty_directory_renders_nothing(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = await Renderer().render(RenderRequest(tmp_path, "empty"))
    assert result.manifests == []


async def test_invalid_yaml_names_file_and_line(tmp_path: Path) -> None:
    write(
        tmp_path,
        "app/broken.yaml",
        """
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: x
        data:
          key: [unclosed
        """,
    )
    with pytest.raises(InvalidYamlError) as caught:
        await Renderer().render(RenderRequest(tmp_path, "app"))
    assert caught.value.path == "app/broken.yaml"
    assert caught.value.line == 7
    assert str(caught.value).startswith("app/broken.yaml:7: invalid YAML")


async def test_repeated_key_is_invalid_yaml(tmp_path: Path) -> None:
    write(
        tmp_path,
        "app/cm.yaml",
        """
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: x
          name: y
        """,
    )
    with pytest.raises(InvalidYamlError, match=r"'name' is repeated \(first on line 4\)") as caught:
        await Renderer().render(RenderRequest(tmp_path, "app"))
    assert caught.value.line == 5


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        ("kind: ConfigMap\nmetadata: {name: x}\n", "ConfigMap has no apiVersion"),
        ("apiVersion: v1\nkind: ConfigMap\n", "ConfigMap has no metadata"),
        ("apiVersion: v1\nkind: ConfigMap\nmetadata: {labels: {}}\n", "has no metadata.name"),
        ("apiVersion: v1\nmetadata: {name: x}\n", "document has no kind"),
        ("- just\n- a list\n", "found list"),
    ],
)
async def test_incomplete_manifest_names_file_and_line(
    tmp_path: Path, document: str, reason: str
) -> None:
    valid = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ok}\n"
    write(tmp_path, "app/objects.yaml", f"{valid}---\n{document}")
    with pytest.raises(InvalidManifestError, match=reason) as caught:
        await Renderer().render(RenderRequest(tmp_path, "app"))
    # Three lines of a valid object and a separator come first.
    assert (caught.value.path, caught.value.line) == ("app/objects.yaml", 5)


async def test_generate_name_is_accepted_on_hooks_only(tmp_path: Path) -> None:
    write(
        tmp_path,
        "app/hook.yaml",
        """
        apiVersion: batch/v1
        kind: Job
        metadata:
          generateName: smoke-
          annotations: {argocd.argoproj.io/hook: PostSync}
        """,
    )
    result = await Renderer().render(RenderRequest(tmp_path, "app"))
    assert result.manifests[0].body["metadata"]["generateName"] == "smoke-"
    write(
        tmp_path, "app2/job.yaml", "apiVersion: batch/v1\nkind: Job\nmetadata: {generateName: x-}\n"
    )
    with pytest.raises(InvalidManifestError, match="generateName is allowed on hooks only"):
        await Renderer().render(RenderRequest(tmp_path, "app2"))


async def test_file_that_is_not_utf8_is_named(tmp_path: Path) -> None:
    (tmp_path / "app").mkdir()
    (tmp_path / "app/latin1.yaml").write_bytes(b"kind: ConfigMap\nname: caf\xe9\n")
    with pytest.raises(InvalidYamlError, match="not UTF-8") as caught:
        await Renderer().render(RenderRequest(tmp_path, "app"))
    assert caught.value.path == "app/latin1.yaml"
