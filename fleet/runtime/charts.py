"""Chart sources in the desired-state builder: config to adapter spec, render, upkeep.

A chart source (``sources[].chart``) is fetched by fleet.adapters.charts into
``<state>/charts/sha256-<hex>/<chart>/``; its revision id is ``chart@version@digest``,
so the rollout moves apps to a new chart version exactly as to a new commit. Rendering
an app of a chart source is a Helm render of the unpacked chart: ``helm.valuesFiles``
are files of the chart, ``helm.values`` (and per label, per cluster) come on top, and
the render cache is keyed by the archive's digest.

Bounds come from the render settings (the archive is a file a render reads:
``render.maxFileSize``; unpacked it is at most ``render.maxRenderedSize``) and the Git
timeouts. The upkeep removes unpacked charts no source wants any more (neither the latest
fetch nor the two latest renders of an app on a cluster).
"""

from __future__ import annotations

import posixpath
from typing import TYPE_CHECKING

from anyio import to_thread

from fleet.adapters.charts import (
    ChartAuth,
    ChartError,
    ChartLimits,
    ChartRevision,
    ChartSpec,
)
from fleet.adapters.git import Compaction, Pruned, Revision
from fleet.adapters.render import HelmOptions, RenderError, RenderRequest
from fleet.config import App, Cluster, Source, TemplateError
from fleet.runtime import values_from
from fleet.runtime.host_secrets import secret_stage
from fleet.runtime.prerender_secrets import render_with_secrets
from fleet.runtime.secret_decryption import SecretDecryptionError, lease_reader

if TYPE_CHECKING:
    from fleet.runtime.desired import DesiredState, DesiredStateBuilder, Upkeep


def chart_spec(source: Source, builder: DesiredStateBuilder) -> ChartSpec:
    """The chart adapter's view of a chart source, bounded by the render limits."""
    chart = source.chart
    assert chart is not None
    auth = source.auth
    limits = builder.renderer.limits
    timeouts = builder.timeouts
    return ChartSpec(
        source=source.name,
        repository=chart.repository,
        chart=chart.name,
        version=chart.version,
        auth=ChartAuth(
            username_file=auth.username_file,
            password_file=auth.password_file,
            token_file=auth.token_file,
            token_username=auth.token_username,
            ca_file=chart.ca_file,
        ),
        plain_http=chart.plain_http,
        limits=ChartLimits(
            max_archive_bytes=limits.max_file_bytes,
            max_unpacked_bytes=limits.max_rendered_bytes,
            connect_timeout=timeouts.connect if timeouts else 10.0,
            read_timeout=timeouts.transfer if timeouts else 60.0,
        ),
    )


async def render_chart(
    builder: DesiredStateBuilder, app: App, cluster: Cluster, source: Source, revision: Revision
) -> DesiredState:
    """The app's objects for ``cluster`` from the chart version ``revision`` names."""
    from fleet.runtime.desired import DesiredState, DesiredStateError

    def failure(message: str, file: str | None = None) -> DesiredStateError:
        return DesiredStateError(app.name, cluster.name, source.name, message, revision.sha, file)

    spec = chart_spec(source, builder)
    own, _ = values_from.split(revision)
    try:
        chart = own
        if not isinstance(chart, ChartRevision):
            chart = await builder.charts.resolve(spec, revision.sha)
        location = builder.charts.location(chart)
        if location is None:  # pruned meanwhile: pull that exact version again
            chart = await builder.charts.resolve(spec, chart.sha)
            location = builder.charts.location(chart)
    except ChartError as exc:
        raise failure(exc.detail) from None
    if location is None:
        raise failure(f"chart {chart.short_sha} is not in the chart store")
    root, chart_dir = location
    try:
        if app.path_for(cluster) not in (".", ""):
            raise TemplateError(
                f"path: a chart source's app renders the whole chart; write path: . "
                f"(not {app.path!r})"
            )
        helm = app.helm_for(cluster)
        values_files = [posixpath.join(chart_dir, rel) for rel in helm.values_files]
        values = await values_from.merged_values(builder, app, cluster, revision, helm.values)
    except TemplateError as exc:
        raise failure(str(exc)) from None
    except values_from.ValuesFromError as exc:
        raise failure(str(exc), exc.file) from None
    builder.chart_rendered(app, cluster, chart)
    request = RenderRequest(
        root=root,
        path=chart_dir,
        renderer="helm",
        namespace=app.namespace,
        helm=HelmOptions(values_files=values_files, values=values, release_name=helm.release_name),
        content_key=chart.digest,
    )
    try:
        result = await render_with_secrets(builder.renderer, request, app, cluster)
        manifests = secret_stage(
            result.manifests,
            app,
            cluster,
            read_source=lease_reader(root),
            state_dir=builder.state_dir,
        )
    except RenderError as exc:
        raise failure(str(exc), exc.path) from None
    except SecretDecryptionError as exc:
        raise failure(str(exc), exc.file) from None
    return DesiredState(
        app=app.name,
        cluster=cluster.name,
        source=source.name,
        revision=revision,
        path=chart_dir,
        renderer=result.renderer,
        manifests=manifests,
        cache_hit=result.cache_hit,
    )


async def chart_upkeep(builder: DesiredStateBuilder) -> Upkeep:
    """Remove unpacked charts that neither a latest fetch nor a recent render wants."""
    from fleet.runtime.desired import Upkeep

    wanted = frozenset(
        tree for tree in builder.wanted_trees() if tree.startswith("sha256:") and len(tree) == 71
    )
    async with builder.prune_lock:
        removed = await to_thread.run_sync(builder.charts.store.prune, wanted)
    return Upkeep(Compaction(0, 0, ran=False), Pruned(leftovers=removed))
