"""A render never reaches the network and never reads outside the repository."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fleet.adapters.render import (
    HelmOptions,
    PathNotFoundError,
    Renderer,
    RenderRequest,
    UnsafeInputError,
)
from tests.adapters.render.conftest import write

pytestmark = pytest.mark.anyio

CM = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n"


class RecordingBackend:
    """A Kustomize backend that records builds: proves refusals happen before Kustomize."""

    name = "recording"

    def __init__(self) -> None:
        self.builds: list[Path] = []

    async def build(self, directory: Path) -> str:
        self.builds.append(directory)
        return ""


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository root with a secret file next to it (outside it)."""
    (tmp_path / "secret.yaml").write_text(CM.replace("name: x", "name: stolen"))
    root = tmp_path / "repo"
    write(root, "base/kustomization.yaml", "resources: [cm.yaml]\n")
    write(root, "base/cm.yaml", CM)
    return root


@pytest.mark.parametrize(
    "entry",
    [
        "github.com/example/platform//apps/web?ref=v1.0.0",
        "https://github.com/example/platform/apps/web",
        "https://raw.githubusercontent.com/example/platform/main/cm.yaml",
        "git@github.com:example/platform.git//apps/web",
        "ssh://git@git.example.com/platform.git",
        "git::https://git.example.com/platform.git",
        "../base?ref=main",
    ],
)
async def test_remote_kustomize_resources_are_refused_before_building(
    repo: Path, entry: str
) -> None:
    write(repo, "app/kustomization.yaml", f"resources:\n  - ../base\n  - {entry}\n")
    backend = RecordingBackend()
    with pytest.raises(UnsafeInputError, match="is remote") as caught:
        await Renderer(kustomize_backend=backend).render(RenderRequest(repo, "app"))
    assert (caught.value.path, caught.value.line) == ("app/kustomization.yaml", 3)
    assert backend.builds == []


@pytest.mark.parametrize(
    ("kustomization", "line"),
    [
        ("resources:\n  - ../../secret.yaml\n", 2),
        ("bases:\n  - ../..\n", 2),
        ("components:\n  - ../../../etc\n", 2),
        ("resources: [cm.yaml]\npatches:\n  - path: ../../secret.yaml\n", 3),
        ("resources: [cm.yaml]\npatchesStrategicMerge:\n  - ../../secret.yaml\n", 3),
        ("configMapGenerator:\n  - name: c\n    files:\n      - key=../../secret.yaml\n", 4),
        ("secretGenerator:\n  - name: s\n    envs: [../../secret.yaml]\n", 3),
        ("resources: [cm.yaml]\ntransformers:\n  - ../../secret.yaml\n", 3),
        ("resources: [cm.yaml]\nopenapi:\n  path: ../../schema.json\n", 3),
    ],
)
async def test_paths_leaving_the_repository_are_refused(
    repo: Path, kustomization: str, line: int
) -> None:
    write(repo, "app/kustomization.yaml", kustomization)
    write(repo, "app/cm.yaml", CM)
    backend = RecordingBackend()
    with pytest.raises(UnsafeInputError, match="leaves the repository") as caught:
        await Renderer(kustomize_backend=backend).render(RenderRequest(repo, "app"))
    assert (caught.value.path, caught.value.line) == ("app/kustomization.yaml", line)
    assert backend.builds == []


async def test_dotdot_paths_inside_the_repository_are_fine(repo: Path) -> None:
    write(repo, "apps/a/kustomization.yaml", "resources: [../../base]\n")
    backend = RecordingBackend()
    await Renderer(kustomize_backend=backend).render(RenderRequest(repo, "apps/a"))
    assert backend.builds == [repo / "apps/a"]


async def test_absolute_path_is_refused(repo: Path) -> None:
    write(repo, "app/kustomization.yaml", f"resources:\n  - {repo}/base\n")
    with pytest.raises(UnsafeInputError, match="absolute path"):
        await Renderer(kustomize_backend=RecordingBackend()).render(RenderRequest(repo, "app"))


async def test_helm_charts_in_kustomize_are_refused(repo: Path) -> None:
    write(
        repo,
        "app/kustomization.yaml",
        "resources: [cm.yaml]\nhelmCharts:\n  - name: redis\n    repo: https://charts.example.com\n",
    )
    write(repo, "app/cm.yaml", CM)
    with pytest.raises(UnsafeInputError, match="'helmCharts' is not supported") as caught:
        await Renderer(kustomize_backend=RecordingBackend()).render(RenderRequest(repo, "app"))
    assert caught.value.line == 3


async def test_symlinked_resource_escaping_the_repository_is_refused(repo: Path) -> None:
    write(repo, "app/kustomization.yaml", "resources:\n  - cm.yaml\n  - stolen.yaml\n")
    write(repo, "app/cm.yaml", CM)
    os.symlink(repo.parent / "secret.yaml", repo / "app/stolen.yaml")
    with pytest.raises(UnsafeInputError, match="symlink that resolves outside") as caught:
        await Renderer(kustomize_backend=RecordingBackend()).render(RenderRequest(repo, "app"))
    assert (caught.value.path, caught.value.line) == ("app/kustomization.yaml", 3)


