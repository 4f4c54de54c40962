"""Chart sources against a real HTTP chart repository on loopback (index.yaml + archives)."""

from __future__ import annotations

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
    ChartUnreachable,
)
from tests.support.charts import ChartRepository, package_chart, sha256
from tests.support.gitservers import free_port

pytestmark = pytest.mark.anyio


def spec(url: str, version: str = "", **kwargs: object) -> ChartSpec:
    return ChartSpec(source="charts", repository=url, chart="demo", version=version, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def repository() -> ChartRepository:
    with ChartRepository() as served:
        for version in ("1.0.0", "1.4.0", "1.5.2", "2.0.0", "1.6.0-rc.1"):
            served.add("demo", version, package_chart("demo", version))
        yield served  # type: ignore[misc]


async def test_a_range_picks_the_highest_stable_version_and_stores_it_by_digest(
    repository: ChartRepository, tmp_path: Path
) -> None:
    fetcher = ChartFetcher(tmp_path)
    revision = await fetcher.fetch(spec(repository.url, ">=1.4.0 <2.0.0"))
    archive = package_chart("demo", "1.5.2")
    assert revision.version == "1.5.2"
    assert revision.digest == f"sha256:{sha256(archive)}"
    assert revision.sha == f"demo@1.5.2@sha256:{sha256(archive)}"
    assert revision.short_sha == "demo@1.5.2"
    location = fetcher.location(revision)
    assert location is not None
    folder, chart_dir = location
    assert folder == tmp_path / "charts" / f"sha256-{sha256(archive)}"
    assert (folder / chart_dir / "Chart.yaml").read_text().count("version: 1.5.2") == 1


async def test_a_cached_digest_is_not_downloaded_again(
    repository: ChartRepository, tmp_path: Path
) -> None:
    fetcher = ChartFetcher(tmp_path)
    await fetcher.fetch(spec(repository.url, "~1.4"))
    await fetcher.fetch(spec(repository.url, "~1.4"))
    downloads = [path for path, _ in repository.requests if path.endswith(".tgz")]
    assert downloads == ["/charts/demo-1.4.0.tgz"]


async def test_prereleases_only_when_the_range_names_one(
    repository: ChartRepository, tmp_path: Path
) -> None:
    fetcher = ChartFetcher(tmp_path)
    assert (await fetcher.fetch(spec(repository.url, ""))).version == "2.0.0"
    assert (await fetcher.fetch(spec(repository.url, "^1.0"))).version == "1.5.2"
    assert (await fetcher.fetch(spec(repository.url, ">=1.6.0-0 <2.0.0"))).version == "1.6.0-rc.1"


async def test_a_range_matching_nothing_names_the_source_and_field(
    repository: ChartRepository, tmp_path: Path
) -> None:
    with pytest.raises(ChartNotFound) as caught:
        await ChartFetcher(tmp_path).fetch(spec(repository.url, ">=3.0.0"))
    message = str(caught.value)
    assert "source 'charts'" in message
    assert "chart.version" in message
    assert ">=3.0.0" in message
    assert "2.0.0" in message


async def test_an_unknown_chart_names_the_field(
    repository: ChartRepository, tmp_path: Path
) -> None:
    missing = ChartSpec(source="charts", repository=repository.url, chart="nope", version="")
    with pytest.raises(ChartNotFound, match=r"chart\.name: index\.yaml lists no chart 'nope'"):
        await ChartFetcher(tmp_path).fetch(missing)


async def test_a_digest_mismatch_is_refused_and_nothing_is_stored(
    repository: ChartRepository, tmp_path: Path
) -> None:
    repository.lies_about.add("demo-1.5.2")
    with pytest.raises(ChartRejected, match="digest") as caught:
        await ChartFetcher(tmp_path).fetch(spec(repository.url, "~1.5"))
    assert "index.yaml promised sha256:000" in str(caught.value)
    assert not any((tmp_path / "charts").glob("sha256-*"))


async def test_an_oversized_archive_is_refused(repository: ChartRepository, tmp_path: Path) -> None:
    small = ChartLimits(max_archive_bytes=100)
    with pytest.raises(ChartRejected, match="more than 100"):
        await ChartFetcher(tmp_path).fetch(spec(repository.url, "1.0.0", limits=small))


async def test_an_unreachable_repository_is_a_clear_error(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/charts"
    with pytest.raises(ChartUnreachable, match="cannot reach") as caught:
        await ChartFetcher(tmp_path).fetch(spec(url, "1.0.0"))
    assert "source 'charts'" in str(caught.value)


async def test_basic_credentials_come_from_files_and_stay_out_of_errors(tmp_path: Path) -> None:
    (tmp_path / "user").write_text("fleet\n")
    (tmp_path / "password").write_text("s3cret-value\n")
    auth = ChartAuth(username_file=tmp_path / "user", password_file=tmp_path / "password")
    with ChartRepository(credentials=("fleet", "s3cret-value")) as served:
        served.add("demo", "1.0.0", package_chart("demo", "1.0.0"))
        revision = await ChartFetcher(tmp_path).fetch(spec(served.url, "1.0.0", auth=auth))
        assert revision.version == "1.0.0"
        (tmp_path / "password").write_text("wrong\n")
        with pytest.raises(ChartError, match="refused the credentials") as caught:
            await ChartFetcher(tmp_path / "other").fetch(spec(served.url, "1.0.0", auth=auth))
        assert "wrong" not in str(caught.value)
        assert "s3cret" not in str(caught.value)
        without = ChartFetcher(tmp_path / "none").fetch(spec(served.url, "1.0.0"))
        with pytest.raises(ChartError, match="HTTP 401"):
            await without


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        ({"demo/../../escape.txt": b"x"}, "leaves the chart"),
        ({"/etc/evil": b"x"}, "leaves the chart"),
        ({"other/Chart.yaml": b"name: other"}, "one chart folder"),
    ],
)
async def test_hostile_archives_are_refused(
    extra: dict[str, bytes], reason: str, tmp_path: Path
) -> None:
    with ChartRepository() as served:
        served.add("demo", "1.0.0", package_chart("demo", "1.0.0", extra=extra))
        with pytest.raises(ChartRejected, match=reason):
            await ChartFetcher(tmp_path).fetch(spec(served.url, "1.0.0"))
    assert not (tmp_path / "escape.txt").exists()
    assert not any((tmp_path / "charts").glob("sha256-*"))


