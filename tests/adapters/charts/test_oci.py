"""Chart sources against a real OCI registry (CNCF distribution, Debian's docker-registry)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fleet.adapters.charts import (
    ChartAuth,
    ChartError,
    ChartFetcher,
    ChartLimits,
    ChartNotFound,
    ChartRejected,
    ChartSpec,
)
from tests.support.charts import Registry, package_chart, registry_missing, sha256

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(registry_missing() is not None, reason=registry_missing() or ""),
]


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    with Registry(tmp_path / "registry") as running:
        yield running


def spec(registry: Registry, version: str, **kwargs: object) -> ChartSpec:
    return ChartSpec(
        source="registry",
        repository=f"oci://{registry.host}/charts",
        chart="demo",
        version=version,
        plain_http=True,
        **kwargs,  # type: ignore[arg-type]
    )


async def test_a_range_is_resolved_against_the_tags_and_the_layer_is_verified(
    registry: Registry, tmp_path: Path
) -> None:
    for version in ("1.0.0", "1.2.0", "1.3.0-rc.1", "2.0.0", "1.2.1+build.7"):
        registry.push_chart("charts/demo", version, package_chart("demo", version))
    fetcher = ChartFetcher(tmp_path / "state")
    revision = await fetcher.fetch(spec(registry, "^1.0"))
    assert revision.version == "1.2.1+build.7"  # Helm's tag is 1.2.1_build.7
    assert revision.digest == f"sha256:{sha256(package_chart('demo', '1.2.1+build.7'))}"
    location = fetcher.location(revision)
    assert location is not None
    assert (location[0] / "demo" / "templates").is_dir()
    assert (await fetcher.fetch(spec(registry, ">=1.3.0-0 <2.0.0"))).version == "1.3.0-rc.1"


async def test_a_new_version_in_range_is_picked_at_the_next_fetch(
    registry: Registry, tmp_path: Path
) -> None:
    registry.push_chart("charts/demo", "1.0.0", package_chart("demo", "1.0.0"))
    fetcher = ChartFetcher(tmp_path / "state")
    assert (await fetcher.fetch(spec(registry, "~1.0"))).version == "1.0.0"
    registry.push_chart("charts/demo", "1.0.5", package_chart("demo", "1.0.5"))
    registry.push_chart("charts/demo", "1.1.0", package_chart("demo", "1.1.0"))  # out of range
    assert (await fetcher.fetch(spec(registry, "~1.0"))).version == "1.0.5"


async def test_missing_chart_version_or_range_is_a_clear_error(
    registry: Registry, tmp_path: Path
) -> None:
    fetcher = ChartFetcher(tmp_path / "state")
    with pytest.raises(ChartNotFound, match="not found"):
        await fetcher.fetch(spec(registry, "1.0.0"))
    registry.push_chart("charts/demo", "1.0.0", package_chart("demo", "1.0.0"))
    with pytest.raises(ChartNotFound, match=r"chart.version: no version of demo .* '>=5'"):
        await fetcher.fetch(spec(registry, ">=5"))


async def test_an_oversized_layer_is_refused_before_download(
    registry: Registry, tmp_path: Path
) -> None:
    registry.push_chart("charts/demo", "1.0.0", package_chart("demo", "1.0.0"))
    with pytest.raises(ChartRejected, match="more than 64 allowed"):
        await ChartFetcher(tmp_path).fetch(
            spec(registry, "1.0.0", limits=ChartLimits(max_archive_bytes=64))
        )


async def test_a_manifest_that_is_not_a_helm_chart_is_refused(
    registry: Registry, tmp_path: Path
) -> None:
    import json

    config = b"{}"
    registry._upload("charts/demo", config)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": f"sha256:{sha256(config)}",
                "size": 2,
            },
            "layers": [],
        }
    ).encode()
    registry._call(
        "PUT",
        "/v2/charts/demo/manifests/1.0.0",
        manifest,
        {"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
    )
    with pytest.raises(ChartRejected, match="not a Helm chart"):
        await ChartFetcher(tmp_path).fetch(spec(registry, "1.0.0"))


async def test_a_registry_with_htpasswd_auth_takes_credentials_from_files(tmp_path: Path) -> None:
    (tmp_path / "user").write_text("fleet\n")
    (tmp_path / "password").write_text("registry-pass\n")
    auth = ChartAuth(username_file=tmp_path / "user", password_file=tmp_path / "password")
    with Registry(tmp_path / "registry", credentials=("fleet", "registry-pass")) as registry:
        registry.push_chart("charts/demo", "1.0.0", package_chart("demo", "1.0.0"))
        revision = await ChartFetcher(tmp_path / "a").fetch(spec(registry, "1.0.0", auth=auth))
        assert revision.version == "1.0.0"
        with pytest.raises(ChartError, match="credentials") as caught:
            await ChartFetcher(tmp_path / "b").fetch(spec(registry, "1.0.0"))
        assert "registry-pass" not in str(caught.value)
