"""HTTP(S) chart repositories: read ``index.yaml``, pick a version, download its archive.

The index lists each chart's versions with the archive's URLs (absolute, or relative to
the repository) and its SHA-256 ``digest``. Fleet reads the index on every poll (capped
at ``max_index_bytes``), lets the range pick the version (fleet.engine.semver), and
downloads the archive only when the store lacks that digest. Deprecated versions stay
selectable, as in Helm; an entry whose version is not semver is ignored.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import aiohttp
import anyio.to_thread
import yaml
from yarl import URL

from fleet.adapters.charts.specs import ChartError, ChartNotFound, ChartSpec, ResolvedChart
from fleet.adapters.charts.transport import (
    read_capped,
    repository_header,
    same_origin,
    unreachable,
)
from fleet.engine.semver import Constraint, ConstraintError


def pick(spec: ChartSpec, versions: list[str], where: str) -> str:
    """The version the spec's range picks from ``versions``; an error naming the field."""
    try:
        constraint = Constraint.parse(spec.version or "*")
    except ConstraintError as error:
        raise spec.error(ChartError, f"chart.version: {error}") from None
    chosen = constraint.best(versions)
    if chosen is None:
        shown = ", ".join(sorted(versions, reverse=True)[:8]) or "none"
        wanted = f"range {spec.version!r}" if spec.version else "a stable version"
        raise spec.error(
            ChartNotFound,
            f"chart.version: no version of {spec.chart} in {where} matches {wanted} "
            f"(versions there: {shown})",
        )
    return chosen


async def resolve(session: aiohttp.ClientSession, spec: ChartSpec) -> ResolvedChart:
    base = URL(spec.repository.rstrip("/") + "/")
    index_url = base.join(URL("index.yaml"))
    body = await _get(session, spec, index_url, spec.limits.max_index_bytes, "index.yaml")
    try:
        # Off the event loop: a public repository's index can be tens of megabytes.
        index = await anyio.to_thread.run_sync(_load_index, body)
    except yaml.YAMLError as error:
        raise spec.error(ChartError, f"index.yaml is not valid YAML: {error}") from None
    entries = index.get("entries") if isinstance(index, dict) else None
    if not isinstance(entries, dict):
        raise spec.error(ChartError, "index.yaml has no 'entries' mapping")
    listed = entries.get(spec.chart)
    if not isinstance(listed, list) or not listed:
        raise spec.error(ChartNotFound, f"chart.name: index.yaml lists no chart {spec.chart!r}")
    by_version: dict[str, dict[str, Any]] = {}
    for entry in listed:
        if isinstance(entry, dict) and isinstance(entry.get("version"), str):
            by_version.setdefault(entry["version"], entry)
    version = pick(spec, list(by_version), "index.yaml")
    entry = by_version[version]
    urls = entry.get("urls")
    if not isinstance(urls, list) or not urls or not isinstance(urls[0], str):
        raise spec.error(ChartError, f"index.yaml: {spec.chart} {version} has no urls")
    digest = entry.get("digest")
    return ResolvedChart(
        chart=spec.chart,
        version=version,
        digest=f"sha256:{digest.lower()}" if isinstance(digest, str) and digest else None,
        url=str(base.join(URL(urls[0]))),
        created=_created(entry.get("created")),
    )


async def download(session: aiohttp.ClientSession, spec: ChartSpec, chart: ResolvedChart) -> bytes:
    what = f"archive of {chart.chart} {chart.version}"
    return await _get(session, spec, URL(chart.url), spec.limits.max_archive_bytes, what)


async def _get(
    session: aiohttp.ClientSession, spec: ChartSpec, url: URL, cap: int, what: str
) -> bytes:
    headers: dict[str, str] = {}
    if same_origin(url, URL(spec.repository)):
        header = repository_header(spec)
        if header is not None:
            headers["Authorization"] = header
    try:
        async with session.get(url, headers=headers) as response:
            if response.status in (401, 403):
                raise spec.error(
                    ChartError,
                    f"{what}: the repository refused the credentials (HTTP {response.status})",
                )
            if response.status == 404:
                raise spec.error(ChartNotFound, f"{what}: not found at {url.with_query(None)}")
            if response.status >= 400:
                raise spec.error(ChartError, f"{what}: HTTP {response.status}")
            return await read_capped(response, cap, what, spec)
    except (aiohttp.ClientError, TimeoutError, OSError) as error:
        raise unreachable(spec, url, error) from None


def _load_index(body: bytes) -> Any:
    return yaml.load(body, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def _created(value: object) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    if isinstance(value, str):
        try:
            return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    return None