async def test_links_and_decompression_bombs_are_refused(tmp_path: Path) -> None:
    import gzip
    import io
    import tarfile

    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as archive:
        link = tarfile.TarInfo("demo/templates/passwd.yaml")
        link.type = tarfile.SYMTYPE
        link.linkname = "/etc/passwd"
        archive.addfile(link)
    linked = gzip.compress(raw.getvalue())
    zeros = {f"demo/zeros-{i}.bin": b"\0" * (512 << 10) for i in range(8)}
    bomb = package_chart("demo", "2.0.0", extra=zeros)
    with ChartRepository() as served:
        served.add("demo", "1.0.0", linked)
        served.add("demo", "2.0.0", bomb)
        with pytest.raises(ChartRejected, match="link or device"):
            await ChartFetcher(tmp_path).fetch(spec(served.url, "1.0.0"))
        small = ChartLimits(max_unpacked_bytes=1 << 20)
        assert len(bomb) < 64 << 10  # small on the wire, 4 MiB unpacked
        with pytest.raises(ChartRejected, match="unpacks to more than"):
            await ChartFetcher(tmp_path).fetch(spec(served.url, "2.0.0", limits=small))


async def test_an_older_revision_is_brought_back_by_its_id_with_the_same_digest(
    repository: ChartRepository, tmp_path: Path
) -> None:
    first = await ChartFetcher(tmp_path / "a").fetch(spec(repository.url, "1.4.0"))
    again = await ChartFetcher(tmp_path / "b").resolve(spec(repository.url, "^1"), first.sha)
    assert again.sha == first.sha
    assert again.version == "1.4.0"
    forged = first.sha.replace(first.digest[-4:], "0000")
    with pytest.raises(ChartRejected, match="now has digest"):
        await ChartFetcher(tmp_path / "c").resolve(spec(repository.url, "^1"), forged)


async def test_a_token_file_is_sent_as_a_bearer_token(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("repo-token-1\n")
    with ChartRepository(token="repo-token-1") as served:
        served.add("demo", "1.0.0", package_chart("demo", "1.0.0"))
        auth = ChartAuth(token_file=tmp_path / "token")
        revision = await ChartFetcher(tmp_path).fetch(spec(served.url, "1.0.0", auth=auth))
        assert revision.version == "1.0.0"
        assert {header for _, header in served.requests} == {"Bearer repo-token-1"}


async def test_a_ca_file_is_what_an_https_repository_is_trusted_by(tmp_path: Path) -> None:
    from tests.support.gitservers import self_signed_certificate

    certificate, key = self_signed_certificate(tmp_path / "tls")
    with ChartRepository(tls=(certificate, key)) as served:
        served.add("demo", "1.0.0", package_chart("demo", "1.0.0"))
        assert served.url.startswith("https://")
        with pytest.raises(ChartUnreachable, match="cannot reach"):
            await ChartFetcher(tmp_path / "a").fetch(spec(served.url, "1.0.0"))
        trusted = ChartAuth(ca_file=certificate)
        revision = await ChartFetcher(tmp_path / "b").fetch(spec(served.url, "1.0.0", auth=trusted))
        assert revision.version == "1.0.0"


async def test_the_store_keeps_wanted_digests_and_removes_the_rest(
    repository: ChartRepository, tmp_path: Path
) -> None:
    fetcher = ChartFetcher(tmp_path)
    old = await fetcher.fetch(spec(repository.url, "1.0.0"))
    new = await fetcher.fetch(spec(repository.url, "1.4.0"))
    unpacking = tmp_path / "charts" / ".unpack-in-progress"
    unpacking.mkdir()
    assert fetcher.store.prune(frozenset({new.digest})) == 1
    assert fetcher.location(old) is None
    assert fetcher.location(new) is not None
    assert unpacking.is_dir(), "a fresh unpack folder may belong to a fetch running now"
