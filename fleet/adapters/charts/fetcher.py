"""A chart source's fetch: resolve the range, download if new, verify, store, answer a revision.

:meth:`ChartFetcher.fetch` is a chart source's poll: the version its range picks now
(an HTTP index or the OCI tags), as a :class:`ChartRevision`. The archive is downloaded
only when the store lacks its digest, verified against the digest the repository
promised, then unpacked (fleet.adapters.charts.archives). :meth:`resolve` brings back an
older revision by its id (a rollback, a restart resuming a sync): from the store when
it is there, else by pulling that exact version and insisting on the same digest.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import anyio.to_thread

from fleet.adapters.charts import oci, repository
from fleet.adapters.charts.archives import ChartStore
from fleet.adapters.charts.specs import (
    ChartError,
    ChartRejected,
    ChartRevision,
    ChartSpec,
    ResolvedChart,
    parse_revision_id,
    redact,
    revision_id,
)
from fleet.adapters.charts.transport import session_for


class ChartFetcher:
    """Fetches chart sources into ``<state>/charts``; one per daemon or command."""

    def __init__(self, state_dir: Path) -> None:
        self.store = ChartStore(state_dir / "charts")

    async def fetch(self, spec: ChartSpec) -> ChartRevision:
        """The chart version the source's range picks now, stored and verified."""
        async with session_for(spec) as session:
            if spec.is_oci:
                resolved, registry = await oci.resolve(session, spec)
                if resolved.digest is None or self.store.chart_dir(resolved.digest) is None:
                    data = await oci.download(registry, resolved)
                    digest = await self._add(spec, data, resolved.digest)
                else:
                    digest = resolved.digest
            else:
                resolved = await repository.resolve(session, spec)
                if resolved.digest is None or self.store.chart_dir(resolved.digest) is None:
                    data = await repository.download(session, spec, resolved)
                    digest = await self._add(spec, data, resolved.digest)
                else:
                    digest = resolved.digest
        return self._revision(spec, resolved, digest)

    async def resolve(self, spec: ChartSpec, rev_id: str) -> ChartRevision:
        """The revision ``rev_id`` (``chart@version@sha256:...``) names; an error if gone."""
        parsed = parse_revision_id(rev_id)
        if parsed is None or parsed[0] != spec.chart:
            raise spec.error(ChartError, f"{rev_id!r} is not a revision of chart {spec.chart}")
        chart, version, digest = parsed
        if self.store.chart_dir(digest) is None:
            exact = ChartSpec(
                spec.source, spec.repository, spec.chart, f"={version}", spec.auth,
                spec.plain_http, spec.limits,
            )  # fmt: skip
            fetched = await self.fetch(exact)
            if fetched.digest != digest:
                raise spec.error(
                    ChartRejected,
                    f"chart {chart} {version} now has digest {fetched.digest}, not {digest} "
                    "as when it was deployed; not used",
                )
        resolved = ResolvedChart(chart, version, digest, "")
        return self._revision(spec, resolved, digest)

    def location(self, revision: ChartRevision) -> tuple[Path, str] | None:
        """(store folder, chart folder name) of an unpacked revision, or None."""
        chart_dir = self.store.chart_dir(revision.digest)
        if chart_dir is None:
            return None
        return self.store.folder(revision.digest), chart_dir

    async def _add(self, spec: ChartSpec, data: bytes, expected: str | None) -> str:
        digest, _ = await anyio.to_thread.run_sync(self.store.add, spec, data, expected)
        return digest

    def _revision(self, spec: ChartSpec, resolved: ResolvedChart, digest: str) -> ChartRevision:
        where = redact(spec.repository)
        return ChartRevision(
            sha=revision_id(resolved.chart, resolved.version, digest),
            tree=digest,
            ref=f"{resolved.chart} {resolved.version}",
            message=f"chart {resolved.chart} {resolved.version} from {where} ({digest})",
            author="",
            committed_at=resolved.created or dt.datetime.fromtimestamp(0, dt.UTC),
            chart=resolved.chart,
            version=resolved.version,
            digest=digest,
        )