async def test_symlinked_base_directory_escaping_is_refused(repo: Path, tmp_path: Path) -> None:
    write(tmp_path, "elsewhere/kustomization.yaml", "resources: [cm.yaml]\n")
    write(tmp_path, "elsewhere/cm.yaml", CM)
    os.symlink(tmp_path / "elsewhere", repo / "linked")
    write(repo, "app/kustomization.yaml", "resources: [../linked]\n")
    with pytest.raises(UnsafeInputError, match="symlink"):
        await Renderer(kustomize_backend=RecordingBackend()).render(RenderRequest(repo, "app"))


async def test_symlinks_inside_the_repository_are_followed(repo: Path) -> None:
    write(repo, "other/y.yaml", CM.replace("name: x", "name: y"))
    (repo / "plain").mkdir()
    os.symlink("../base/cm.yaml", repo / "plain/alias.yml")
    os.symlink("../other", repo / "plain/more")
    os.symlink(".", repo / "plain/loop")  # a cycle must end
    result = await Renderer().render(RenderRequest(repo, "plain", renderer="plain"))
    assert [(m.ref.name, m.origin.path) for m in result.manifests] == [
        ("x", "plain/alias.yml"),
        ("y", "plain/more/y.yaml"),
    ]


async def test_plain_symlink_escaping_is_refused(repo: Path) -> None:
    write(repo, "plain/ok.yaml", CM)
    os.symlink(repo.parent / "secret.yaml", repo / "plain/stolen.yaml")
    with pytest.raises(UnsafeInputError, match="resolves outside the repository") as caught:
        await Renderer().render(RenderRequest(repo, "plain"))
    assert caught.value.path == "plain/stolen.yaml"


async def test_app_path_that_is_a_symlink_out_is_refused(repo: Path, tmp_path: Path) -> None:
    write(tmp_path, "outside/cm.yaml", CM)
    os.symlink(tmp_path / "outside", repo / "app")
    with pytest.raises(UnsafeInputError, match="outside the repository"):
        await Renderer().render(RenderRequest(repo, "app"))


@pytest.mark.parametrize("path", ["../repo", "/etc", "app/../../x"])
async def test_app_path_leaving_the_repository_is_refused(repo: Path, path: str) -> None:
    with pytest.raises(UnsafeInputError, match="not inside the repository"):
        await Renderer().render(RenderRequest(repo, path))


async def test_missing_app_path(repo: Path) -> None:
    with pytest.raises(PathNotFoundError, match="does not exist") as caught:
        await Renderer().render(RenderRequest(repo, "apps/nope"))
    assert caught.value.path == "apps/nope"


def _chart(root: Path, chart_yaml: str) -> None:
    write(root, "chart/Chart.yaml", chart_yaml)
    write(root, "chart/templates/cm.yaml", CM)


async def test_helm_dependency_not_vendored_is_refused(repo: Path) -> None:
    _chart(
        repo,
        """
        apiVersion: v2
        name: app
        version: 1.0.0
        dependencies:
          - name: redis
            version: 18.0.0
            repository: https://charts.example.com
        """,
    )
    with pytest.raises(UnsafeInputError, match=r"'redis' .* never downloads charts") as caught:
        await Renderer().render(RenderRequest(repo, "chart"))
    assert (caught.value.path, caught.value.line) == ("chart/Chart.yaml", 5)


async def test_helm_files_get_outside_the_chart_is_refused(repo: Path) -> None:
    _chart(repo, "apiVersion: v2\nname: app\nversion: 1.0.0\n")
    write(
        repo,
        "chart/templates/leak.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: leak}\n"
        'data:\n  x: {{ .Files.Get "../../secret.yaml" | quote }}\n',
    )
    with pytest.raises(UnsafeInputError, match="leaves the chart") as caught:
        await Renderer().render(RenderRequest(repo, "chart"))
    assert (caught.value.path, caught.value.line) == ("chart/templates/leak.yaml", 5)


async def test_helm_chart_symlink_escaping_is_refused(repo: Path) -> None:
    _chart(repo, "apiVersion: v2\nname: app\nversion: 1.0.0\n")
    os.symlink(repo.parent / "secret.yaml", repo / "chart/templates/stolen.yaml")
    with pytest.raises(UnsafeInputError, match="resolves outside") as caught:
        await Renderer().render(RenderRequest(repo, "chart", helm=HelmOptions(release_name="app")))
    assert caught.value.path == "chart/templates/stolen.yaml"


async def test_unreferenced_link_out_of_a_kustomization_directory_is_no_error(
    repo: Path,
) -> None:
    os.symlink(repo.parent / "secret.yaml", repo / "base/unused-link.yaml")
    backend = RecordingBackend()
    await Renderer(kustomize_backend=backend).render(RenderRequest(repo, "base"))
    assert len(backend.builds) == 1
