"""Helm charts of the seed layout: values per environment, CRDs, hooks, errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fleet.adapters.render import (
    HelmOptions,
    HelmTemplateError,
    InvalidYamlError,
    PathNotFoundError,
    Renderer,
    RenderRequest,
    UnsafeInputError,
)
from fleet.model.manifests import Origin
from tests.adapters.render.conftest import write

pytestmark = pytest.mark.anyio

CHART = "apps/api/chart"


def request(root: Path, **helm: Any) -> RenderRequest:
    options = HelmOptions(**{"release_name": "api", **helm})
    return RenderRequest(root, CHART, namespace="api", helm=options)


async def test_chart_renders_crds_first_then_templates_with_hooks(seed: Path) -> None:
    result = await Renderer().render(request(seed))
    assert result.renderer == "helm"
    assert [(str(m.ref), str(m.origin)) for m in result.manifests] == [
        ("CustomResourceDefinition.apiextensions.k8s.io widgets.example.com",
         f"{CHART}/crds/widgets.yaml:1"),
        ("Deployment.apps api/api-api", f"{CHART}/templates/deployment.yaml:1"),
        ("Service api/api-api", f"{CHART}/templates/deployment.yaml:14"),
        ("Job.batch api/api-api-migrate", f"{CHART}/templates/migrate-job.yaml:1"),
    ]  # fmt: skip
    hook = result.manifests[3]
    assert hook.annotations == {
        "helm.sh/hook": "pre-install",
        "helm.sh/hook-weight": "-5",
        "helm.sh/hook-delete-policy": "before-hook-creation",
    }
    assert all(m.origin.renderer == "helm" for m in result.manifests)
    assert all("NOTES" not in m.origin.path for m in result.manifests)
    assert result.inputs == (CHART,)


async def test_values_files_then_inline_values_merge_in_order(seed: Path) -> None:
    result = await Renderer().render(
        request(
            seed,
            values_files=["apps/api/values/dev.yaml", "apps/api/values/prod.yaml"],
            values={"image": {"repository": "mirror/api"}, "extra": True},
        )
    )
    deployment = next(m for m in result.manifests if m.ref.kind == "Deployment")
    assert deployment.body["spec"]["replicas"] == 4  # prod.yaml after dev.yaml
    container = deployment.body["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "mirror/api:1.1-dev"  # deep merge keeps dev's tag
    assert container["resources"] == {"limits": {"cpu": "2"}}
    assert "extra" in {m.ref.name for m in result.manifests}  # inline value switched it on
    assert result.inputs == (CHART, "apps/api/values/dev.yaml", "apps/api/values/prod.yaml")


@pytest.mark.parametrize(("env", "replicas"), [("dev", 1), ("prod", 4)])
async def test_values_per_environment(seed: Path, env: str, replicas: int) -> None:
    result = await Renderer().render(request(seed, values_files=[f"apps/api/values/{env}.yaml"]))
    deployment = next(m for m in result.manifests if m.ref.kind == "Deployment")
    assert deployment.body["spec"]["replicas"] == replicas


async def test_release_namespace_reaches_templates(seed: Path) -> None:
    result = await Renderer().render(
        RenderRequest(seed, CHART, namespace="team-a", helm=HelmOptions(release_name="x"))
    )
    service = next(m for m in result.manifests if m.ref.kind == "Service")
    assert service.body["metadata"]["namespace"] == "team-a"


async def test_template_error_names_template_and_line(seed: Path) -> None:
    write(seed, f"{CHART}/templates/broken.yaml", "a: 1\nb: {{ .Values.missing.deeper }}\n")
    with pytest.raises(HelmTemplateError, match="nil pointer") as caught:
        await Renderer().render(request(seed))
    assert (caught.value.path, caught.value.line) == (f"{CHART}/templates/broken.yaml", 2)


async def test_template_syntax_error_names_template(seed: Path) -> None:
    write(seed, f"{CHART}/templates/broken.yaml", "a: 1\n\nb: {{ if }}\n")
    with pytest.raises(HelmTemplateError) as caught:
        await Renderer().render(request(seed))
    assert caught.value.path == f"{CHART}/templates/broken.yaml"
    assert caught.value.line == 3


async def test_rendered_output_that_is_not_yaml_is_named(seed: Path) -> None:
    write(seed, f"{CHART}/templates/bad.yaml", "apiVersion: v1\nkind: ConfigMap\n  x: : y\n")
    with pytest.raises(HelmTemplateError, match="rendered output is not valid YAML") as caught:
        await Renderer().render(request(seed))
    assert caught.value.path == f"{CHART}/templates/bad.yaml"


async def test_schema_violation_is_a_helm_error(seed: Path) -> None:
    write(seed, f"{CHART}/values.schema.json", '{"properties": {"replicas": {"type": "integer"}}}')
    with pytest.raises(HelmTemplateError, match="replicas"):
        await Renderer().render(request(seed, values={"replicas": "many"}))


async def test_invalid_values_file_names_file_and_line(seed: Path) -> None:
    write(seed, "apps/api/values/bad.yaml", "replicas: 2\nimage: [unclosed\n")
    with pytest.raises(InvalidYamlError) as caught:
        await Renderer().render(request(seed, values_files=["apps/api/values/bad.yaml"]))
    assert caught.value.path == "apps/api/values/bad.yaml"
    assert caught.value.line == 3


async def test_missing_values_file(seed: Path) -> None:
    with pytest.raises(PathNotFoundError, match=r"'apps/api/values/qa\.yaml' does not exist"):
        await Renderer().render(request(seed, values_files=["apps/api/values/qa.yaml"]))


async def test_values_file_outside_repository_is_refused(seed: Path) -> None:
    with pytest.raises(UnsafeInputError, match="leaves the repository"):
        await Renderer().render(request(seed, values_files=["../secrets.yaml"]))


async def test_invalid_release_name(seed: Path) -> None:
    with pytest.raises(HelmTemplateError, match="release name"):
        await Renderer().render(request(seed, release_name="Not_Valid"))


async def test_vendored_subchart_renders_with_its_origin(seed: Path) -> None:
    write(
        seed,
        f"{CHART}/Chart.yaml",
        "apiVersion: v2\nname: api\nversion: 0.1.0\n"
        "dependencies:\n  - name: cache\n    version: 1.0.0\n",
    )
    write(seed, f"{CHART}/charts/cache/Chart.yaml", "apiVersion: v2\nname: cache\nversion: 1.0.0\n")
    write(
        seed,
        f"{CHART}/charts/cache/templates/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cache}\n",
    )
    result = await Renderer().render(request(seed))
    cache = next(m for m in result.manifests if m.ref.name == "cache")
    assert cache.origin == Origin(f"{CHART}/charts/cache/templates/cm.yaml", 1, "helm")
