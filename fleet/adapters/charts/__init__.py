"""Helm charts from HTTP(S) chart repositories and OCI registries, verified and cached.

See docs/config.md (chart sources) and docs/render.md. The runtime maps a config source
with ``chart:`` onto a :class:`ChartSpec` and asks a :class:`ChartFetcher` for the
revision its range picks; the render then reads the unpacked chart from the store.
"""

from __future__ import annotations

from fleet.adapters.charts.archives import ChartStore, digest_of
from fleet.adapters.charts.fetcher import ChartFetcher
from fleet.adapters.charts.specs import (
    ChartAuth,
    ChartError,
    ChartLimits,
    ChartNotFound,
    ChartRejected,
    ChartRevision,
    ChartSpec,
    ChartUnreachable,
    parse_revision_id,
)

__all__ = [
    "ChartAuth",
    "ChartError",
    "ChartFetcher",
    "ChartLimits",
    "ChartNotFound",
    "ChartRejected",
    "ChartRevision",
    "ChartSpec",
    "ChartStore",
    "ChartUnreachable",
    "digest_of",
    "parse_revision_id",
]
